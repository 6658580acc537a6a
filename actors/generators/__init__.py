"""Code generators behind one interface (`base.Generator`): `get_generator(settings)` picks the
configured one (`KILN_GENERATOR=template|anthropic|package.module:Class`)."""

from __future__ import annotations

import importlib

from domain.settings import Settings

from .base import Generator

__all__ = ["Generator", "get_generator"]


def get_generator(settings: Settings) -> Generator:
    if settings.generator == "template":
        from .template import TemplateGenerator

        return TemplateGenerator()
    if settings.generator == "anthropic":
        from .anthropic import AnthropicGenerator

        return AnthropicGenerator(model=settings.anthropic_model)
    if ":" in settings.generator:
        # "package.module:Class": a generator of the deployment's own (tests use this too).
        module_name, _, class_name = settings.generator.partition(":")
        return getattr(importlib.import_module(module_name), class_name)()
    raise ValueError(f"unknown generator {settings.generator!r} (expected template or anthropic)")
