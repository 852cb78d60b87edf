"""Single-file HTML reports: the template environment and the charts they share, one run's
page (a comparison's page is in `html_compare`, the CI gate's in `html_gate`).

Self-contained and offline: inline CSS, inline SVG charts and a few lines of vanilla JS
(table filters), no CDN, fonts or other requests, so the file can be attached to a CI run
or mailed and still open years later. The pages are jinja2 templates shipped in
`driftgate/templates/report/`, rendered with autoescape: every piece of user content
(outputs, ids, names) is HTML-escaped by the template engine; nothing from a run ever
reaches the script. When the script has run without throwing, it sets `data-ready="1"` on
<body> (the headless-browser test checks it).

Each page is a small function that prepares plain values (formatted numbers, chart
geometry) and a template that lays them out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._redact import redact_manifest
from ..store._atomic import atomic_writer
from ..store.records import CaseResult, RunManifest
from ._format import (
    answer_text,
    as_result,
    failure_reasons,
    fmt_cost,
    fmt_duration,
    fmt_git,
    fmt_ms,
    fmt_num,
    fmt_pct,
    fmt_rate_ci,
    fmt_time,
    summary_of,
    trim,
)

if TYPE_CHECKING:
    import jinja2

# SVG attributes take literal colours (not CSS variables); the same values as in style.css.
COLOURS = {
    "a": "#3b6fd4",
    "b": "#e0822b",
    "better": "#1f9d55",
    "worse": "#d64545",
    "inconclusive": "#c98a00",
    "equivalent": "#778899",
}
MAX_ROWS = 2000  # table rows per report: a browser stays responsive, the file stays small


@cache
def environment() -> jinja2.Environment:
    """The jinja2 environment of the report templates (package data of driftgate). These
    templates are trusted, so a plain Environment; autoescape is on for every template."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("driftgate", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)


def text(value: Any) -> str:
    """A value as the text of a cell: None empty, non-strings as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


# ---- charts ----------------------------------------------------------------------------
@dataclass(slots=True)
class Chart:
    """An inline SVG's size and its pieces, positions already formatted."""

    width: int
    height: int
    title: str = ""
    parts: dict[str, Any] = field(default_factory=dict)


def interval_chart(
    rows: Sequence[tuple[str, float, float, float, str]],
    *,
    lo: float,
    hi: float,
    origin: float,
    fmt: Callable[[float], str],
    width: int = 760,
) -> Chart:
    """Horizontal bars from `origin` to each value, with interval whiskers.

    rows: (label, value, ci_low, ci_high, css colour).
    """
    # Room for the longest label (~7 px per character at 12 px), up to half the width; a
    # longer one loses its middle, not its end (the segment that tells rows apart), and
    # shows whole on hover.
    longest = max((len(r[0]) for r in rows), default=10)
    left = int(min(max(longest * 7 + 16, 120), width // 2))
    max_chars = (left - 16) // 7
    right, row_h, top = width - 90, 28, 24
    span = (hi - lo) or 1.0

    def x(v: float) -> str:
        return f"{left + (min(max(v, lo), hi) - lo) / span * (right - left):.1f}"

    h = top + row_h * len(rows) + 8
    ticks = [
        {"x": x(t), "label": fmt(t)}
        for t in (lo, lo + span / 4, lo + span / 2, lo + 3 * span / 4, hi)
    ]
    bars = []
    for i, (label, v, c_lo, c_hi, colour) in enumerate(rows):
        y = top + i * row_h + row_h / 2
        x0, x1 = sorted((float(x(origin)), float(x(v))))
        bars.append(
            {
                "label": fit_label(label, max_chars),
                "full": label,
                "y": f"{y:.1f}",
                "text_y": f"{y + 4:.1f}",
                "rect_x": f"{x0:.1f}",
                "rect_y": f"{y - 6:.1f}",
                "rect_w": f"{max(x1 - x0, 1.5):.1f}",
                "colour": colour,
                "lo": x(c_lo),
                "hi": x(c_hi),
                "whisker_top": f"{y - 7:.1f}",
                "whisker_bottom": f"{y + 7:.1f}",
                "value": fmt(v),
            }
        )
    parts = {
        "ticks": ticks,
        "origin": x(origin),
        "top": top - 6,
        "bottom": h - 6,
        "tick_y": top - 10,
        "label_x": left - 8,
        "value_x": right + 8,
        "bars": bars,
    }
    return Chart(width, h, parts=parts)


def fit_label(label: str, max_chars: int) -> str:
    """`label` within `max_chars`, its middle elided so both ends stay readable."""
    if len(label) <= max_chars:
        return label
    tail = max((max_chars - 1) * 3 // 5, 1)
    return f"{label[: max_chars - 1 - tail]}…{label[-tail:]}"


def histogram_chart(
    title: str,
    edges: Sequence[float],
    series: Sequence[tuple[str, Sequence[int], str]],
    width: int = 360,
    height: int = 170,
) -> Chart:
    """Side-by-side bars per bin for each series (name, counts, colour)."""
    left, bottom, top = 36, height - 34, 22
    bins = len(edges) - 1
    peak = max([max(c) if len(c) else 0 for _, c, _ in series] + [1])
    bw = (width - left - 8) / max(bins, 1)
    sub = (bw - 4) / max(len(series), 1)
    drawn = []
    for s, (name, counts, colour) in enumerate(series):
        bars = []
        for i, c in enumerate(counts):
            hgt = (bottom - top) * c / peak
            bars.append(
                {
                    "x": f"{left + i * bw + 2 + s * sub:.1f}",
                    "y": f"{bottom - hgt:.1f}",
                    "w": f"{sub:.1f}",
                    "h": f"{hgt:.1f}",
                    "tip": f"{name}: {c}",
                }
            )
        drawn.append({"x": width - 120 + s * 58, "name": name, "colour": colour, "bars": bars})
    ticks = [
        {"x": f"{left + i * bw:.1f}", "label": f"{edges[i]:.3g}"} for i in (0, bins // 2, bins)
    ]
    parts = {
        "left": left,
        "top": top,
        "bottom": bottom,
        "peak": peak,
        "series": drawn,
        "ticks": ticks,
    }
    return Chart(width, height, title, parts)


def _nice(x: float) -> float:
    """The smallest of 1, 2, 4, 5 or 8 × 10^k that is ≥ x, so axis quarters are round numbers."""
    base = 10.0 ** math.floor(math.log10(x))
    return next(f * base for f in (1, 2, 4, 5, 8, 10) if f * base >= x * (1 - 1e-12))


def _manifest(manifest: RunManifest | None) -> dict[str, str] | None:
    if manifest is None:
        return None
    return {"id": manifest.id, "json": redact_manifest(manifest).model_dump_json(indent=2)}


# ---- one run ---------------------------------------------------------------------------
@dataclass(slots=True)
class _RunScan:
    """What one pass over a run's results collects for its page."""

    failures: list[dict[str, str]] = field(default_factory=list)
    n_fail: int = 0
    scores: dict[str, list[float]] = field(default_factory=dict)


def _scan(results: Iterable[CaseResult | dict[str, Any]]) -> _RunScan:
    scan = _RunScan()
    for item in results:
        r = as_result(item)
        if r.score is not None:
            scan.scores.setdefault(f"{r.prompt} · {r.model}", []).append(r.score)
        if r.passed and r.error is None:
            continue
        scan.n_fail += 1
        if len(scan.failures) < MAX_ROWS:
            scan.failures.append(
                {
                    "kind": "error" if r.error is not None else "failure",
                    "case": r.case_id + (f" #{r.repeat}" if r.repeat else ""),
                    "arm": f"{r.prompt} · {r.model}",
                    "segment": r.segment or "",
                    "expected": text(r.expected),
                    "output": answer_text(r.output, r.tool_calls),
                    "why": "; ".join(failure_reasons(r)),
                }
            )
    return scan


def _run_histograms(scores: dict[str, list[float]]) -> list[Chart]:
    if not scores:
        return []
    import numpy as np

    edges = np.round(np.linspace(0.0, 1.0, 11), 12)
    charts = []
    for arm, vals in list(scores.items())[:12]:
        x = np.clip(np.asarray(vals, dtype=float), 0.0, 1.0)
        counts = np.histogram(x, edges)[0].tolist()
        charts.append(
            histogram_chart(trim(arm, 40), edges.tolist(), [("results", counts, COLOURS["a"])])
        )
    return charts


def _run_segments(by_segment: dict[str, Any]) -> Chart | None:
    # One arm: the segment alone names the row (the arm is the page's).
    arms = {(v.get("prompt"), v.get("model")) for v in by_segment.values()}
    bars = [
        (
            (f"{v.get('prompt')} · {v.get('model')} · " if len(arms) > 1 else "")
            + str(v.get("segment") or "—"),
            v["pass_rate"],
            *(v.get("pass_rate_ci") or (v["pass_rate"], v["pass_rate"])),
            COLOURS["a"],
        )
        for v in list(by_segment.values())[:60]
        if v.get("pass_rate") is not None
    ]
    return interval_chart(bars, lo=0.0, hi=1.0, origin=0.0, fmt=fmt_pct) if bars else None


def run_page(
    manifest: RunManifest, results: Iterable[CaseResult | dict[str, Any]]
) -> dict[str, Any]:
    """The values the run template lays out."""
    from .terminal import verdict_reason

    s = summary_of(manifest)
    scan = _scan(results)
    cards = [
        ("card-pass", "pass rate", fmt_pct(s.pass_rate)),
        ("card-results", "results", str(s.results)),
        ("card-errors", "errors", str(s.errors)),
        ("card-score", "mean score", fmt_num(s.mean_score)),
        ("card-cost", "cost", fmt_cost(s.cost_usd)),
        (
            "card-latency",
            "latency p50 / p95",
            f"{fmt_ms(s.latency_p50_ms)} / {fmt_ms(s.latency_p95_ms)}",
        ),
    ]
    arms = [
        [
            k,
            str(a["results"]),
            fmt_rate_ci(a["pass_rate"], a.get("pass_rate_ci")),
            fmt_num(a.get("mean_score")),
            str(a["errors"]),
            fmt_cost(a.get("cost_usd")),
            fmt_ms(a.get("latency_p50_ms")),
            fmt_ms(a.get("latency_p95_ms")),
        ]
        for k, a in s.by_arm.items()
    ]
    return {
        "manifest": manifest,
        "verdict": manifest.verdict or manifest.status,
        "verdict_reason": verdict_reason(manifest).removeprefix(": "),
        "cards": cards,
        "meta": {
            "suite": manifest.suite or "—",
            "git": fmt_git(manifest),
            "started": fmt_time(manifest.created_at),
            "duration": fmt_duration(manifest),
        },
        "arms": arms,
        "segments": _run_segments(s.by_segment),
        "histograms": _run_histograms(scan.scores),
        "failures": scan.failures,
        "n_fail": scan.n_fail,
        "manifest_block": _manifest(manifest),
    }


def run_html(manifest: RunManifest, results: Iterable[CaseResult | dict[str, Any]]) -> str:
    """One run as a self-contained HTML page: arms, segments, score histograms, failures."""
    return render("report/run.html.j2", **run_page(manifest, results))


def write_run_html(
    path: Path, manifest: RunManifest, results: Iterable[CaseResult | dict[str, Any]]
) -> None:
    with atomic_writer(Path(path)) as fh:
        fh.write(run_html(manifest, results))
