"""Details of a comparison beyond the statistics: flipped cases, answer mismatches, cost
and latency percentiles, score histograms and flaky cases."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..stats import flaky_cases
from .align import CaseGroup, CaseKey, case_label
from .schema import FlippedCase, Histogram, UsageDelta

_HIST_BINS = 10


def answer_mismatches(a_groups: list[CaseGroup], b_groups: list[CaseGroup]) -> tuple[int, int]:
    """(pairs, pairs whose outputs differ) over (case, repeat) answered on both sides."""
    pairs = mismatches = 0
    for ga, gb in zip(a_groups, b_groups, strict=True):
        outs_b = {r.repeat: r.output for r in gb.results}
        for r in ga.results:
            if r.repeat not in outs_b:
                continue
            pairs += 1
            oa, ob = r.output, outs_b[r.repeat]
            # Trailing whitespace is not a different answer; an error (None) is.
            mismatches += (oa.strip() if oa is not None else None) != (
                ob.strip() if ob is not None else None
            )
    return pairs, mismatches


def flipped_cases(
    a_groups: list[CaseGroup],
    b_groups: list[CaseGroup],
    pa: np.ndarray,
    pb: np.ndarray,
    scores: tuple[np.ndarray, np.ndarray] | None,
) -> list[FlippedCase]:
    out = []
    for i, (ga, gb) in enumerate(zip(a_groups, b_groups, strict=True)):
        a_pass, b_pass = pa[i] >= 0.5, pb[i] >= 0.5
        if a_pass == b_pass:
            continue
        ra, rb = ga.first, gb.first
        out.append(
            FlippedCase(
                evalset=ga.evalset,
                case_id=ga.case_id,
                segment=ra.segment if ra.segment is not None else rb.segment,
                direction="regressed" if a_pass else "improved",
                expected=ra.expected if ra.expected is not None else rb.expected,
                output_a=ra.output,
                output_b=rb.output,
                pass_a=float(pa[i]),
                pass_b=float(pb[i]),
                score_a=float(scores[0][i]) if scores else None,
                score_b=float(scores[1][i]) if scores else None,
                error_a=ra.error,
                error_b=rb.error,
            )
        )
    # Regressions first: they are what a reviewer of a candidate looks for.
    out.sort(key=lambda f: f.direction != "regressed")
    return out


def usage_delta(name: str, a_groups: list[CaseGroup], b_groups: list[CaseGroup]) -> UsageDelta:
    def collect(groups: list[CaseGroup]) -> np.ndarray:
        vals = [getattr(r, name) for g in groups for r in g.results]
        return np.array([v for v in vals if v is not None], dtype=np.float64)

    xa, xb = collect(a_groups), collect(b_groups)
    med_a, p95_a = np.percentile(xa, [50, 95]).tolist() if xa.size else (None, None)
    med_b, p95_b = np.percentile(xb, [50, 95]).tolist() if xb.size else (None, None)
    return UsageDelta(
        name=name,  # type: ignore[arg-type]
        n_a=int(xa.size),
        n_b=int(xb.size),
        median_a=med_a,
        median_b=med_b,
        median_delta=med_b - med_a if med_a is not None and med_b is not None else None,
        p95_a=p95_a,
        p95_b=p95_b,
        p95_delta=p95_b - p95_a if p95_a is not None and p95_b is not None else None,
        total_a=float(xa.sum()) if xa.size else None,
        total_b=float(xb.sum()) if xb.size else None,
    )


def in_unit_range(x: np.ndarray) -> bool:
    return bool(x.size) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def histogram(xa: np.ndarray, xb: np.ndarray) -> Histogram:
    both = np.concatenate([xa, xb])
    if in_unit_range(both):
        # Rounded so 0.6 falls in [0.6, 0.7), not below a 0.6000000000000001 edge.
        edges = np.round(np.linspace(0.0, 1.0, _HIST_BINS + 1), 12)
    else:
        edges = np.histogram_bin_edges(both, bins=_HIST_BINS)
    return Histogram(
        edges=[float(e) for e in edges],
        counts_a=np.histogram(xa, bins=edges)[0].tolist(),
        counts_b=np.histogram(xb, bins=edges)[0].tolist(),
    )


def flaky(groups: Mapping[CaseKey, CaseGroup], qualified: bool) -> list[str]:
    outcomes = {
        case_label(key, qualified): [r.passed and r.error is None for r in g.results]
        for key, g in groups.items()
        if len(g.results) > 1
    }
    return flaky_cases(outcomes)
