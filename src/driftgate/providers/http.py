"""The fast path: driftgate's own OpenAI-compatible chat client on one aiohttp session.

litellm and the openai SDK spend ~20 and ~35 times a bare aiohttp client's CPU per call
(`client_cpu_ms` in docs/architecture.md, Measured figures), so a harness whose hot path is litellm is CPU-bound
at a few hundred calls/s per process. This client
keeps per-call work to one `json.dumps`, one `json.loads` and a few dict lookups: no
pydantic, no per-call session, headers built once.

Failures are classified into ProviderError kinds for the retry policy: 429 → rate_limit
(with Retry-After), 5xx / connection failures → server, client-side timeout → timeout,
non-JSON or choice-less bodies → bad_response, 401/403 → auth, other 4xx → bad_request.

Label probabilities: when the prompt's output is a label set and the model opts in with
`params: {logprobs: true}` (never by default: some servers reject the parameter), the
request asks for the first tokens' `top_logprobs` too, and `label_probs` maps the first
answer token's alternatives onto the labels (`_labels.probs_from_top_logprobs`).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._redact import remember_secret
from .._tools import normalize_calls
from ..errors import ConfigError, MissingCredentialError
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

# Imported on first use: a fully cached run never pays for it (`import_aiohttp_s`).
if TYPE_CHECKING:
    import aiohttp

# litellm-style provider prefixes that name an OpenAI-compatible server; the rest of the id
# is the model name that server knows.
_COMPATIBLE_PREFIXES = ("openai/", "hosted_vllm/", "vllm/", "lm_studio/", "llamafile/")


class Secret(str):
    """A str that never shows itself in a repr (tracebacks, debug dumps of objects), and
    is remembered as a known secret: its value is masked in whatever driftgate stores
    (`_redact.redact_text`, applied to every provider answer and error in `retry.py`)."""

    __slots__ = ()

    def __new__(cls, value: str) -> Secret:
        remember_secret(value)
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return "'***'"


def served_model_name(model_id: str) -> str:
    """`openai/sim/acme@v1` → `sim/acme@v1`: the name the server itself sees."""
    for prefix in _COMPATIBLE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix) :]
    return model_id


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` (seconds or an HTTP date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms") or headers.get("Retry-After-Ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_status(
    status: int, body: bytes | str, headers: Mapping[str, str] | None
) -> ProviderError:
    """The ProviderError for a non-200 HTTP answer (message from the body, never headers)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    message = _error_message(text) or f"HTTP {status}"
    if status == 429:
        return ProviderError(
            "rate_limit", message, status=status, retry_after=parse_retry_after(headers)
        )
    if status in (401, 403):
        return ProviderError("auth", message, status=status)
    if status == 408:
        return ProviderError("timeout", message, status=status)
    if status >= 500:
        return ProviderError(
            "server", message, status=status, retry_after=parse_retry_after(headers)
        )
    if status >= 400:
        return ProviderError("bad_request", message, status=status)
    return ProviderError("bad_response", f"unexpected HTTP {status}: {message}", status=status)


def _error_message(text: str) -> str:
    try:
        data = json.loads(text)
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
    except ValueError:
        pass
    return " ".join(text.split())[:200]


def resolve_api_key(config: ModelConfig) -> str | None:
    """The API key for an OpenAI-compatible endpoint; None when it needs none."""
    if config.api_key_env:
        key = os.environ.get(config.api_key_env)
        if not key:
            raise MissingCredentialError(
                f"model {config.name}: environment variable {config.api_key_env} is not set",
                hint=f"export {config.api_key_env}=... (api_key_env of this model)",
            )
        return Secret(key)
    host = urlsplit(config.api_base or "").hostname or ""
    if host == "api.openai.com":
        # Never send a user's OpenAI key to an arbitrary api_base; only to OpenAI itself.
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            raise MissingCredentialError(
                f"model {config.name}: environment variable OPENAI_API_KEY is not set",
                hint="export OPENAI_API_KEY=..., or set api_key_env on the model",
            )
        return Secret(key)
    return None


class OpenAICompatibleProvider(Provider):
    """POST `{api_base}/chat/completions` with one shared keep-alive session per provider."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        if not config.api_base:
            raise ConfigError(
                f"model {config.name}: the http client needs an api_base", field="api_base"
            )
        self._url = config.api_base.rstrip("/") + "/chat/completions"
        self._model = served_model_name(config.id)
        self._send_hint = self._model.startswith("sim/")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = resolve_api_key(config)
        if key:
            headers["Authorization"] = Secret(f"Bearer {key}")
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Plain http goes through the lean HTTP/1.1 client (`_http11.py`); https through aiohttp.
        parts = urlsplit(self._url)
        self._plain = parts.scheme == "http" and bool(parts.hostname)
        self._target = (parts.hostname or "", parts.port or 80, parts.path or "/")
        self._pool: Any = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def __repr__(self) -> str:  # never show headers: they hold the key
        return f"OpenAICompatibleProvider(model={self._model!r}, url={self._url!r})"

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # A session belongs to the loop it was made in; a new loop needs a new one.
            connector = aiohttp.TCPConnector(
                limit=self.config.concurrency,
                limit_per_host=0,
                keepalive_timeout=60,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self._headers, skip_auto_headers=("User-Agent",)
            )
            self._loop = loop
        return self._session

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        import aiohttp

        t = self._timeouts.get(seconds)
        if t is None:
            t = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return t

    async def complete(self, request: CompletionRequest) -> Completion:
        payload: dict[str, Any] = {"model": self._model, "messages": request.messages}
        if self.config.params:
            payload.update(self.config.params)
        if request.params:
            payload.update(request.params)
        if request.response_format is not None:
            payload["response_format"] = request.response_format
        if request.tools:
            payload["tools"] = request.tools
        if request.tool_choice is not None:
            payload["tool_choice"] = request.tool_choice
        labels = request_logprobs(payload, request.labels)
        headers = None
        if self._send_hint and request.case is not None:
            headers = {SIM_HEADER: case_header(request.case)}
        if self._plain:
            return await self._complete_plain(payload, headers, request.timeout_s, labels)
        import aiohttp

        session = self._get_session()
        start = time.perf_counter()
        try:
            async with session.post(
                self._url,
                data=json.dumps(payload).encode(),
                headers=headers,
                timeout=self._timeout(request.timeout_s),
            ) as resp:
                body = await resp.read()
                status = resp.status
                if status != 200:
                    raise classify_status(status, body, resp.headers)
        except TimeoutError:
            raise ProviderError("timeout", f"no answer within {request.timeout_s:g}s") from None
        except aiohttp.ClientPayloadError as exc:
            raise ProviderError("bad_response", f"truncated or malformed body: {exc}") from None
        except aiohttp.ClientResponseError as exc:
            raise ProviderError("bad_response", f"malformed HTTP response: {exc.message}") from None
        except aiohttp.ClientError as exc:
            raise ProviderError(
                "server", f"connection failed: {type(exc).__name__}: {exc}"
            ) from None
        latency_ms = (time.perf_counter() - start) * 1000.0
        return _parse_completion(body, latency_ms, labels)

    async def _complete_plain(
        self,
        payload: dict[str, Any],
        headers: dict[str, str] | None,
        timeout_s: float,
        labels: list[str] | None,
    ) -> Completion:
        from ._http11 import ConnectionPool, HTTPProtocolError, StaleConnectionError

        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool_loop is not loop:
            host, port, _ = self._target
            self._pool = ConnectionPool(
                host, port, default_headers={**self._headers, "User-Agent": "driftgate"}
            )
            self._pool_loop = loop
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                status, resp_headers, body = await self._pool.post(
                    self._target[2], json.dumps(payload).encode(), headers
                )
        except TimeoutError:
            raise ProviderError("timeout", f"no answer within {timeout_s:g}s") from None
        except HTTPProtocolError as exc:
            raise ProviderError("bad_response", f"malformed HTTP response: {exc}") from None
        except StaleConnectionError as exc:
            # Sent, so maybe processed: a counted retry, at once (the connection, not the
            # server, is the likely cause), within the retry policy's limits.
            raise ProviderError("server", f"connection failed: {exc}", retry_after=0.0) from None
        except OSError as exc:
            raise ProviderError(
                "server", f"connection failed: {type(exc).__name__}: {exc}"
            ) from None
        if status != 200:
            raise classify_status(status, body, resp_headers)
        return _parse_completion(body, (time.perf_counter() - start) * 1000.0, labels)

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._session is not None and not self._session.closed:
            try:
                await self._session.close()
            except RuntimeError:  # its loop is gone; nothing left to release
                pass
        self._session = None


def _parse_completion(body: bytes, latency_ms: float, labels: list[str] | None) -> Completion:
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        message = choice["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        snippet = " ".join(body[:120].decode("utf-8", "replace").split())
        raise ProviderError(
            "bad_response", f"not a chat completion: {snippet!r}", status=200
        ) from None
    text = message.get("content") if isinstance(message, dict) else None
    try:
        calls = normalize_calls(message.get("tool_calls")) if isinstance(message, dict) else None
    except ValueError as exc:
        raise ProviderError("bad_response", f"malformed tool calls: {exc}", status=200) from None
    usage = data.get("usage") or {}
    cost = usage.get("cost")  # OpenRouter and the simulator report it; OpenAI does not
    return Completion(
        text=text if isinstance(text, str) else "",
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
        cost_usd=float(cost) if isinstance(cost, (int, float)) else None,
        latency_ms=latency_ms,
        model=data.get("model"),
        fingerprint=data.get("system_fingerprint"),
        finish_reason=choice.get("finish_reason"),
        label_probs=label_probs_of(choice.get("logprobs"), labels),
        tool_calls=calls,
        token_logprobs=token_logprobs_of(choice.get("logprobs")),
    )
