"""The litellm adapter: the door to every hosted provider (OpenAI, Anthropic, Bedrock,
Vertex, Azure, Ollama, vLLM…), with driftgate's own error kinds and no retries of its own.

litellm is imported lazily, inside the adapter, with `LITELLM_LOCAL_MODEL_COST_MAP=True`
set first: otherwise its import fetches a price table from the network (three slow failed
attempts here) and every CLI command would pay its import (`import_litellm_s`,
bench/import_costs.py). litellm costs many times `http.py`'s CPU per call (`client_cpu_ms` in
docs/architecture.md, Measured figures), so OpenAI-compatible endpoints with an
api_base take the fast client by default (`ModelConfig.client`).

Keys come from the environment only. They are passed to litellm per call and never
logged, stored or shown in `repr`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

from .._tools import normalize_calls
from ..errors import MissingCredentialError, UnknownNameError
from ._labels import label_probs_of, request_logprobs, token_logprobs_of
from .base import (
    SIM_HEADER,
    Completion,
    CompletionRequest,
    ModelConfig,
    Provider,
    ProviderError,
    case_header,
)

# A placeholder key for keyless OpenAI-compatible servers (vLLM, llama.cpp, the simulator):
# the openai SDK under litellm refuses to run without some key.
_PLACEHOLDER_KEY = "sk-driftgate-no-key"
_COMPATIBLE = {"openai", "hosted_vllm", "vllm", "lm_studio", "llamafile", "text-completion-openai"}


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    if not getattr(litellm, "_driftgate_quiet", False):
        # litellm prints "Give Feedback / Get Help" banners and debug lines on failures;
        # a harness reports errors itself.
        litellm.suppress_debug_info = True
        litellm.set_verbose = False
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx"):
            logging.getLogger(name).setLevel(logging.ERROR)
        litellm._driftgate_quiet = True
    return litellm


def _served_name(model: str) -> str:
    prefix, sep, rest = model.partition("/")
    return rest if sep and prefix in _COMPATIBLE else model


def _check_known(config: ModelConfig, litellm: Any) -> None:
    """An unknown provider prefix is bad input, found before any call, with close names."""
    if config.api_base:
        return  # a custom endpoint may serve any model name
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            litellm.get_llm_provider(model=config.id)
            return
        except Exception:  # noqa: BLE001 - litellm raises its BadRequestError here
            pass
    from .factories import provider_prefixes

    providers = [str(getattr(p, "value", p)) for p in getattr(litellm, "provider_list", [])]
    prefix = config.id.partition("/")[0] if "/" in config.id else config.id
    raise UnknownNameError(
        "provider" if "/" in config.id else "model",
        prefix,
        sorted(set(providers) | set(provider_prefixes())),
    )


def _resolve_key(config: ModelConfig, litellm: Any) -> str | None:
    """The key to pass to litellm, or None to let litellm read its usual variables."""
    if config.api_key_env:
        key = os.environ.get(config.api_key_env)
        if not key:
            raise MissingCredentialError(
                f"model {config.name}: environment variable {config.api_key_env} is not set",
                hint=f"export {config.api_key_env}=... (api_key_env of this model)",
            )
        from .http import Secret

        return Secret(key)
    prefix = config.id.partition("/")[0]
    compatible = prefix in _COMPATIBLE or "/" not in config.id
    if config.api_base and compatible and urlsplit(config.api_base).hostname != "api.openai.com":
        # A self-hosted OpenAI-compatible server: never hand it the user's OPENAI_API_KEY
        # (the http client follows the same rule); api_key_env names a key when one is needed.
        return _PLACEHOLDER_KEY
    # validate_environment prints a provider list to stdout for unknown prefixes.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            env = litellm.validate_environment(model=config.id, api_base=config.api_base)
        except Exception:  # noqa: BLE001 - an unknown provider fails on the call, clearly
            return None
    missing = [k for k in env.get("missing_keys") or [] if k]
    if env.get("keys_in_environment") or not missing:
        return None
    raise MissingCredentialError(
        f"model {config.name}: missing environment variable(s) {', '.join(missing)}",
        hint=f"export {missing[0]}=..., or set api_key_env on the model",
    )


_PREFIX = re.compile(r"^(?:litellm\.)?(?:\w*(?:Error|Exception|Timeout)\s*[:-]\s*)+")


def _clean_message(message: str) -> str:
    """`litellm.RateLimitError: RateLimitError: OpenAIException - msg` → `msg`."""
    return _PREFIX.sub("", message.strip())[:500] or message[:500]


def _connection_failure(exc: BaseException) -> str | None:
    """`Type: reason` of the innermost cause when `exc` is a connection that never got an
    answer (refused, unresolved, reset), else None. Timeouts are left to their own kind."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        # `raise … from` links the wrapped failure; an implicit context may be an older,
        # unrelated one (litellm's own failed price-list fetch), so it is followed only last.
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    names = {type(c).__name__ for c in chain}
    if any("Timeout" in n for n in names):
        return None
    if not (
        names & {"APIConnectionError", "ConnectError"} or any(isinstance(c, OSError) for c in chain)
    ):
        return None
    # The first built-in OSError is the reason itself (refused, unresolved); what precedes it
    # are wrappers, what follows it an unrelated earlier failure it happened during.
    builtin = [
        c for c in chain if isinstance(c, OSError) and type(c).__module__ in ("builtins", "socket")
    ]
    root = builtin[0] if builtin else chain[-1]
    reason = f"{type(root).__name__}: {root}" if str(root) else type(root).__name__
    hosts = [c for c in chain if isinstance(getattr(c, "host", None), str)]
    if hosts:
        reason = f"{hosts[0].host}:{getattr(hosts[0], 'port', '')} ({reason})"  # type: ignore[attr-defined]
    return reason


def classify_exception(exc: Exception) -> ProviderError:
    """Map a litellm (or openai SDK) exception to a ProviderError kind."""
    import litellm.exceptions as le

    from .http import parse_retry_after

    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    message = _clean_message(str(getattr(exc, "message", None) or exc))
    checks: list[tuple[tuple[str, ...], str]] = [
        (("RateLimitError",), "rate_limit"),
        (("Timeout", "APITimeoutError"), "timeout"),
        (("AuthenticationError", "PermissionDeniedError"), "auth"),
        (("APIResponseValidationError", "JSONSchemaValidationError"), "bad_response"),
        (
            (
                "InternalServerError",
                "ServiceUnavailableError",
                "BadGatewayError",
                "APIConnectionError",
            ),
            "server",
        ),
        (
            (
                "ContextWindowExceededError",
                "ContentPolicyViolationError",
                "BadRequestError",
                "NotFoundError",
                "UnprocessableEntityError",
                "UnsupportedParamsError",
            ),
            "bad_request",
        ),
    ]
    refused = _connection_failure(exc)
    if refused is not None:
        # litellm reports a failed connection as InternalServerError 500: no server answered.
        return ProviderError("server", f"connection failed: {refused}")
    kind = None
    if "Empty or invalid response" in message:
        kind = "bad_response"  # litellm reports an unparseable 200 body as a 500
    for names, k in checks:
        if kind is not None:
            break
        classes = tuple(c for c in (getattr(le, n, None) for n in names) if isinstance(c, type))
        if classes and isinstance(exc, classes):
            kind = k
            break
    if kind is None:
        if status == 429:
            kind = "rate_limit"
        elif status in (401, 403):
            kind = "auth"
        elif status is not None and status >= 500:
            kind = "server"
        elif status is not None and status >= 400:
            kind = "bad_request"
        elif isinstance(exc, (ValueError, KeyError, TypeError)):
            kind = "bad_response"  # the SDK could not make sense of the body
        else:
            kind = "other"
    retry_after = None
    if kind in ("rate_limit", "server"):
        response = getattr(exc, "response", None)
        headers = getattr(exc, "litellm_response_headers", None) or getattr(
            response, "headers", None
        )
        try:
            retry_after = parse_retry_after(headers)
        except Exception:  # noqa: BLE001 - a malformed header only loses the hint
            retry_after = None
    return ProviderError(kind, message, status=status, retry_after=retry_after)  # type: ignore[arg-type]


class LiteLLMProvider(Provider):
    """Any litellm model id; `api_base` / `api_key_env` / `params` from the model config."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self._litellm = _litellm()
        _check_known(config, self._litellm)
        self.__key = _resolve_key(config, self._litellm)
        self._sim = _served_name(config.id).startswith("sim/")

    def __repr__(self) -> str:
        return f"LiteLLMProvider(model={self.config.id!r})"

    async def complete(self, request: CompletionRequest) -> Completion:
        litellm = self._litellm
        kwargs: dict[str, Any] = {**self.config.params, **request.params}
        if request.response_format is not None:
            kwargs["response_format"] = request.response_format
        if request.tools:
            kwargs["tools"] = request.tools
        if request.tool_choice is not None:
            kwargs["tool_choice"] = request.tool_choice
        # Opt-in only (`params: {logprobs: true}`): some providers reject the parameter.
        labels = request_logprobs(kwargs, request.labels)
        if self.config.api_base:
            kwargs["api_base"] = self.config.api_base
        if self.__key is not None:
            kwargs["api_key"] = self.__key
        if self._sim and request.case is not None:
            kwargs["extra_headers"] = {SIM_HEADER: case_header(request.case)}
        start = time.perf_counter()
        try:
            resp = await litellm.acompletion(
                model=self.config.id,
                messages=request.messages,
                timeout=request.timeout_s,
                num_retries=0,
                **kwargs,
            )
        except ProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a classified ProviderError
            raise classify_exception(exc) from None
        latency_ms = (time.perf_counter() - start) * 1000.0
        return self._completion(resp, latency_ms, labels)

    def _completion(self, resp: Any, latency_ms: float, labels: list[str] | None) -> Completion:
        try:
            choice = resp.choices[0]
            text = choice.message.content
        except (AttributeError, IndexError, TypeError):
            raise ProviderError("bad_response", "litellm returned no choices", status=200) from None
        try:
            calls = normalize_calls(getattr(choice.message, "tool_calls", None))
        except ValueError as exc:
            raise ProviderError(
                "bad_response", f"malformed tool calls: {exc}", status=200
            ) from None
        usage = getattr(resp, "usage", None)
        cost: float | None
        try:
            cost = float(self._litellm.completion_cost(completion_response=resp))
        except Exception:  # noqa: BLE001 - unknown price (self-hosted, new model): no cost
            cost = None
        if not cost:
            reported = getattr(usage, "cost", None)  # OpenRouter and the simulator report it
            cost = float(reported) if isinstance(reported, (int, float)) else cost
        return Completion(
            text=text if isinstance(text, str) else "",
            input_tokens=getattr(usage, "prompt_tokens", None),
            output_tokens=getattr(usage, "completion_tokens", None),
            cost_usd=cost,
            latency_ms=latency_ms,
            model=getattr(resp, "model", None),
            fingerprint=getattr(resp, "system_fingerprint", None),
            finish_reason=getattr(choice, "finish_reason", None),
            label_probs=label_probs_of(getattr(choice, "logprobs", None), labels),
            tool_calls=calls,
            token_logprobs=token_logprobs_of(getattr(choice, "logprobs", None)),
        )
