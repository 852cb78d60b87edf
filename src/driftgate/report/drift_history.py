"""`drift history` rendered: terminal sparklines, JSON for alerting pipelines and an offline
HTML chart (the data — checks, per-signal series — is `driftgate.drift.history`'s).

    checks = DriftStore.for_key(ws, key).checks()
    print(render_history(checks))
    Path("drift.html").write_text(history_html(checks, title="categorize-sim"))

Alerts are marked: `!` under a sparkline where the signal drifted in a check that alerted,
`·` where it drifted alone; the HTML chart draws each threshold dashed and drift points red.
The page is the report template (`report/history.html.j2`): inline SVG, no script, no
network, every name autoescaped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..drift.history import Point, checked, series
from ..drift.schema import DriftCheck

_BARS = "▁▂▃▄▅▆▇█"
# Chart size in px, the padding that keeps the value labels inside it, and the strip under
# it that holds the time axis (check dates).
_W, _H, _PAD, _AXIS = 640, 110, 28, 18
_TICKS = 5  # dates on the time axis at most
# SVG attributes take literal colours: value line, drift point, alert band, threshold line.
_VALUE, _DRIFT, _BAND, _THRESHOLD = "#3366cc", "#d93025", "#f4c7c3", "#999"


def sparkline(
    values: Sequence[float | None], *, lo: float | None = None, hi: float | None = None
) -> str:
    """One character per value scaled to [lo, hi] (default: the values' range); gaps as ' '."""
    real = [v for v in values if v is not None]
    if not real:
        return " " * len(values)
    lo = min(real) if lo is None else lo
    hi = max(real) if hi is None else hi
    span = hi - lo
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        else:
            k = 0 if span <= 0 else int((min(max(v, lo), hi) - lo) / span * (len(_BARS) - 1) + 0.5)
            out.append(_BARS[k])
    return "".join(out)


def markers(points: Sequence[Point]) -> str:
    """`!` where the signal drifted in a check that alerted, `·` where it drifted alone."""
    return "".join(
        "!" if p.verdict == "drift" and p.alert else "·" if p.verdict == "drift" else " "
        for p in points
    )


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def _date(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts))


# ---- terminal ----------------------------------------------------------------------------
def render_history(checks: Sequence[DriftCheck], *, width: int = 60) -> str:
    """Plain-text history: per arm, one sparkline per signal with its alerts marked."""
    done = checked(checks)
    if not done:
        return "no checks yet besides the baseline: run `driftgate drift check` again later"
    first, last = done[0], done[-1]
    alerts = sum(c.alert for c in done)
    lines = [
        f"{len(done)} checks from {_date(first.created_at)} to {_date(last.created_at)}; "
        f"{alerts} alert{'s' if alerts != 1 else ''} (! alert, · drift alone)"
    ]
    for arm, sigs in series(done[-width:]).items():
        lines.append(f"\n{arm}")
        name_w = max(len(n) for n in sigs)
        for name, pts in sigs.items():
            lines += _signal_lines(name, pts, name_w)
    return "\n".join(lines)


def _signal_lines(name: str, pts: Sequence[Point], name_w: int) -> list[str]:
    vals = [p.value for p in pts]
    thr = [p.threshold for p in pts if p.threshold is not None]
    # Scale to include the threshold, so a bar reaching the top means "at the line".
    hi = max([v for v in vals if v is not None] + thr[-1:], default=None)
    lines = [
        f"  {name:<{name_w}}  {sparkline(vals, hi=hi)}  last {_fmt(pts[-1].value)}"
        f" (threshold {_fmt(pts[-1].threshold)}) {pts[-1].verdict}"
    ]
    marks = markers(pts)
    if marks.strip():
        lines.append(f"  {'':<{name_w}}  {marks}")
    return lines


# ---- JSON ----------------------------------------------------------------------------------
def history_json(checks: Sequence[DriftCheck]) -> dict[str, Any]:
    """Series for alerting pipelines: {arm: {signal: [{check, time, value, threshold, verdict, alert}]}}."""
    return {
        "checks": [
            {
                "id": c.id,
                "created_at": c.created_at,
                "status": c.status,
                "alert": c.alert,
                "run_id": c.run_id,
            }
            for c in checks
        ],
        "series": {
            arm: {name: [_point_json(p) for p in pts] for name, pts in sigs.items()}
            for arm, sigs in series(checked(checks)).items()
        },
    }


def _point_json(p: Point) -> dict[str, Any]:
    return {
        "check": p.check_id,
        "created_at": p.created_at,
        "value": p.value,
        "threshold": p.threshold,
        "verdict": p.verdict,
        "alert": p.alert,
    }


# ---- HTML ----------------------------------------------------------------------------------
@dataclass(slots=True)
class Chart:
    """One signal's chart as plain values for the template: SVG coordinates, formatted
    labels; `empty` when no check measured the signal (insufficient data)."""

    name: str
    width: int = _W
    height: int = _H + _AXIS
    empty: bool = False
    bands: list[str] = field(default_factory=list)  # x of each alerting check
    threshold_path: str = ""
    value_path: str = ""
    points: list[dict[str, str]] = field(default_factory=list)  # x, y, colour, tip
    hi: str = ""
    lo: str = ""
    ticks: list[dict[str, str]] = field(default_factory=list)  # x, label: when checks ran
    axis_y: int = _H + _AXIS - 4
    colours: dict[str, str] = field(
        default_factory=lambda: {"value": _VALUE, "band": _BAND, "threshold": _THRESHOLD}
    )


def chart(name: str, pts: Sequence[Point]) -> Chart:
    """Values and thresholds of one signal on a shared scale, alerts as bands."""
    vals = [p.value for p in pts]
    thr = [p.threshold for p in pts]
    real = [v for v in vals + thr if v is not None]
    if not real:
        return Chart(name, empty=True)
    lo, hi = min(real), max(real)
    hi = hi if hi > lo else lo + 1.0
    n = max(len(pts) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return _PAD + i * (_W - 2 * _PAD) / n, _H - _PAD / 2 - (v - lo) / (hi - lo) * (_H - _PAD)

    def path(values: Sequence[float | None]) -> str:
        pairs = (xy(i, v) for i, v in enumerate(values) if v is not None)
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)

    return Chart(
        name,
        bands=[f"{xy(i, lo)[0]:.1f}" for i, p in enumerate(pts) if p.alert],
        threshold_path=path(thr),
        value_path=path(vals),
        points=[_point(p, *xy(i, p.value)) for i, p in enumerate(pts) if p.value is not None],
        hi=_fmt(hi),
        lo=_fmt(lo),
        ticks=_ticks(pts, lambda i: xy(i, lo)[0]),
    )


def _ticks(pts: Sequence[Point], x_of: Any) -> list[dict[str, str]]:
    """The time axis: checks are evenly spaced (one per column), so each tick names the
    date of the check it stands under — the first, the last and a few between."""
    n = len(pts)
    picks = sorted({round(k * (n - 1) / (_TICKS - 1)) for k in range(_TICKS)}) if n > 1 else [0]
    anchor = {0: "start", n - 1: "end"}
    return [
        {
            "x": f"{x_of(i):.1f}",
            "label": time.strftime("%m-%d %H:%M", time.gmtime(pts[i].created_at)),
            "anchor": anchor.get(i, "middle"),
        }
        for i in picks
    ]


def summary_rows(sigs: dict[str, list[Point]]) -> list[list[str]]:
    """Per signal: checks that measured it, its last value and threshold, its last
    verdict, and in how many checks it drifted (and how many of those alerted)."""
    rows = []
    for name, pts in sigs.items():
        measured = [p for p in pts if p.value is not None]
        last = pts[-1]
        drifted = [p for p in pts if p.verdict == "drift"]
        rows.append(
            [
                name,
                str(len(measured)),
                _fmt(last.value),
                _fmt(last.threshold),
                last.verdict,
                str(len(drifted)),
                str(sum(p.alert for p in drifted)),
            ]
        )
    return rows


def _point(p: Point, x: float, y: float) -> dict[str, str]:
    return {
        "x": f"{x:.1f}",
        "y": f"{y:.1f}",
        "colour": _DRIFT if p.verdict == "drift" else _VALUE,
        "tip": f"{_date(p.created_at)}  {_fmt(p.value)} (threshold {_fmt(p.threshold)}) {p.verdict}",
    }


def history_page(checks: Sequence[DriftCheck], *, title: str = "drift history") -> dict[str, Any]:
    """The values a history page lays out: one summary table and one chart per signal, per
    arm (the static page and `driftgate ui`'s Drift page)."""
    done = checked(checks)
    arms = [
        (arm, summary_rows(sigs), [chart(name, pts) for name, pts in sigs.items()])
        for arm, sigs in series(done).items()
    ]
    return {
        "title": title,
        "n_checks": len(done),
        "n_alerts": sum(c.alert for c in done),
        "span": f"from {_date(done[0].created_at)} to {_date(done[-1].created_at)} (UTC)"
        if done
        else "",
        "arms": arms,
    }


def history_html(checks: Sequence[DriftCheck], *, title: str = "drift history") -> str:
    """A self-contained page (inline SVG, no scripts, no network) with one chart per signal."""
    from .html import render

    return render("report/history.html.j2", **history_page(checks, title=title))
