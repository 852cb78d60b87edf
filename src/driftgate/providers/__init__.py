"""Provider adapters behind one interface, chosen by the model id's prefix.

`sim/...` → the simulator, `local/...` → the embedded local model (`local/knn`: the
embedding classifier, providers/knn.py), `replay/...` → recorded outputs; anything else
goes to litellm, or to the fast OpenAI-compatible HTTP client when an `api_base` is given
or `OPENAI_BASE_URL` / `OPENAI_API_BASE` is set for an OpenAI-compatible id (see
`ModelConfig.client`).
"""

from __future__ import annotations

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
from .factories import (
    _FACTORIES,
    ProviderFactory,
    load_factory,
    provider_prefixes,
    register_provider,
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
    "ProviderFactory",
    "create_provider",
    "register_provider",
    "provider_prefixes",
]


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
        factory = load_factory(_FACTORIES[prefix])
        if workspace is not None and _takes_workspace(factory):
            return factory(config, workspace=workspace)
        return factory(config)
    if not sep and config.id in _FACTORIES:
        raise UnknownNameError("model", config.id, [f"{p}/NAME" for p in _FACTORIES])
    if config.client == "auto" and not config.api_base and _openai_by_name(config.id):
        config = _with_environment_base(config)
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


def _with_environment_base(config: ModelConfig) -> ModelConfig:
    """Take the OpenAI SDK's own variables for a base URL and its key, as litellm does.

    A gateway or a suite naming `openai/...` with `OPENAI_BASE_URL` (or litellm's
    `OPENAI_API_BASE`) set then goes through the fast HTTP client instead of litellm, which
    costs about 30 ms a call (bench/gateway.py). The key set beside that base goes with it:
    the user paired them, exactly as the OpenAI SDK pairs them.
    """
    import os

    base = os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE")
    if not base:
        return config
    update: dict[str, str] = {"api_base": base}
    if config.api_key_env is None and os.environ.get("OPENAI_API_KEY"):
        update["api_key_env"] = "OPENAI_API_KEY"
    return config.model_copy(update=update)


def _openai_by_name(model_id: str) -> bool:
    """An id litellm itself would send to OpenAI's endpoint (so to `OPENAI_BASE_URL`).

    Narrower than `_openai_compatible`: a bare `claude-...` goes to Anthropic in litellm.
    """
    prefix, sep, rest = model_id.partition("/")
    if sep:
        return prefix == "openai"
    return model_id.startswith(("gpt-", "chatgpt-", "ft:gpt-")) or (
        len(model_id) > 1 and model_id[0] == "o" and model_id[1].isdigit()
    )


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
