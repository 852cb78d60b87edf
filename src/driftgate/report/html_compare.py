"""A comparison as one self-contained HTML page: the values it shows, prepared here, laid
out by `templates/report/comparison.html.j2` (autoescaped, like every report template)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..compare.schema import Comparison
from ..store._atomic import atomic_writer
from ._compare_format import (
    VERDICT_TEXT,
    fmt_delta,
    fmt_interval,
    fmt_margin,
    fmt_p,
    headline,
    is_rate,
    metric_rows,
    usage_row,
)
from ._format import fmt_pct, fmt_time
from .html import (
    COLOURS,
    MAX_ROWS,
    Chart,
    _manifest,
    _nice,
    histogram_chart,
    interval_chart,
    render,
    text,
)


def _sides(cmp: Comparison) -> list[dict[str, str]]:
    return [
        {
            "key": k,
            "run": s.run_id or "—",
            "arm": s.arm,
            "digest": s.prompt_digest or "—",
            "model": s.model_id or "—",
            "fingerprints": ", ".join(s.fingerprints) or "—",
            "started": fmt_time(s.created_at),
        }
        for k, s in (("A", cmp.a), ("B", cmp.b))
    ]


def _cards(cmp: Comparison) -> list[tuple[str, str, str]]:
    m, r = cmp.metric, cmp.primary
    return [
        ("card-delta", f"Δ {m} (B − A)", fmt_delta(cmp, m, r.delta)),
        ("card-ci", f"{r.confidence:.0%} interval ({r.interval})", fmt_interval(cmp, m, r)),
        ("card-p", f"p-value ({r.test})", fmt_p(r.p_value)),
        ("card-wlt", "B wins / losses / ties", f"{cmp.wins} / {cmp.losses} / {cmp.ties}"),
        ("card-n", "cases compared", f"{cmp.n_common}"),
        ("card-mismatch", "outputs differ", fmt_pct(cmp.answer_mismatch_rate)),
    ]


def _coverage(cmp: Comparison) -> str:
    """Cases on one side only, the reducer and the margin, as one sentence."""
    one_sided = cmp.only_a + cmp.only_b
    return (
        f"{len(cmp.only_a)} cases only in A, {len(cmp.only_b)} only in B"
        + (f" ({', '.join(one_sided[:10])}…)" if one_sided else "")
        + f"; repeats reduced by {cmp.reducer}; {fmt_margin(cmp)}."
    )


def _segments(cmp: Comparison) -> Chart:
    m = cmp.metric
    p = cmp.primary
    rows = [("overall", p.delta, p.ci_low, p.ci_high, COLOURS[cmp.verdict])]
    rows += [
        (
            f"{s.segment} (n={s.n})",
            x.delta,
            x.ci_low,
            x.ci_high,
            COLOURS[s.verdict or "inconclusive"],
        )
        for s in cmp.segments[:60]
        for x in [s.results.get(m)]
        if x is not None
    ]
    bound = _nice(max([abs(v) for row in rows for v in row[1:4]] + [cmp.margin, 1e-9]) * 1.05)
    if is_rate(cmp, m):
        bound = min(bound, 1.0)
    return interval_chart(rows, lo=-bound, hi=bound, origin=0.0, fmt=lambda v: fmt_delta(cmp, m, v))


def _flipped(cmp: Comparison) -> list[dict[str, str]]:
    return [
        {
            "direction": f.direction,
            "case": f.case_id,
            "segment": f.segment or "",
            "expected": text(f.expected),
            "a": text(f.output_a if f.error_a is None else "error: " + f.error_a),
            "b": text(f.output_b if f.error_b is None else "error: " + f.error_b),
        }
        for f in cmp.flipped[:MAX_ROWS]
    ]


def comparison_page(cmp: Comparison) -> dict[str, Any]:
    """The values the comparison template lays out."""
    same_run = cmp.manifest_a is None or cmp.manifest_b is None
    same_run = same_run or cmp.manifest_b.id == cmp.manifest_a.id  # type: ignore[union-attr]
    return {
        "verdict": cmp.verdict,
        "verdict_text": VERDICT_TEXT[cmp.verdict],
        "headline": headline(cmp),
        "sides": _sides(cmp),
        "warnings": cmp.warnings,
        "cards": _cards(cmp),
        "coverage": _coverage(cmp),
        "confidence": f"{cmp.confidence:.0%}",
        "metric": cmp.metric,
        "metrics": metric_rows(cmp),
        "segments": _segments(cmp),
        "histograms": [
            histogram_chart(
                name, h.edges, [("A", h.counts_a, COLOURS["a"]), ("B", h.counts_b, COLOURS["b"])]
            )
            for name, h in cmp.histograms.items()
        ],
        "n_regressed": len(cmp.regressed),
        "n_improved": len(cmp.improved),
        "flipped": _flipped(cmp),
        "n_flipped": len(cmp.flipped),
        "usage": [usage_row(u) for u in cmp.usage if u.n_a or u.n_b],
        "flaky": [(side, f) for side, f in (("A", cmp.flaky_a), ("B", cmp.flaky_b)) if f],
        "manifest_a": _manifest(cmp.manifest_a),
        "manifest_b": None if same_run else _manifest(cmp.manifest_b),
    }


def comparison_html(cmp: Comparison) -> str:
    """A comparison as one self-contained HTML page."""
    page = comparison_page(cmp)
    return render("report/comparison.html.j2", page=page, **page)


def write_comparison_html(path: Path, cmp: Comparison) -> None:
    with atomic_writer(Path(path)) as fh:
        fh.write(comparison_html(cmp))
