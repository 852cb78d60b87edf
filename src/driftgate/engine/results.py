"""One result record as the executor fills it: every field at its default, then the
answer, the parsed output and the scores. Answers from a provider call and from the
cache go through the same functions, so their records cannot differ."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..evalset import Case
from ..providers.base import Completion, CompletionRequest
from ..scoring.base import Score, ScoreContext, Scorer
from .plan import Arm


def base_record(run_id: str, arm: Arm) -> dict[str, Any]:
    """An arm's result before anything is known: every field, at its default, in the order
    of the stored line (the executor copies it per case and sets the case's fields)."""
    return {
        "run_id": run_id,
        "key": "",
        "evalset": "",
        "case_id": "",
        "segment": None,
        "tags": [],
        "prompt": arm.prompt.ref,
        "prompt_digest": arm.prompt.digest,
        "model": arm.model.name,
        "repeat": 0,
        "messages": None,
        "expected": None,
        "output": None,
        "tool_calls": None,
        "parsed": None,
        "parse_error": None,
        "scores": [],
        "score": None,
        "passed": False,
        "error": None,
        "error_kind": None,
        "attempts": 0,
        "input_tokens": None,
        "output_tokens": None,
        "cost_usd": None,
        "latency_ms": None,
        "cached": False,
        "fingerprint": None,
        "confidence": None,
        "label_probs": None,
        "ts": 0.0,
    }


def record_answer(rec: dict[str, Any], completion: Completion) -> None:
    """What the provider (or the cache, `cached=True`) answered, with its cost, latency and,
    when the provider can tell, its probabilities over the prompt's labels."""
    rec.update(
        output=completion.text,
        tool_calls=completion.tool_calls,
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        cost_usd=completion.cost_usd,
        latency_ms=completion.latency_ms,
        cached=completion.cached,
        fingerprint=completion.fingerprint,
        confidence=completion.confidence,
        label_probs=completion.label_probs,
    )


def score_context(
    rec: dict[str, Any], arm: Arm, case: Case, completion: Completion
) -> ScoreContext:
    """Parse the output (into `rec`) and gather what the scorers see: the whole answer,
    while `rec` keeps a copy bounded by the arm's `max_stored_chars`."""
    parsed, parse_error = arm.parse(completion.text)
    limit = arm.max_stored_chars
    rec["parsed"] = bounded_text(parsed, limit) if isinstance(parsed, str) else parsed
    rec["parse_error"] = parse_error
    if completion.text is not None and len(completion.text) > limit:
        rec["output"] = bounded_text(completion.text, limit)
    if rec["messages"] and any(_long(m.get("content"), limit) for m in rec["messages"]):
        rec["messages"] = [
            {**m, "content": bounded_text(m["content"], limit)}
            if _long(m.get("content"), limit)
            else m
            for m in rec["messages"]
        ]
    tools = arm.prompt.request_tools(case.tools, case.tool_choice)[0]
    return ScoreContext(
        output=completion.text,
        parsed=parsed,
        parse_error=parse_error,
        expected=case.expected,
        reference=case.reference,
        vars=case.vars,
        case_id=case.id,
        segment=case.segment,
        latency_ms=completion.latency_ms,
        cost_usd=completion.cost_usd,
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        labels=arm.prompt.output.labels,
        finish_reason=completion.finish_reason,
        metadata=case.metadata,
        tool_calls=completion.tool_calls,
        tools=tools,
        token_logprobs=completion.token_logprobs,
    )


def _long(content: object, limit: int) -> bool:
    # An assistant turn that only called tools has no text (None).
    return isinstance(content, str) and len(content) > limit


def request_key(keys: Callable[..., str], request: CompletionRequest, repeat: int) -> str:
    """The response-cache key of a request (`providers.cache.KeyBuilder` of its arm)."""
    return keys(
        request.messages,
        repeat,
        case=request.case,
        tools=request.tools,
        tool_choice=request.tool_choice,
    )


def bounded_text(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and a marker saying it was cut and its size."""
    if len(text) <= limit:
        return text
    return (
        f"{text[:limit]}\n[truncated by driftgate: {len(text):,} characters, "
        f"the first {limit:,} kept (max_stored_chars)]"
    )


def record_scores(rec: dict[str, Any], scorers: list[Scorer], results: list[Score]) -> None:
    """The scorers' results (in the suite's order) and the weighted case score.

    A scorer error fails the case and is the case's error unless it already has one; a
    scorer of weight 0 is reported but decides nothing.
    """
    total_w = 0.0
    total = 0.0
    passed = True
    scores = []
    for scorer, s in zip(scorers, results, strict=True):
        w = scorer.config.weight
        scores.append(
            {
                "metric": scorer.metric,
                "value": s.value,
                "passed": s.passed,
                "weight": w,
                "reason": s.reason,
                "error": s.error,
                "data": s.data,
            }
        )
        if w > 0:
            total_w += w
            total += w * s.value
            passed = passed and s.passed and s.error is None
        if s.error is not None:
            rec["error"] = rec["error"] or f"scorer {scorer.metric}: {s.error}"
            rec["error_kind"] = rec["error_kind"] or "scorer"
    rec["scores"] = scores
    rec["score"] = total / total_w if total_w else None
    rec["passed"] = passed and rec["error"] is None
