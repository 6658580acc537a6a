"""Code generators behind one interface (`base.Generator`): `get_generator(settings)` picks the
configured one (`KILN_GENERATOR=template|anthropic`)."""

from __future__ import annotations

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
    raise ValueError(f"unknown generator {settings.generator!r} (expected template or anthropic)")
