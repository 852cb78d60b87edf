"""A deterministic simulated model with known ground truth: `sim/NAME@VERSION`.

Tests, drift-detection validation and benchmarks need a model whose behaviour is known
exactly: how accurate it is on each segment, how verbose, how often it breaks its output
format, fails, stalls or refuses, how slow and how expensive. Every decision is a hash of
(random stream, seed, case id, repeat), so a run is reproducible and two profiles sharing
a stream make the *same* decisions wherever their rates agree: `sim/acme@v2` differs from
`sim/acme@v1` only on the cases of the segment it got worse at, which is what a provider
regression looks like to a paired comparison.

Transient failures (errors, timeouts) also hash the attempt number, so a retry can succeed
while the answer itself never depends on how many attempts it took.

The simulated model reads its prompt. When the rendered messages hold labeled context that
*covers* the case (a few-shot example or a retrieved row labeled with the case's expected
answer that shares a distinctive word with the case's input: the same merchant, the same
layout; the exact definition is in `_sim_context.py`), the case's chance of a right answer p
becomes p + context_boost·(1 − p), per segment with `segment_context_boost`. A right answer
is still "u < p" for the case's one uniform u, so covering context only ever flips wrong
answers to right ones: two prompts on one profile, like two profiles on one stream, differ
exactly on the cases where their rates differ, and paired comparisons stay clean. A prompt
without covering context (zero-shot) is answered as if the boost did not exist.

Tools: when the request offers tools and the case's expected answer is a call of one of
them (`{name, arguments}`, a list of calls, or a bare tool name; `_tools.expected_calls`),
the answer is that call: right, or with one argument perturbed (a wrong answer), or with
arguments cut short (a format error); a refusal stays text.

Profiles are overridable per model id with query parameters
(`sim/acme@v1?accuracy=0.7&latency_ms=50`; dict values as JSON) and registrable from Python
with `register_profile`. `simulate()` is the pure core shared by `SimProvider` (in-process)
and the OpenAI-compatible server in `sim_server.py`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import struct
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from pydantic import Field, ValidationError

from .._strict import Strict
from .._tools import expected_calls
from ..errors import ConfigError, ErrorKind, UnknownNameError
from ..errors import SimError as SimError  # defined there (one error tree), re-exported
from ._sim_context import covers
from .base import SIM_HEADER as SIM_HEADER  # re-exported: the header lives with CaseHint
from .base import (
    CaseHint,
    Completion,
    CompletionRequest,
    ModelConfig,
    Provider,
)
from .base import case_header as case_header
from .base import parse_case_header as parse_case_header

REFUSAL = "I'm sorry, but I can't help with that request."
_FILLER = (
    "Based on the details provided in the request the most fitting answer here is clearly "
    "the following one which matches the pattern described and the examples seen before "
    "so I am fairly confident about this choice overall"
).split()
_OFF_LIST = ("unsure", "none of the above", "unknown", "n/a", "cannot determine")


class SimProfile(Strict):
    """How a simulated model behaves. Rates are probabilities per call in [0, 1]."""

    accuracy: float = Field(0.9, ge=0, le=1, description="Chance of the expected answer.")
    segment_accuracy: dict[str, float] = Field(
        default_factory=dict, description="Accuracy per case segment (overrides `accuracy`)."
    )
    verbosity: int = Field(0, ge=0, le=2000, description="Words of padding around the answer.")
    format_error_rate: float = Field(
        0.0, ge=0, le=1, description="json: broken JSON; label: an off-list answer; text: empty."
    )
    latency_ms: float = Field(0.0, ge=0)
    latency_jitter_ms: float = Field(0.0, ge=0, description="Uniform extra latency in [0, jitter).")
    error_rate: float = Field(0.0, ge=0, le=1, description="Transient 429 / 500 failures.")
    rate_limit_share: float = Field(0.5, ge=0, le=1, description="Share of errors that are 429s.")
    retry_after_s: float = Field(0.05, ge=0, description="Retry-After sent with 429s.")
    bad_response_rate: float = Field(0.0, ge=0, le=1, description="Garbage response bodies.")
    timeout_rate: float = Field(0.0, ge=0, le=1, description="Calls that stall until timeout.")
    refusal_rate: float = Field(0.0, ge=0, le=1)
    fail_attempts: int = Field(
        0, ge=0, le=20, description="The first N attempts of every case fail with `fail_kind`."
    )
    fail_kind: Literal["rate_limit", "server", "bad_response", "timeout"] = "server"
    cost_per_1k_tokens: float = Field(0.0, ge=0)
    fingerprint: str | None = Field(None, description="system_fingerprint; defaults to a hash.")
    stream: str | None = Field(
        None, description="Random stream; profiles sharing one agree where their rates agree."
    )
    seed: int = 0
    case_difficulty: float = Field(
        0.0,
        ge=0,
        le=5,
        description="Logit sd of a per-case difficulty shared by every profile and seed: hard "
        "cases are hard for all versions, so paired outcomes correlate as on real golden sets. "
        "0 = every case equally hard. The population accuracy stays `accuracy`.",
    )

    context_boost: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of the remaining error that covering context (few-shot examples or "
        "retrieved rows of the case's merchant or layout, with its label) removes: a covered "
        "case's accuracy p becomes p + context_boost·(1 − p). 0 = the prompt is ignored.",
    )
    segment_context_boost: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict, description="`context_boost` per case segment (overrides it)."
    )

    def accuracy_for(self, segment: str | None) -> float:
        if segment is not None and segment in self.segment_accuracy:
            return self.segment_accuracy[segment]
        return self.accuracy

    def context_boost_for(self, segment: str | None) -> float:
        if segment is not None and segment in self.segment_context_boost:
            return self.segment_context_boost[segment]
        return self.context_boost


_ACME: dict[str, Any] = {
    "context_boost": 0.6,
    "latency_ms": 25.0,
    "latency_jitter_ms": 10.0,
    "cost_per_1k_tokens": 0.002,
    "stream": "acme",
}


def _acme(**fields: Any) -> SimProfile:
    """An acme@ profile: the family's shared settings plus this version's own."""
    return SimProfile.model_validate({**_ACME, **fields})


_BUILTIN: dict[str, SimProfile] = {
    "acme@v1": _acme(accuracy=0.9, fingerprint="fp_acme_v1_0a1b"),
    "acme@v2": _acme(
        accuracy=0.9,
        segment_accuracy={"cohort=new-bank-format": 0.8},
        fingerprint="fp_acme_v2_7c3d",
    ),
    "acme@v3-verbose": _acme(accuracy=0.9, verbosity=20, fingerprint="fp_acme_v3_51e2"),
    "acme@v4-jsonbreak": _acme(accuracy=0.9, format_error_rate=0.05, fingerprint="fp_acme_v4_9f04"),
    "flaky@v1": SimProfile(
        accuracy=0.9,
        error_rate=0.2,
        latency_ms=5.0,
        cost_per_1k_tokens=0.001,
        fingerprint="fp_flaky_v1",
    ),
    "perfect@v1": SimProfile(accuracy=1.0, latency_ms=0.0, fingerprint="fp_perfect_v1"),
}
_PROFILES: dict[str, SimProfile] = dict(_BUILTIN)
# model id → (name@version, resolved profile, stream, fingerprint); the server resolves the
# same few ids thousands of times a second, so parse and validate each id once.
_RESOLVED: dict[str, tuple[str, SimProfile, str, str]] = {}


def _base_name(name: str) -> str:
    return name[4:] if name.startswith("sim/") else name


def register_profile(name_at_version: str, profile: SimProfile) -> None:
    """Add or replace a profile, e.g. `register_profile("acme@v5", SimProfile(...))`."""
    name = _base_name(name_at_version)
    base, at, version = name.partition("@")
    if not (base and at and version) or "?" in name or "/" in name:
        raise ConfigError(
            f"simulator profile names look like NAME@VERSION, got {name_at_version!r}", field="name"
        )
    _PROFILES[name] = profile
    _RESOLVED.clear()


def profiles() -> dict[str, SimProfile]:
    """Registered profiles by `NAME@VERSION` (without the `sim/` prefix)."""
    return dict(_PROFILES)


def get_profile(model_id: str) -> SimProfile:
    """The profile of `sim/NAME@VERSION[?overrides]`, with its overrides applied."""
    return _resolve(model_id)[1]


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # plain strings (fingerprint=abc) need no quotes


def _resolve(model_id: str) -> tuple[str, SimProfile, str, str]:
    hit = _RESOLVED.get(model_id)
    if hit is not None:
        return hit
    name, _, query = _base_name(model_id).partition("?")
    profile = _PROFILES.get(name)
    if profile is None:
        raise UnknownNameError("simulator model", f"sim/{name}", [f"sim/{p}" for p in _PROFILES])
    if query:
        data = profile.model_dump(exclude_unset=False)
        for key, raw in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
            if key not in SimProfile.model_fields:
                raise ConfigError(
                    f"unknown simulator setting {key!r}; valid: {', '.join(SimProfile.model_fields)}",
                    field=f"{model_id} [{key}]",
                )
            value = _parse_value(raw)
            if key in ("segment_accuracy", "segment_context_boost") and isinstance(value, dict):
                value = {**data[key], **value}
            data[key] = value
        try:
            profile = SimProfile.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise ConfigError(
                f"bad simulator setting: {err['msg']}", field=f"{model_id} [{loc}]"
            ) from None
    stream = profile.stream or name
    fingerprint = profile.fingerprint or "fp_" + hashlib.sha256(name.encode()).hexdigest()[:10]
    hit = (name, profile, stream, fingerprint)
    _RESOLVED[model_id] = hit
    return hit


def _uniforms(*parts: object) -> tuple[float, ...]:
    """Eight independent uniforms in [0, 1) from one hash of the parts."""
    raw = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=64).digest()
    return tuple(x / 18446744073709551616.0 for x in struct.unpack("<8Q", raw))


def _case_accuracy(accuracy: float, spread: float, case_id: str) -> float:
    """This case's chance of a right answer under a shared latent difficulty z ~ N(0, 1)."""
    if spread <= 0 or accuracy in (0.0, 1.0):
        return accuracy
    from statistics import NormalDist

    u = _uniforms("difficulty", case_id)[0]
    z = NormalDist().inv_cdf(min(max(u, 1e-12), 1 - 1e-12))
    return 1.0 / (1.0 + math.exp(-(_intercept(accuracy, spread) - spread * z)))


@functools.lru_cache(maxsize=256)
def _intercept(accuracy: float, spread: float) -> float:
    """Logit intercept a with E_z[sigmoid(a - spread·z)] = accuracy (Gauss–Hermite, bisection)."""
    import numpy as np

    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / math.sqrt(2.0 * math.pi)
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        rate = float(weights @ (1.0 / (1.0 + np.exp(-(mid - spread * nodes)))))
        lo, hi = (mid, hi) if rate < accuracy else (lo, mid)
    return (lo + hi) / 2.0


def sim_token_logprobs(text: str, model_id: str) -> list[float]:
    """The simulator's token logprobs (asked with `params: {logprobs: true}`): one per
    whitespace-separated word, in [-2.5, -0.05), a function of the model, the text and the
    position only, so a perplexity is the same on every run."""
    return [
        -0.05 - 2.45 * _uniforms("logprob", model_id, text, i)[0]
        for i, _ in enumerate(text.split())
    ]


def _tokens(text: str) -> int:
    return round(len(text.split()) * 1.3)


def simulate(
    model_id: str,
    hint: CaseHint | None,
    messages: list[dict[str, Any]],
    *,
    response_format: dict[str, Any] | None = None,
    attempt: int = 0,
    tools: list[dict[str, Any]] | None = None,
) -> Completion | SimError:
    """One simulated call: the completion, or the error the call fails with.

    Without a hint (a real client that sends no ground truth) the case is identified by a
    hash of the messages and the answer is a deterministic placeholder.
    """
    name, p, stream, fingerprint = _resolve(model_id)
    if hint is None:
        case_id = hashlib.blake2b(
            json.dumps(messages, sort_keys=True).encode(), digest_size=8
        ).hexdigest()
        json_out = (
            isinstance(response_format, dict) and response_format.get("type", "text") != "text"
        )
        hint = CaseHint(id=case_id, output_type="json" if json_out else "text")
    kind = hint.output_type if hint.output_type in ("json", "label") else "text"
    labels = hint.labels if kind == "label" and hint.labels else None
    expected = hint.expected
    if expected is None and labels is None:
        # No ground truth: a stable placeholder answer of the right shape.
        tag = hashlib.blake2b(hint.id.encode(), digest_size=4).hexdigest()
        expected = (
            {"answer": f"sim-{tag}"} if hint.output_type == "json" else f"simulated answer {tag}"
        )
    # Transient decisions depend on the attempt; everything about the answer does not.
    t = _uniforms(stream, p.seed, hint.id, hint.repeat, attempt, "transient")
    latency = p.latency_ms + t[0] * p.latency_jitter_ms
    if attempt < p.fail_attempts:
        return _error(p.fail_kind, p, latency, f"scripted failure on attempt {attempt + 1}")
    if t[1] < p.error_rate:
        return _error(
            "rate_limit" if t[2] < p.rate_limit_share else "server", p, latency, "simulated"
        )
    if t[3] < p.timeout_rate:
        return _error("timeout", p, latency, "simulated stall")
    if t[4] < p.bad_response_rate:
        return _error("bad_response", p, latency, "simulated garbage body")

    a = _uniforms(stream, p.seed, hint.id, hint.repeat, "answer")
    calls = _wanted_calls(hint.expected, tools)
    tool_calls: list[dict[str, str]] | None = None
    if a[0] < p.refusal_rate:
        text = REFUSAL
    elif a[1] < p.format_error_rate:
        text = _format_error(kind, _render(expected, kind), labels, int(a[2] * 2**32))
        if calls is not None:
            text, tool_calls = "", _call_answer(hint.id, calls, True, 0, broken=True)
    else:
        accuracy = _case_accuracy(p.accuracy_for(hint.segment), p.case_difficulty, hint.id)
        correct = a[3] < accuracy
        boost = p.context_boost_for(hint.segment)
        # Coverage can only turn a wrong answer right, so it is computed only then.
        if not correct and boost and a[3] < accuracy + boost * (1.0 - accuracy):
            correct = covers(messages, hint.expected, hint.labels)
        pick = int(a[4] * 2**32)
        if calls is not None:
            text, tool_calls = "", _call_answer(hint.id, calls, correct, pick)
        elif labels is not None:
            text = _label_answer(expected, labels, correct, pick)
        else:
            text = _render(expected if correct else _perturb(expected, pick), kind)
        if p.verbosity and tool_calls is None:
            text = _pad(text, p.verbosity, labels)
    in_tok = round(sum(len(str(m.get("content") or "").split()) for m in messages) * 1.3)
    out_tok = _tokens(text) + sum(_tokens(c["arguments"]) + 1 for c in tool_calls or ())
    return Completion(
        text=text,
        input_tokens=in_tok,
        output_tokens=out_tok,
        cost_usd=(in_tok + out_tok) / 1000 * p.cost_per_1k_tokens,
        latency_ms=latency,
        model=f"sim/{name}",
        fingerprint=fingerprint,
        finish_reason="tool_calls" if tool_calls else "stop",
        tool_calls=tool_calls,
    )


def _wanted_calls(
    expected: Any, tools: list[dict[str, Any]] | None
) -> list[tuple[str, dict[str, Any] | None]] | None:
    """The calls to answer with: the expected calls, when every one names an offered tool."""
    names = {t["function"]["name"] for t in tools or ()}
    if not names:
        return None
    calls = expected_calls(expected, bare_name=True)
    if not calls or any(name not in names for name, _ in calls):
        return None
    return calls


def _call_answer(
    case_id: str,
    calls: list[tuple[str, dict[str, Any] | None]],
    correct: bool,
    pick: int,
    *,
    broken: bool = False,
) -> list[dict[str, str]]:
    """The calls made: as expected, or (wrong) one call's arguments perturbed, or (broken)
    arguments cut short, which no JSON parser reads."""
    tag = hashlib.blake2b(case_id.encode(), digest_size=4).hexdigest()
    out = []
    for i, (name, args) in enumerate(calls):
        args = dict(args or {})
        if not correct and i == pick % len(calls):
            args = _perturb(args, pick // 3) if args else {"unexpected": True}
        text = json.dumps(args, ensure_ascii=False)
        if broken:
            text = text[: max(1, len(text) // 2)]
        out.append({"id": f"call_{tag}_{i}", "name": name, "arguments": text})
    return out


_STATUS = {"rate_limit": 429, "server": 500, "timeout": 504, "bad_response": 200}


def _error(kind: ErrorKind, p: SimProfile, latency: float, why: str) -> SimError:
    retry_after = p.retry_after_s if kind == "rate_limit" else None
    return SimError(
        kind, f"{why} {kind}", status=_STATUS[kind], retry_after=retry_after, latency_ms=latency
    )


def _render(value: Any, kind: str) -> str:
    if kind == "json":
        if isinstance(value, str):
            try:
                json.loads(value)
                return value  # already JSON text
            except ValueError:
                pass
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


def _label_answer(expected: Any, labels: list[str], correct: bool, pick: int) -> str:
    exp = str(expected) if expected is not None else None
    if correct and exp is not None:
        return exp
    wrong = [x for x in labels if x != exp] or [f"not-{exp}"]
    return wrong[pick % len(wrong)]


def _perturb(value: Any, pick: int) -> Any:
    """A deterministic, clearly different wrong answer of the same shape."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1 + pick % 9
    if isinstance(value, float):
        return round(value * 1.5 + 1.0, 6)
    if isinstance(value, str):
        words = value.split()
        if len(words) > 1:
            k = 1 + pick % (len(words) - 1)
            out = " ".join(words[k:] + words[:k])
        elif len(value) > 1:
            k = 1 + pick % (len(value) - 1)
            out = value[k:] + value[:k]
        else:
            out = value
        return out if out != value else value + "-x"
    if isinstance(value, dict):
        if not value:
            return {"answer": "unknown"}
        key = sorted(value)[pick % len(value)]
        return {**value, key: _perturb(value[key], pick // 7)}
    if isinstance(value, list):
        if not value:
            return ["unknown"]
        items = list(value)
        items[pick % len(items)] = _perturb(items[pick % len(items)], pick // 7)
        return items
    return "unknown"


def _format_error(kind: str, rendered: str, labels: list[str] | None, pick: int) -> str:
    if kind == "json":
        # Truncated output, as when max_tokens cuts the answer; never valid JSON.
        return rendered[: max(1, 2 * len(rendered) // 3)].rstrip() + ","
    if labels is not None:
        lowered = {x.lower() for x in labels}
        options = [x for x in _OFF_LIST if x not in lowered] or ["<no label>"]
        return options[pick % len(options)]
    return ""


def _pad(text: str, words: int, labels: list[str] | None) -> str:
    # Filler never contains a label, so "contains" scorers see exactly one answer.
    banned = {x.lower() for x in labels or ()}
    filler = [w for w in _FILLER if w.lower() not in banned] or ["so"]
    pad = [filler[i % len(filler)] for i in range(words)]
    head, tail = pad[: (words + 1) // 2], pad[(words + 1) // 2 :]
    return " ".join([*head, text, *tail]) if tail else " ".join([*head, text])


class SimProvider(Provider):
    """In-process simulator; with `api_base` set it talks to a `sim_server` instead."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self._remote: Provider | None = None
        if config.api_base:
            from .http import OpenAICompatibleProvider

            self._remote = OpenAICompatibleProvider(config)
        else:
            _resolve(config.id)  # unknown profiles and bad overrides fail at creation
        # Attempts per (case, repeat): retries get fresh transient draws.
        self._attempts: dict[tuple[str, int], int] = {}

    async def complete(self, request: CompletionRequest) -> Completion:
        if self._remote is not None:
            return await self._remote.complete(request)
        hint = request.case
        key = (hint.id, hint.repeat) if hint else (json.dumps(request.messages, sort_keys=True), 0)
        attempt = self._attempts.get(key, 0)
        self._attempts[key] = attempt + 1
        result = simulate(
            self.config.id,
            hint,
            request.messages,
            response_format=request.response_format,
            attempt=attempt,
            tools=request.tools,
        )
        if isinstance(result, SimError):
            # A stall lasts until the caller gives up, as a hung connection would.
            delay = request.timeout_s if result.kind == "timeout" else result.latency_ms / 1000
            if delay > 0:
                await asyncio.sleep(delay)
            raise result
        if {**self.config.params, **request.params}.get("logprobs") is True:
            result.token_logprobs = sim_token_logprobs(result.text, self.config.id)
        if result.latency_ms:  # the simulator always sets one (None: unknown)
            await asyncio.sleep(result.latency_ms / 1000)
        return result

    async def aclose(self) -> None:
        if self._remote is not None:
            await self._remote.aclose()
