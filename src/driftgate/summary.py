"""Summaries of a run's results: totals, per arm, per segment, label metrics.

Conventions (the same ones the gate and the reports use):

* `pass_rate` = passed / results. A result with a provider or template error (`error` set)
  is never a pass: it counts in `errors`, not in `failed`, and in the denominator of the
  pass rate. So `results == passed + failed + errors`.
* `error_rate` = errors / results. Scorer errors (a judge that could not answer) live in
  the result's `scores` and make the case fail; they are not provider errors.
* `mean_score` is the mean of `score` over results that have one (errored results have
  none), so it says how good the answers were, while the pass rate says how many passed.
* Repeats are counted as separate results. The Wilson interval therefore treats them as
  independent draws, which is slightly optimistic when repeats of one case agree; the paired
  statistics in `driftgate.stats` account for clustering.
* Latency percentiles use every result that recorded a latency, errors included: a timeout
  is part of what users wait for.

Results are streamed: `SummaryBuilder.add` keeps a few counters per arm and segment, one
float per latency and, only when label metrics are requested, one small integer pair per
result, so 100k results cost a few MB.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import DriftgateError
from .store.records import CaseResult, Summary

SEP = " · "
NO_SEGMENT = "(none)"
_Z95 = 1.959963984540054


def arm_key(prompt: str, model: str) -> str:
    """The key of an arm in `Summary.by_arm`: `"PROMPT · MODEL"`."""
    return f"{prompt}{SEP}{model}"


def segment_key(prompt: str, model: str, segment: str | None) -> str:
    """The key in `Summary.by_segment`: `"PROMPT · MODEL · SEGMENT"` (None → "(none)")."""
    return f"{prompt}{SEP}{model}{SEP}{segment if segment is not None else NO_SEGMENT}"


def wilson(passed: int, n: int, z: float = _Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion (95% by default); None when n == 0.

    Chosen over the normal approximation because it stays inside [0, 1] and is sane at
    0% and 100%, which small golden sets hit often.
    """
    if n <= 0:
        return None
    p = passed / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _percentiles(values: Sequence[array]) -> tuple[float | None, float | None]:
    """p50 and p95 with linear interpolation (numpy's default method), in plain Python:
    sorting even 100k floats costs less than importing numpy on every run."""
    data = sorted(x for a in values for x in a)
    if not data:
        return None, None
    return _quantile(data, 0.50), _quantile(data, 0.95)


def _quantile(data: list[float], q: float) -> float:
    pos = (len(data) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass(slots=True)
class _Group:
    """Counters of one arm or one segment; latencies live in segments only (a partition)."""

    results: int = 0
    passed: int = 0
    errors: int = 0
    score_sum: float = 0.0
    score_n: int = 0
    cost: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    metric_sum: dict[str, float] = field(default_factory=dict)
    metric_n: dict[str, int] = field(default_factory=dict)
    latencies: array = field(default_factory=lambda: array("d"))
    confidence_sum: float = 0.0
    confidence_n: int = 0

    def add(self, r: _Row) -> None:
        self.results += 1
        self.passed += r.passed
        self.errors += r.error
        if r.score is not None:
            self.score_sum += r.score
            self.score_n += 1
        self.cost += r.cost
        self.input_tokens += r.input_tokens
        self.output_tokens += r.output_tokens
        if r.confidence is not None:
            self.confidence_sum += r.confidence
            self.confidence_n += 1
        for metric, value in r.metrics:
            self.metric_sum[metric] = self.metric_sum.get(metric, 0.0) + value
            self.metric_n[metric] = self.metric_n.get(metric, 0) + 1

    def stats(self, latencies: Sequence[array]) -> dict[str, Any]:
        ci = wilson(self.passed, self.results)
        p50, p95 = _percentiles(latencies)
        out: dict[str, Any] = {
            "results": self.results,
            "passed": self.passed,
            "failed": self.results - self.passed - self.errors,
            "errors": self.errors,
            "pass_rate": self.passed / self.results if self.results else None,
            "pass_rate_ci": list(ci) if ci else None,
            "error_rate": self.errors / self.results if self.results else None,
            "mean_score": self.score_sum / self.score_n if self.score_n else None,
            "cost_usd": self.cost,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "metric_means": {
                m: self.metric_sum[m] / self.metric_n[m] for m in sorted(self.metric_sum)
            },
        }
        if self.confidence_n:  # only models that report label probabilities have one
            out["mean_confidence"] = self.confidence_sum / self.confidence_n
            out["confidence_n"] = self.confidence_n
        return out


@dataclass(slots=True)
class _Row:
    """The few fields of a result a summary needs, read from a CaseResult or a dict."""

    prompt: str
    model: str
    segment: str | None
    passed: bool
    error: bool
    score: float | None
    cost: float
    input_tokens: int
    output_tokens: int
    latency: float | None
    metrics: list[tuple[str, float]]
    expected: Any
    parsed: Any
    confidence: float | None = None


def _row(r: CaseResult | dict[str, Any], index: int) -> _Row:
    if isinstance(r, CaseResult):
        return _Row(
            r.prompt,
            r.model,
            r.segment,
            r.passed and r.error is None,
            r.error is not None,
            r.score,
            r.cost_usd or 0.0,
            r.input_tokens or 0,
            r.output_tokens or 0,
            r.latency_ms,
            [(s.metric, s.value) for s in r.scores if s.error is None],
            r.expected,
            r.parsed,
            r.confidence,
        )
    if not isinstance(r, dict):
        raise DriftgateError(
            f"result #{index + 1}: expected a CaseResult or a mapping, got {type(r).__name__}"
        )
    try:
        prompt, model = r["prompt"], r["model"]
    except KeyError as exc:
        raise DriftgateError(f"result #{index + 1} has no {exc.args[0]!r} field") from None
    metrics = []
    for s in r.get("scores") or ():
        s = s if isinstance(s, dict) else s.model_dump()
        if s.get("error") is None and s.get("value") is not None:
            metrics.append((s["metric"], float(s["value"])))
    error = r.get("error") is not None
    score = r.get("score")
    confidence = r.get("confidence")
    return _Row(
        str(prompt),
        str(model),
        r.get("segment"),
        bool(r.get("passed")) and not error,
        error,
        float(score) if score is not None else None,
        float(r.get("cost_usd") or 0.0),
        int(r.get("input_tokens") or 0),
        int(r.get("output_tokens") or 0),
        float(r["latency_ms"]) if r.get("latency_ms") is not None else None,
        metrics,
        r.get("expected"),
        r.get("parsed"),
        float(confidence) if confidence is not None else None,
    )


def _label(value: Any) -> str | None:
    """A value usable as a class label: strings as they are, scalars as text, else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return None


class SummaryBuilder:
    """Accumulates results one at a time (the engine feeds it as cases complete)."""

    def __init__(
        self, metrics: Sequence[str] = (), *, labels: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.metrics = list(metrics)
        self.labels = dict(labels or {})
        self._total = _Group()
        self._arms: dict[str, _Group] = {}
        self._arm_names: dict[str, tuple[str, str]] = {}
        self._segments: dict[str, _Group] = {}
        self._segment_arm: dict[str, tuple[str, str | None]] = {}
        # Label pairs as codes into one vocabulary: two ints per result instead of two strings.
        self._vocab: dict[str, int] = {}
        self._pairs: dict[str, tuple[array, array]] = {}

    def _code(self, label: str | None) -> int:
        if label is None:
            return -1
        return self._vocab.setdefault(label, len(self._vocab))

    def add(self, result: CaseResult | dict[str, Any]) -> None:
        r = _row(result, self._total.results)
        akey = arm_key(r.prompt, r.model)
        skey = segment_key(r.prompt, r.model, r.segment)
        arm = self._arms.get(akey)
        if arm is None:
            arm = self._arms[akey] = _Group()
            self._arm_names[akey] = (r.prompt, r.model)
        seg = self._segments.get(skey)
        if seg is None:
            seg = self._segments[skey] = _Group()
            self._segment_arm[skey] = (akey, r.segment)
        for group in (self._total, arm, seg):
            group.add(r)
        if r.latency is not None:
            seg.latencies.append(r.latency)
        if self.metrics:
            exp, pred = self._pairs.setdefault(akey, (array("i"), array("i")))
            exp.append(self._code(_label(r.expected)))
            # An errored result has no prediction: it counts as wrong, as in the pass rate.
            pred.append(self._code(r.parsed if isinstance(r.parsed, str) and not r.error else None))

    def build(self) -> Summary:
        segs_of_arm: dict[str, list[array]] = {k: [] for k in self._arms}
        for skey, (akey, _) in self._segment_arm.items():
            segs_of_arm[akey].append(self._segments[skey].latencies)
        by_arm: dict[str, dict[str, Any]] = {}
        for akey in sorted(self._arms):
            prompt, model = self._arm_names[akey]
            by_arm[akey] = {
                "prompt": prompt,
                "model": model,
                **self._arms[akey].stats(segs_of_arm[akey]),
            }
        by_segment: dict[str, dict[str, Any]] = {}
        for skey in sorted(self._segments):
            akey, segment = self._segment_arm[skey]
            prompt, model = self._arm_names[akey]
            by_segment[skey] = {
                "prompt": prompt,
                "model": model,
                "segment": segment,
                **self._segments[skey].stats([self._segments[skey].latencies]),
            }
        total = self._total.stats([s.latencies for s in self._segments.values()])
        return Summary(
            results=total["results"],
            passed=total["passed"],
            failed=total["failed"],
            errors=total["errors"],
            pass_rate=total["pass_rate"],
            error_rate=total["error_rate"],
            mean_score=total["mean_score"],
            cost_usd=total["cost_usd"],
            input_tokens=total["input_tokens"],
            output_tokens=total["output_tokens"],
            latency_p50_ms=total["latency_p50_ms"],
            latency_p95_ms=total["latency_p95_ms"],
            by_arm=by_arm,
            by_segment=by_segment,
            metrics=self._label_metrics(),
        )

    def _label_metrics(self) -> dict[str, Any]:
        if not self.metrics or not self._pairs:
            return {}
        from .scoring.metrics import label_metrics  # lazy: pulls in scikit-learn

        names = list(self._vocab)

        def decode(codes: array) -> list[str | None]:
            return [names[c] if c >= 0 else None for c in codes]

        out: dict[str, Any] = {}
        for akey, (exp, pred) in sorted(self._pairs.items()):
            label_set = self.labels.get(self._arm_names[akey][0])
            out[akey] = label_metrics(
                decode(exp),
                decode(pred),
                self.metrics,
                labels=list(label_set) if label_set is not None else None,
            )
        return out


def summarize(
    results: Iterable[CaseResult | dict[str, Any]],
    *,
    metrics: Sequence[str] = (),
    labels: Mapping[str, Sequence[str]] | None = None,
) -> Summary:
    """Summarize results (CaseResult objects or their dict form), streaming.

    `metrics` names suite-level label metrics (accuracy, macro_f1, per_label, confusion):
    computed per arm from `expected` vs `parsed` (a prediction only when `parsed` is a
    string) into `Summary.metrics[ARM]`. `labels` maps a prompt ref to its label set, so
    label spelling is normalized and every label gets a row even when absent.
    """
    builder = SummaryBuilder(metrics, labels=labels)
    for r in results:
        builder.add(r)
    return builder.build()
