"""promptfoo provider ids and `config` → driftgate model configs (litellm ids).

openai:gpt-4.1             → openai/gpt-4.1
openai:chat:gpt-4o-mini    → openai/gpt-4o-mini
anthropic:messages:claude… → anthropic/claude…
ollama:chat:llama3         → ollama_chat/llama3      (ollama:llama3 → ollama/llama3)
sim/acme@v1, local/…       → unchanged (driftgate's own ids; so is any `a/b` litellm id)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .promptfoo_asserts import Where

# promptfoo prefix → (litellm prefix, the API-kind segments promptfoo allows after it)
_PREFIXES: dict[str, tuple[str, tuple[str, ...]]] = {
    "openai": ("openai", ("chat", "responses")),
    "anthropic": ("anthropic", ("messages",)),
    "azure": ("azure", ("chat",)),
    "azureopenai": ("azure", ("chat",)),
    "google": ("gemini", ()),
    "vertex": ("vertex_ai", ()),
    "mistral": ("mistral", ("chat",)),
    "groq": ("groq", ()),
    "bedrock": ("bedrock", ()),
    "openrouter": ("openrouter", ()),
    "deepseek": ("deepseek", ()),
    "togetherai": ("together_ai", ()),
    "perplexity": ("perplexity", ()),
    "xai": ("xai", ()),
}
# config keys → model params (sent with every request)
_PARAMS = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "response_format": "response_format",
}
_CONFIG = {
    "apiBaseUrl": "api_base",
    "apiHost": "api_base",
    "baseUrl": "api_base",
    "apiKeyEnvar": "api_key_env",
}
_ALT = "an id such as openai:gpt-4o-mini, anthropic:messages:MODEL, ollama:chat:MODEL, sim/NAME@VERSION"


def model_id(raw: str, where: Where) -> str:
    """A promptfoo provider id as a driftgate / litellm model id."""
    if ":" not in raw or raw.startswith(("sim/", "local/", "replay/")):
        if "/" in raw:
            return raw
        raise where.error(f"provider {raw!r} is not supported", hint=f"use {_ALT}")
    if raw.startswith(("file://", "http:", "https:", "exec:", "python:", "echo", "webhook:")):
        raise where.error(
            f"provider {raw!r} is not supported (custom and scripted providers do not carry over)",
            hint=f"use {_ALT}; recorded outputs run as replay/FILE.jsonl",
        )
    prefix, _, rest = raw.partition(":")
    if prefix == "ollama":
        kind, _, model = rest.partition(":")
        if kind in ("chat", "completion") and model:
            return f"ollama_chat/{model}" if kind == "chat" else f"ollama/{model}"
        return f"ollama/{rest}"
    if prefix not in _PREFIXES:
        raise where.error(f"provider prefix {prefix!r} is not supported", hint=f"use {_ALT}")
    target, kinds = _PREFIXES[prefix]
    kind, sep, model = rest.partition(":")
    if sep and kind in kinds:
        rest = model
    elif (
        sep and prefix == "openai" and kind in ("completion", "embedding", "assistant", "realtime")
    ):
        raise where.error(
            f"provider {raw!r}: the {kind} API is not supported, chat models only",
            hint="use openai:chat:MODEL",
        )
    return f"{target}/{rest}"


def translate_provider(raw: Any, where: Where) -> dict[str, Any]:
    """One entry of `providers:` as a ModelConfig mapping."""
    if isinstance(raw, str):
        return {"id": model_id(raw, where)}
    if isinstance(raw, dict) and len(raw) == 1 and "id" not in raw:
        ((pid, body),) = raw.items()  # the `{openai:gpt-4o: {config: …}}` form
        body = body if isinstance(body, dict) else {}
        raw = {"id": pid, **body}
        where = where.at(pid)
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise where.error("a provider must be an id or a mapping with `id`")
    out: dict[str, Any] = {"id": model_id(raw["id"], where.at("id"))}
    for key, value in raw.items():
        if key == "id":
            continue
        if key == "label":
            out["label"] = str(value)
        elif key == "config":
            _config(value, out, where.at("config"))
        elif key == "prompts":  # the prompts it runs (`promptfoo_prompts.provider_prompts`)
            wanted = [value] if isinstance(value, str) else value
            if (
                not isinstance(wanted, list)
                or not wanted
                or not all(isinstance(w, str) for w in wanted)
            ):
                raise where.error(
                    "a provider's `prompts` must be a list of prompt labels or ids", key=key
                )
            out["_prompts"] = wanted
        else:
            raise where.error(
                f"provider key {key!r} is not supported",
                key=key,
                hint="keys read: id, label, config, prompts",
            )
    return out


def _config(config: Any, out: dict[str, Any], where: Where) -> None:
    if not isinstance(config, dict):
        raise where.error("a provider's `config` must be a mapping")
    params: dict[str, Any] = {}
    for key, value in config.items():
        if key in _PARAMS:
            params[_PARAMS[key]] = value
        elif key in _CONFIG:
            out[_CONFIG[key]] = value
        elif key in ("tools", "tool_choice"):
            out.setdefault("_tools", {})[key] = value  # the prompts' (`provider_tools`)
        elif key == "apiKey":
            raise where.error(
                "`apiKey` in a config file is not supported: driftgate never stores keys",
                key=key,
                hint="export the key (OPENAI_API_KEY, ANTHROPIC_API_KEY…), or name its "
                "variable with `apiKeyEnvar`",
            )
        else:
            raise where.error(
                f"provider config key {key!r} is not supported",
                key=key,
                hint="supported: "
                + ", ".join(sorted({*_PARAMS, *_CONFIG, "tools", "tool_choice"})),
            )
    if params:
        out["params"] = params


def provider_tools(models: list[dict[str, Any]], where: Where, base: Path) -> dict[str, Any]:
    """The providers' `config.tools` and `tool_choice`, taken out of their model mappings, as
    every prompt's (tools belong to the prompt in driftgate): one set, which providers that
    declare tools must share; `tools: file://x.json` (or .yaml) is read."""
    found = [(i, m.pop("_tools")) for i, m in enumerate(models) if "_tools" in m]
    if not found:
        return {}
    first_i, first = found[0]
    for i, other in found[1:]:
        if other != first:
            raise where.at(i, "config").error(
                f"providers {first_i} and {i} declare different tools",
                key="tools",
                hint="driftgate's tools belong to the prompt: one config per set of tools",
            )
    out = dict(first)
    ref = out.get("tools")
    if isinstance(ref, str) and ref.startswith("file://"):
        from .._files import load_data

        path = base / ref[len("file://") :]
        if not path.is_file():
            raise where.at(first_i, "config").error(f"tools file {ref!r} not found", key="tools")
        out["tools"] = load_data(path)
    return out


def judge_model(raw: Any, where: Where) -> str:
    """A grading `provider` (an id, or a mapping with `id`) as the judge's model id."""
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        if set(raw) - {"id"}:
            raise where.error(
                "a grading provider's config is not supported, only its `id`",
                hint="set the judge's params through the model id's defaults",
            )
        raw = raw["id"]
    if not isinstance(raw, str):
        raise where.error("a grading `provider` must be a provider id")
    return model_id(raw, where)
