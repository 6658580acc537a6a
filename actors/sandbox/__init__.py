"""Sandbox runtimes behind one interface (`base.Sandbox`, `base.SandboxRuntime`).

`get_runtime(settings, redis_client)` picks the configured one
(`KILN_SANDBOX=local|e2b|package.module:Class`); every runtime registers its sandboxes in Redis
(`registry.SandboxRegistry`) so any process can find and kill them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from domain.settings import Settings

from .base import MAX_OUTPUT, CommandResult, Sandbox, SandboxRuntime
from .registry import SandboxRecord, SandboxRegistry

if TYPE_CHECKING:
    import redis

__all__ = ["MAX_OUTPUT", "CommandResult", "Sandbox", "SandboxRecord", "SandboxRegistry",
           "SandboxRuntime", "get_runtime"]


def get_runtime(settings: Settings, redis_client: redis.Redis) -> SandboxRuntime:
    registry = SandboxRegistry(redis_client, settings.redis_prefix)
    if settings.sandbox == "local":
        from .local import LocalRuntime

        return LocalRuntime(settings.sandbox_root, registry, egress=settings.sandbox_egress)
    if settings.sandbox == "e2b":
        from .e2b import E2BRuntime

        return E2BRuntime(registry)
    if ":" in settings.sandbox:
        # "package.module:Class(settings, registry)": a runtime of the deployment's own.
        module_name, _, class_name = settings.sandbox.partition(":")
        return getattr(importlib.import_module(module_name), class_name)(settings, registry)
    raise ValueError(f"unknown sandbox runtime {settings.sandbox!r} (expected local or e2b)")
