"""Provider-drift signals: one function each, comparing a fresh run with the baseline run.

Every statistic grows with drift, so `value > threshold` is drift:

  score_change       largest drop of the paired score (overall or in a segment), as a z-score
  answer_mismatch    share of (case, repeat) pairs whose output text changed
  output_shift       ROC AUC of a classifier telling current outputs from baseline ones
  output_mmd         MMD² of the output embeddings (off by default; enable in config)
  label_shift        Jensen–Shannon distance of the parsed answers (labels, small JSON values)
  length_shift       Kolmogorov–Smirnov D of the output lengths
  format_validity    increase of unparseable outputs (paired z; refusals excluded)
  refusal_rate       increase of refusals (paired z)
  error_rate         increase of provider errors (paired z)
  latency_change     relative change of the median latency
  cost_change        relative change of the mean cost per call (tokens when there is no price)
  fingerprint_change share of current calls answered by a fingerprint the baseline never saw
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .._refusal import is_refusal
from ..store.records import CaseResult
from . import _stats
from .signal_registry import InsufficientData, Measurement, signal
from .vectorize import Vectorizer, tfidf, vectorizer_name

MAX_TEXTS = 2000  # per side, for the classifier and MMD (seeded subsample)
MAX_LABELS = 50  # more distinct answers than this is free text, not labels


@dataclass
class CheckContext:
    """The two sides of a check, for one arm: results restricted to the common cases."""

    baseline: list[CaseResult]
    current: list[CaseResult]
    metric: str = "pass"
    min_segment_cases: int = 20
    vectorize: Vectorizer = field(default=tfidf)
    seed: int = 0
    n_boot: int = 2000

    @cached_property
    def pairs(self) -> list[tuple[CaseResult, CaseResult]]:
        """(baseline, current) results of the same case and repeat."""
        base = {(r.evalset, r.case_id, r.repeat): r for r in self.baseline}
        out = []
        for r in self.current:
            b = base.get((r.evalset, r.case_id, r.repeat))
            if b is not None:
                out.append((b, r))
        return out

    @cached_property
    def comparison(self) -> Any:
        from ..compare import compare_results

        keys = {(r.evalset, r.case_id) for r in self.baseline} & {
            (r.evalset, r.case_id) for r in self.current
        }
        if len(keys) < 2:
            return None
        return compare_results(
            self.baseline, self.current, metric=self.metric, seed=self.seed, n_boot=self.n_boot
        )

    def outputs(self, side: str) -> list[str]:
        rs = self.baseline if side == "a" else self.current
        return [r.output for r in rs if r.output is not None]


def _pts(x: float, rate: bool) -> str:
    return f"{x * 100:+.1f} pts" if rate else f"{x:+.3g}"


def _short(text: str | None, n: int = 80) -> str | None:
    if text is None:
        return None
    return text if len(text) <= n else text[: n - 1] + "…"


# ---- scores and answers ----------------------------------------------------------------


@signal(
    "score_change",
    threshold=3.0,
    floor=1.64,
    min_n=30,
    unit="z",
    description="Largest paired drop of the score (overall or per segment), in standard errors",
)
def score_change(ctx: CheckContext, min_n: int) -> Measurement:
    cmp = ctx.comparison
    n = cmp.n_common if cmp is not None else 0
    if cmp is None or n < min_n:
        raise InsufficientData(n, f"{n} common cases; the paired comparison needs {min_n}")
    metric = ctx.metric
    rate = cmp.scales.get(metric) == "rate"
    groups = [("overall", cmp.overall[metric], n)]
    skipped = []
    for seg in cmp.segments:
        if seg.n >= ctx.min_segment_cases and metric in seg.results:
            groups.append((seg.segment, seg.results[metric], seg.n))
        else:
            skipped.append(f"{seg.segment} ({seg.n} cases)")
    rows = []
    for name, r, size in groups:
        rows.append(
            {
                "group": name,
                "n": size,
                "mean_a": r.mean_a,
                "mean_b": r.mean_b,
                "delta": r.delta,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "stderr": r.stderr,
                "p_value": r.p_value,
                "z_drop": _stats.z_of(-r.delta, r.stderr),
            }
        )
    worst = max(rows, key=lambda row: row["z_drop"])
    o = rows[0]
    summary = (
        f"{metric} {o['mean_a']:.3f} → {o['mean_b']:.3f} ({_pts(o['delta'], rate)}, "
        f"CI {_pts(o['ci_low'], rate)}..{_pts(o['ci_high'], rate)})"
    )
    if worst["group"] != "overall":
        summary += f"; worst segment {worst['group']}: {_pts(worst['delta'], rate)} (z={worst['z_drop']:.2f})"
    return Measurement(
        value=worst["z_drop"],
        n=n,
        summary=summary,
        detail={
            "metric": metric,
            "scale": "rate" if rate else "value",
            "worst": worst["group"],
            "groups": rows,
            "skipped_segments": skipped,
            "regressed": len(cmp.regressed),
            "improved": len(cmp.improved),
        },
    )


@signal(
    "answer_mismatch",
    threshold=0.10,
    floor=0.01,
    min_n=30,
    unit="share",
    description="Share of (case, repeat) pairs whose output changed",
)
def answer_mismatch(ctx: CheckContext, min_n: int) -> Measurement:
    pairs = [(a, b) for a, b in ctx.pairs if a.output is not None and b.output is not None]
    if len(pairs) < min_n:
        raise InsufficientData(len(pairs), f"{len(pairs)} answered pairs; needs {min_n}")
    changed = [(a, b) for a, b in pairs if (a.output or "").strip() != (b.output or "").strip()]
    rate = len(changed) / len(pairs)
    examples = [
        {"case_id": b.case_id, "baseline": _short(a.output), "current": _short(b.output)}
        for a, b in changed[:3]
    ]
    return Measurement(
        rate,
        len(pairs),
        f"{len(changed)} of {len(pairs)} answers changed ({rate:.1%})",
        {"pairs": len(pairs), "changed": len(changed), "examples": examples},
    )


# ---- output distributions --------------------------------------------------------------


def _two_sides(ctx: CheckContext, min_n: int) -> tuple[list[str], list[str]]:
    a, b = ctx.outputs("a"), ctx.outputs("b")
    if min(len(a), len(b)) < min_n:
        raise InsufficientData(
            min(len(a), len(b)), f"{len(a)} and {len(b)} outputs; needs {min_n} a side"
        )
    return _stats.subsample(a, MAX_TEXTS, ctx.seed), _stats.subsample(b, MAX_TEXTS, ctx.seed + 1)


def _vectors(ctx: CheckContext, a: list[str], b: list[str]) -> tuple[Any, np.ndarray]:
    try:
        X = ctx.vectorize(a + b)
    except Exception as exc:  # noqa: BLE001 - a broken embedder is no verdict, not a crash
        raise InsufficientData(len(a) + len(b), f"the vectorizer failed: {exc}") from None
    return X, np.r_[np.zeros(len(a)), np.ones(len(b))].astype(int)


@signal(
    "output_shift",
    floor=0.52,
    min_n=20,
    unit="ROC AUC",
    description="Domain classifier (cross-validated logistic regression on embeddings) AUC",
)
def output_shift(ctx: CheckContext, min_n: int) -> Measurement:
    a, b = _two_sides(ctx, min_n)
    X, y = _vectors(ctx, a, b)
    auc = _stats.domain_auc(X, y, seed=ctx.seed)
    sd = _stats.auc_null_sd(len(a), len(b))
    name = vectorizer_name(ctx.vectorize, "custom")
    detail = {"n_a": len(a), "n_b": len(b), "null_sd": sd, "vectorizer": name}
    reason = getattr(ctx.vectorize, "fallback_reason", None)
    if reason:
        detail["embedder_unavailable"] = reason
    # Evidently's 0.55, raised to 3 null standard deviations for small samples.
    return Measurement(
        auc,
        len(a) + len(b),
        f"a classifier tells current outputs from baseline ones "
        f"with ROC AUC {auc:.3f} (0.5 = indistinguishable)",
        detail,
        threshold=max(0.55, 0.5 + 3.0 * sd),
    )


@signal(
    "output_mmd",
    floor=0.0,
    min_n=20,
    unit="MMD²",
    enabled=False,
    description="Maximum mean discrepancy of output embeddings (RBF kernel, permutation test)",
)
def output_mmd(ctx: CheckContext, min_n: int) -> Measurement:
    a, b = _two_sides(ctx, min_n)
    a, b = a[:1000], b[:1000]  # the kernel matrix is quadratic
    X, y = _vectors(ctx, a, b)
    mmd2, p, q99 = _stats.mmd_test(X, y, seed=ctx.seed)
    return Measurement(
        mmd2,
        len(a) + len(b),
        f"MMD² {mmd2:.4f} (permutation p={p:.3f})",
        {"p_value": p, "null_q99": q99, "vectorizer": vectorizer_name(ctx.vectorize, "custom")},
        threshold=q99,
    )


def _label(r: CaseResult) -> str:
    if r.parsed is None:
        return "(unparsed)"
    if isinstance(r.parsed, str):
        return r.parsed
    return json.dumps(r.parsed, sort_keys=True, ensure_ascii=False)[:200]


@signal(
    "label_shift",
    floor=0.03,
    min_n=30,
    unit="JS distance",
    description="Jensen–Shannon distance between the answer distributions (chi-square test alongside)",
)
def label_shift(ctx: CheckContext, min_n: int) -> Measurement:
    la = [_label(r) for r in ctx.baseline if r.output is not None]
    lb = [_label(r) for r in ctx.current if r.output is not None]
    if min(len(la), len(lb)) < min_n:
        raise InsufficientData(
            min(len(la), len(lb)), f"{len(la)} and {len(lb)} answers; needs {min_n} a side"
        )
    cats, ca, cb = _stats.pooled_counts(la, lb)
    if len(cats) > MAX_LABELS:
        raise InsufficientData(
            len(la) + len(lb), f"answers are free text ({len(cats)} distinct), not labels"
        )
    js = _stats.js_distance(ca, cb)
    stat, dof, p = _stats.chi_square(ca, cb)
    pa, pb = ca / ca.sum(), cb / cb.sum()
    order = np.argsort(-np.abs(pb - pa))[:5]
    moved = [
        {"answer": str(cats[i]), "share_a": float(pa[i]), "share_b": float(pb[i])} for i in order
    ]
    top = moved[0]
    summary = (
        f"answer distribution JS {js:.3f} (chi² {stat:.1f}, {dof} dof, p={p:.3g}); "
        f"largest move: {top['answer']!r} {top['share_a']:.1%} → {top['share_b']:.1%}"
    )
    crit = _stats.js_critical(0.001, dof, len(la), len(lb)) if dof >= 1 else 0.1
    return Measurement(
        js,
        len(la) + len(lb),
        summary,
        {"chi2": stat, "dof": dof, "p_value": p, "moved": moved},
        threshold=max(0.1, crit),
    )


@signal(
    "length_shift",
    floor=0.05,
    min_n=20,
    unit="KS D",
    description="Kolmogorov–Smirnov distance between output length distributions",
)
def length_shift(ctx: CheckContext, min_n: int) -> Measurement:
    a, b = ctx.outputs("a"), ctx.outputs("b")
    if min(len(a), len(b)) < min_n:
        raise InsufficientData(
            min(len(a), len(b)), f"{len(a)} and {len(b)} outputs; needs {min_n} a side"
        )
    la, lb = np.array([len(t) for t in a], float), np.array([len(t) for t in b], float)
    d, p = _stats.ks_2samp(la, lb)
    wa, wb = (
        float(np.mean([len(t.split()) for t in a])),
        float(np.mean([len(t.split()) for t in b])),
    )
    return Measurement(
        d,
        len(a) + len(b),
        f"output length KS D={d:.3f} (p={p:.3g}); median {np.median(la):.0f} → "
        f"{np.median(lb):.0f} chars, mean {wa:.1f} → {wb:.1f} words",
        {
            "p_value": p,
            "median_chars_a": float(np.median(la)),
            "median_chars_b": float(np.median(lb)),
            "mean_words_a": wa,
            "mean_words_b": wb,
        },
        threshold=_stats.ks_critical(0.001, len(a), len(b)),
    )


# ---- validity, refusals, errors: paired increases ---------------------------------------


def _flag_increase(
    pairs: list[tuple[CaseResult, CaseResult]], flag: Any, what: str, min_n: int
) -> Measurement:
    if len(pairs) < min_n:
        raise InsufficientData(len(pairs), f"{len(pairs)} pairs; needs {min_n}")
    fa = np.array([flag(a) for a, _ in pairs], dtype=float)
    fb = np.array([flag(b) for _, b in pairs], dtype=float)
    z, delta, se = _stats.paired_z(fa, fb)
    new = [b for (a, b), x, y in zip(pairs, fa, fb, strict=True) if y and not x]
    examples = [
        {"case_id": r.case_id, "output": _short(r.output), "why": _short(r.parse_error or r.error)}
        for r in new[:3]
    ]
    return Measurement(
        z,
        len(pairs),
        f"{what} {fa.mean():.1%} → {fb.mean():.1%} ({delta * 100:+.1f} pts, z={z:.2f})",
        {
            "rate_a": float(fa.mean()),
            "rate_b": float(fb.mean()),
            "delta": delta,
            "stderr": se,
            "pairs": len(pairs),
            "new": len(new),
            "examples": examples,
        },
    )


def _answered(ctx: CheckContext) -> list[tuple[CaseResult, CaseResult]]:
    return [(a, b) for a, b in ctx.pairs if a.output is not None and b.output is not None]


@signal(
    "format_validity",
    threshold=3.0,
    floor=2.0,
    min_n=30,
    unit="z",
    description="Increase of outputs the prompt's parser rejects (refusals excluded), paired z",
)
def format_validity(ctx: CheckContext, min_n: int) -> Measurement:
    def invalid(r: CaseResult) -> bool:
        return r.parse_error is not None and not is_refusal(r.output)

    return _flag_increase(_answered(ctx), invalid, "invalid outputs", min_n)


@signal(
    "refusal_rate",
    threshold=3.0,
    floor=2.0,
    min_n=30,
    unit="z",
    description="Increase of refusals, paired z",
)
def refusal_rate(ctx: CheckContext, min_n: int) -> Measurement:
    return _flag_increase(_answered(ctx), lambda r: is_refusal(r.output), "refusals", min_n)


@signal(
    "error_rate",
    threshold=3.0,
    floor=2.0,
    min_n=30,
    unit="z",
    description="Increase of provider errors (after retries), paired z",
)
def error_rate(ctx: CheckContext, min_n: int) -> Measurement:
    # Template and scorer errors are the suite's own, not the provider's.
    return _flag_increase(
        ctx.pairs,
        lambda r: r.error is not None and r.error_kind not in ("template", "scorer"),
        "provider errors",
        min_n,
    )


# ---- latency, cost, fingerprint --------------------------------------------------------


def _relative(a: float, b: float, floor: float) -> float:
    return min(_stats.Z_CAP, (b - a) / max(a, floor))


@signal(
    "latency_change",
    threshold=0.5,
    floor=0.05,
    min_n=20,
    unit="relative",
    description="Relative change of the median latency (0.5 = 50% slower)",
)
def latency_change(ctx: CheckContext, min_n: int) -> Measurement:
    def lat(rs: list[CaseResult]) -> np.ndarray:
        return np.array(
            [r.latency_ms for r in rs if r.latency_ms is not None and not r.cached], float
        )

    xa, xb = lat(ctx.baseline), lat(ctx.current)
    if min(xa.size, xb.size) < min_n:
        raise InsufficientData(
            int(min(xa.size, xb.size)), f"{xa.size} and {xb.size} timed calls; needs {min_n}"
        )
    (p50a, p95a), (p50b, p95b) = np.percentile(xa, [50, 95]), np.percentile(xb, [50, 95])
    value = _relative(float(p50a), float(p50b), 1.0)  # under 1 ms the ratio is noise
    return Measurement(
        value,
        int(xa.size + xb.size),
        f"median latency {p50a:.0f} → {p50b:.0f} ms ({value:+.0%}); p95 {p95a:.0f} → {p95b:.0f} ms",
        {"p50_a": float(p50a), "p50_b": float(p50b), "p95_a": float(p95a), "p95_b": float(p95b)},
    )


@signal(
    "cost_change",
    threshold=0.2,
    floor=0.02,
    min_n=20,
    unit="relative",
    description="Relative change of the mean cost per call (tokens when calls have no price)",
)
def cost_change(ctx: CheckContext, min_n: int) -> Measurement:
    answered_a = [r for r in ctx.baseline if r.output is not None]
    answered_b = [r for r in ctx.current if r.output is not None]
    priced = all(r.cost_usd is not None for r in answered_a + answered_b)
    unit = "usd" if priced and any(r.cost_usd for r in answered_a) else "tokens"

    def amount(r: CaseResult) -> float | None:
        if unit == "usd":
            return r.cost_usd
        if r.input_tokens is None and r.output_tokens is None:
            return None
        return float((r.input_tokens or 0) + (r.output_tokens or 0))

    xa = np.array([v for v in map(amount, answered_a) if v is not None], float)
    xb = np.array([v for v in map(amount, answered_b) if v is not None], float)
    if min(xa.size, xb.size) < min_n:
        raise InsufficientData(
            int(min(xa.size, xb.size)), f"{xa.size} and {xb.size} calls with {unit}; needs {min_n}"
        )
    ma, mb = float(xa.mean()), float(xb.mean())
    value = _relative(ma, mb, 1e-9 if unit == "usd" else 1.0)
    out_a = [r.output_tokens for r in answered_a if r.output_tokens is not None]
    out_b = [r.output_tokens for r in answered_b if r.output_tokens is not None]
    shown = (lambda v: f"${v:.6f}") if unit == "usd" else (lambda v: f"{v:.1f} tokens")
    return Measurement(
        value,
        int(xa.size + xb.size),
        f"mean cost per call {shown(ma)} → {shown(mb)} ({value:+.0%})",
        {
            "unit": unit,
            "mean_a": ma,
            "mean_b": mb,
            "output_tokens_a": float(np.mean(out_a)) if out_a else None,
            "output_tokens_b": float(np.mean(out_b)) if out_b else None,
        },
    )


@signal(
    "fingerprint_change",
    threshold=0.0,
    floor=0.0,
    min_n=1,
    tunable=False,
    unit="share",
    description="Share of current calls answered by a fingerprint/model version the baseline never saw",
)
def fingerprint_change(ctx: CheckContext, min_n: int) -> Measurement:
    fa = [r.fingerprint for r in ctx.baseline if r.fingerprint]
    fb = [r.fingerprint for r in ctx.current if r.fingerprint]
    if len(fa) < min_n or len(fb) < min_n:
        raise InsufficientData(min(len(fa), len(fb)), "the provider reports no fingerprint")
    seen = set(fa)
    new = [f for f in fb if f not in seen]
    value = len(new) / len(fb)
    new_set = sorted(set(new))
    summary = (
        f"new fingerprint {', '.join(new_set[:3])} on {value:.0%} of calls (baseline: "
        f"{', '.join(sorted(seen)[:3])})"
        if new
        else f"same fingerprint(s): {', '.join(sorted(seen)[:3])}"
    )
    return Measurement(
        value,
        len(fb),
        summary,
        {"baseline": sorted(seen)[:10], "current": sorted(set(fb))[:10], "new": new_set[:10]},
    )
