"""Provider adapters behind one interface, chosen by the model id's prefix.

`sim/...` → the simulator, `local/...` → the embedded local model, `replay/...` → recorded
outputs; anything else goes to litellm, or to the fast OpenAI-compatible HTTP client when an
`api_base` is given (see `ModelConfig.client`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import UnknownNameError
from .base import (
    CaseHint,
    Completion,
    CompletionRequest,
    ModelConfig,
    Provider,
    ProviderError,
)

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = [
    "CaseHint",
    "Completion",
    "CompletionRequest",
    "ModelConfig",
    "Provider",
    "ProviderError",
    "create_provider",
    "register_provider",
    "provider_prefixes",
]

ProviderFactory = Callable[[ModelConfig], Provider]
_FACTORIES: dict[str, str | ProviderFactory] = {
    # prefix → "module:factory" (imported lazily so `driftgate --help` never pays for
    # litellm or torch) or a factory registered at run time.
    "sim": "driftgate.providers.simulator:SimProvider",
    "local": "driftgate.providers.local:LocalProvider",
    "replay": "driftgate.providers.replay:ReplayProvider",
}


def register_provider(prefix: str, factory: str | ProviderFactory) -> None:
    """Register a provider for model ids starting with `PREFIX/` (plugins call this when
    their `driftgate.providers` entry point loads; see driftgate.plugins)."""
    _FACTORIES[prefix] = factory


def provider_prefixes() -> list[str]:
    from ..plugins import load_plugins

    load_plugins("driftgate.providers", on_error="warn")
    return sorted(_FACTORIES)


def _load(factory: str | ProviderFactory) -> ProviderFactory:
    if callable(factory):
        return factory
    import importlib

    module, _, attr = factory.partition(":")
    return getattr(importlib.import_module(module), attr)


def create_provider(config: ModelConfig, *, workspace: Workspace | None = None) -> Provider:
    """Build the adapter for one model config.

    Adapters that read files (replay) take the workspace through a `workspace` keyword.
    """
    prefix, sep, _ = config.id.partition("/")
    if sep and prefix not in _FACTORIES:
        # Not built in: a plugin may register it (litellm ids pay one scan per process). A
        # broken plugin only warns here: the id may well be litellm's, which must still work.
        from ..plugins import load_plugins

        load_plugins("driftgate.providers", on_error="warn")
    if sep and prefix in _FACTORIES:
        factory = _load(_FACTORIES[prefix])
        if workspace is not None and _takes_workspace(factory):
            return factory(config, workspace=workspace)
        return factory(config)
    if not sep and config.id in _FACTORIES:
        raise UnknownNameError("model", config.id, [f"{p}/NAME" for p in _FACTORIES])
    if config.client == "http" or (
        config.client == "auto" and config.api_base and _openai_compatible(config.id)
    ):
        from .http import OpenAICompatibleProvider

        return OpenAICompatibleProvider(config)
    from .litellm_provider import LiteLLMProvider

    return LiteLLMProvider(config)


def _takes_workspace(factory: ProviderFactory) -> bool:
    import inspect

    try:
        return "workspace" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _openai_compatible(model_id: str) -> bool:
    prefix, sep, _ = model_id.partition("/")
    return not sep or prefix in {
        "openai",
        "hosted_vllm",
        "vllm",
        "lm_studio",
        "llamafile",
        "text-completion-openai",
    }
