"""What the stage actors work with, built once per worker process from the environment.

Tests install their own set (a generator that fails its first answer, a fake runtime) with
`install()`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import dramatiq

from actors.broker import KilnRedisBroker
from actors.generators.base import Generator
from actors.sandbox.base import SandboxRuntime
from actors.sandbox.registry import SandboxRegistry
from domain.capacity import Capacity
from domain.handoff import HandOff
from domain.hosts import Hosts
from domain.redis_client import connect_bounded
from domain.settings import Settings
from domain.store import JobStore


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: JobStore
    capacity: Capacity
    runtime: SandboxRuntime
    generator: Generator
    broker: KilnRedisBroker
    registry: SandboxRegistry
    handoff: HandOff
    hosts: Hosts


_current: Services | None = None
_lock = threading.Lock()


def build(settings: Settings, broker: KilnRedisBroker) -> Services:
    from actors.generators import get_generator
    from actors.sandbox import get_runtime

    client = connect_bounded(settings.redis_url, max_connections=256)
    store = JobStore(client, prefix=settings.redis_prefix,
                     stage_deadline_s=settings.stage_deadline_s, lease_s=settings.lease_s)
    capacity = Capacity(store, global_cap=settings.global_sandbox_cap,
                        queue_cap=settings.queue_cap)
    registry = SandboxRegistry(client, settings.redis_prefix)
    return Services(settings, store, capacity, get_runtime(settings, client),
                    get_generator(settings), broker, registry, HandOff(store, registry.key),
                    Hosts(store))


def services() -> Services:
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = build(Settings.from_env(), dramatiq.get_broker())
    return _current


def install(svc: Services | None) -> None:
    """Use `svc` from now on; None: build from the environment again on next use."""
    global _current
    with _lock:
        _current = svc
