"""Provider factories by model-id prefix: the built-ins (imported lazily, by name) and those
registered at run time by plugins (`driftgate.providers` entry points, see driftgate.plugins).

Here, below both `providers/__init__.py` (which builds a provider from a config) and the
adapters that list the known prefixes in their errors (litellm_provider), so neither imports
the other.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import ModelConfig, Provider

# factory(config) -> Provider; adapters that read files also take `workspace=` (replay).
ProviderFactory = Callable[..., Provider]
_FACTORIES: dict[str, str | ProviderFactory] = {
    # prefix → "module:factory" (imported lazily so `driftgate --help` never pays for
    # litellm or torch) or a factory registered at run time.
    "sim": "driftgate.providers.simulator:SimProvider",
    "local": "driftgate.providers.factories:local_provider",
    "replay": "driftgate.providers.replay:ReplayProvider",
}


def local_provider(config: ModelConfig) -> Provider:
    """`local/knn` → the embedding classifier (providers/knn.py); any other `local/NAME` →
    the embedded LLM (providers/local.py). Each imported only when used."""
    name = config.id.partition("/")[2].split("?", 1)[0]
    if name == "knn":
        from .knn import KnnProvider

        return KnnProvider(config)
    from .local import LocalProvider

    return LocalProvider(config)


def register_provider(prefix: str, factory: str | ProviderFactory) -> None:
    """Register a provider for model ids starting with `PREFIX/` (plugins call this when
    their `driftgate.providers` entry point loads; see driftgate.plugins)."""
    _FACTORIES[prefix] = factory


def provider_prefixes() -> list[str]:
    from ..plugins import load_plugins

    load_plugins("driftgate.providers", on_error="warn")
    return sorted(_FACTORIES)


def load_factory(factory: str | ProviderFactory) -> ProviderFactory:
    """The factory itself, importing a "module:attr" one on first use."""
    if callable(factory):
        return factory
    import importlib

    module, _, attr = factory.partition(":")
    return getattr(importlib.import_module(module), attr)
