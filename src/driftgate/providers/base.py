"""The provider interface: one async call from chat messages to a completion.

Every backend (litellm, the fast OpenAI-compatible HTTP client, the simulator, the local
model, replay) implements `Provider.complete`. Retries, caching and concurrency limits live
outside the adapters (`providers/retry.py`, `providers/cache.py`, the engine), so an adapter
is one small file.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, field_validator

from .._strict import Strict

# Defined in driftgate.errors (one error tree); re-exported so the old names keep working.
from ..errors import RETRYABLE as RETRYABLE
from ..errors import ErrorKind as ErrorKind
from ..errors import ProviderError as ProviderError


class ModelConfig(Strict):
    """One model of a suite. A bare string in a suite file means `{id: STRING}`."""

    id: str = Field(
        description="litellm model id, `sim/NAME@VERSION`, `local/NAME` or `replay/...`"
    )
    label: str | None = Field(None, description="Display name in reports; defaults to id.")
    api_base: str | None = Field(
        None, description="Base URL of an OpenAI-compatible API: http(s)://HOST[:PORT][/PATH]."
    )
    api_key_env: str | None = Field(None, description="Environment variable holding the API key.")
    client: Literal["auto", "litellm", "http"] = Field(
        "auto",
        description="`http` = driftgate's own OpenAI-compatible client (fast path); "
        "`litellm` = always through litellm; `auto` = http when api_base is set and the "
        "model is OpenAI-compatible, litellm otherwise.",
    )
    concurrency: int = Field(32, ge=1, le=4096, description="Calls in flight to this model.")
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)
    params: dict[str, Any] = Field(default_factory=dict, description="Overrides prompt params.")
    prompts: list[str] | None = Field(
        None,
        min_length=1,
        description="Only these prompts (names) run on this model in a suite; default: every "
        "prompt (promptfoo's provider `prompts:`).",
    )

    @field_validator("api_base")
    @classmethod
    def _api_base_is_a_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(v)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:  # a bad port or bracketed host
            port_ok = False
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
            raise ValueError(
                f"api_base must be an http(s) URL with a host, such as "
                f"http://localhost:8000/v1; got {v!r}"
            )
        return v

    @property
    def name(self) -> str:
        return self.label or self.id


@dataclass(slots=True)
class CaseHint:
    """What a simulator may know about the case (never sent to a real provider)."""

    id: str
    expected: Any = None
    segment: str | None = None
    labels: list[str] | None = None
    output_type: str = "text"
    repeat: int = 0


# The header that carries a case's ground truth to a simulator server: sent only to `sim/`
# models (a real provider never sees the expected answer).
SIM_HEADER = "X-Driftgate-Case"


def case_header(hint: CaseHint) -> str:
    """The `X-Driftgate-Case` header value (ASCII JSON) that carries ground truth to a server."""
    return json.dumps(
        {
            "id": hint.id,
            "expected": hint.expected,
            "segment": hint.segment,
            "labels": hint.labels,
            "output_type": hint.output_type,
            "repeat": hint.repeat,
        },
        ensure_ascii=True,
        separators=(",", ":"),
        default=str,
    )


def parse_case_header(value: str) -> CaseHint:
    """Inverse of `case_header`; raises ValueError on a malformed header."""
    data = json.loads(value)
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ValueError("the case header must be a JSON object with a string 'id'")
    labels = data.get("labels")
    return CaseHint(
        id=data["id"],
        expected=data.get("expected"),
        segment=data.get("segment"),
        labels=[str(x) for x in labels] if isinstance(labels, list) else None,
        output_type=str(data.get("output_type") or "text"),
        repeat=int(data.get("repeat") or 0),
    )


@dataclass(slots=True)
class CompletionRequest:
    model: str
    # {role, content} messages; a conversation's may hold tool calls (`_tools.history_message`).
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    response_format: dict[str, Any] | None = None
    case: CaseHint | None = None
    timeout_s: float = 60.0
    # The prompt's label set when its output is a label (`output: {type: label}`): not a
    # secret, so every provider may use it (the local model scores each label; a classifier
    # restricts its vote to them).
    labels: list[str] | None = None
    # OpenAI function tools the model may call, and its `tool_choice` (None: no tools).
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None

    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.tools or ()]


@dataclass(slots=True)
class Completion:
    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = 0.0  # None: not known (a recorded answer without it)
    model: str | None = None  # the model the provider says answered
    fingerprint: str | None = None  # provider's system_fingerprint / model version
    finish_reason: str | None = None
    cached: bool = False
    # Normalized probabilities over the request's labels (sum 1), when the provider can tell:
    # label scoring on the local model, a classifier's vote, an API's logprobs.
    label_probs: dict[str, float] | None = None
    # The calls the model made instead of (or beside) text: [{id, name, arguments}], arguments
    # the JSON text it wrote (`_tools.normalize_calls`); None when it made none.
    tool_calls: list[dict[str, str]] | None = None
    # Each answer token's log-probability, when the request asked (`params: {logprobs:
    # true}`) and the provider returned them: what `perplexity` scores. None: not given.
    token_logprobs: list[float] | None = None

    @property
    def confidence(self) -> float | None:
        """The probability of the answer given (None when unknown or the answer is no label)."""
        if not self.label_probs:
            return None
        answer = self.text.strip().lower()
        return next((p for label, p in self.label_probs.items() if label.lower() == answer), None)


def refuse_tools(request: CompletionRequest, who: str) -> None:
    """A provider that cannot call tools (the local model, the classifier) refuses a request
    that offers some: answering in text instead would fail every tool scorer for a reason
    the results never show. `tool_choice: none` asks for text, so it is served."""
    if request.tools and request.tool_choice != "none":
        names = ", ".join(request.tool_names())
        raise ProviderError(
            "bad_request",
            f"{who} cannot call tools; the request offers {names}: run tool cases on a hosted "
            "model, an OpenAI-compatible server or the simulator, or set `tool_choice: none`",
        )


class Provider(ABC):
    """An adapter to one backend. Instances are created per model config and reused."""

    # False for providers whose answers are not a function of the request alone (replay:
    # the recorded file can change), so the engine never serves them from the cache.
    cacheable: bool = True

    def __init__(self, config: ModelConfig) -> None:
        self.config = config

    @abstractmethod
    async def complete(self, request: CompletionRequest) -> Completion:
        """Return one completion or raise ProviderError."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once when a run ends."""
