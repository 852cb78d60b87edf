"""`drift history`: each signal over time, as terminal sparklines or an offline HTML chart.

    checks = DriftStore.for_key(ws, key).checks()
    print(render_history(checks))
    Path("drift.html").write_text(history_html(checks, title="categorize-sim"))

Alerts are marked: `!` under a sparkline where the signal drifted in a check that alerted,
`·` where it drifted alone; the HTML chart draws each threshold dashed and drift points red.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .model import DriftCheck

_BARS = "▁▂▃▄▅▆▇█"


@dataclass(slots=True)
class Point:
    check_id: str
    created_at: float
    value: float | None
    threshold: float | None
    verdict: str
    alert: bool


def series(checks: Sequence[DriftCheck]) -> dict[str, dict[str, list[Point]]]:
    """arm → signal → one point per check (oldest first); baseline checks are skipped."""
    out: dict[str, dict[str, list[Point]]] = {}
    for c in checks:
        for arm in c.arms:
            for s in arm.signals:
                out.setdefault(arm.arm, {}).setdefault(s.name, []).append(
                    Point(c.id, c.created_at, s.value, s.threshold, s.verdict, arm.alert)
                )
    return out


def latest_alerted(checks: Sequence[DriftCheck]) -> bool:
    """Whether the latest check that compared (not a baseline) alerted: `drift history`'s
    exit status, so a pipeline can poll the history instead of running a check."""
    latest = [c for c in checks if c.status == "checked"]
    return bool(latest and latest[-1].alert)


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
    return "".join(
        "!" if p.verdict == "drift" and p.alert else "·" if p.verdict == "drift" else " "
        for p in points
    )


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def render_history(checks: Sequence[DriftCheck], *, width: int = 60) -> str:
    """Plain-text history: per arm, one sparkline per signal with its alerts marked."""
    checked = [c for c in checks if c.status == "checked"]
    if not checked:
        return "no checks yet besides the baseline: run `driftgate drift check` again later"
    lines = []
    first, last = checked[0], checked[-1]
    alerts = sum(c.alert for c in checked)
    lines.append(
        f"{len(checked)} checks from {_date(first.created_at)} to {_date(last.created_at)}; "
        f"{alerts} alert{'s' if alerts != 1 else ''} (! alert, · drift alone)"
    )
    for arm, sigs in series(checked[-width:]).items():
        lines.append(f"\n{arm}")
        name_w = max(len(n) for n in sigs)
        for name, pts in sigs.items():
            vals = [p.value for p in pts]
            thr = [p.threshold for p in pts if p.threshold is not None]
            # Scale to include the threshold, so a bar reaching the top means "at the line".
            hi = max([v for v in vals if v is not None] + thr[-1:], default=None)
            lines.append(
                f"  {name:<{name_w}}  {sparkline(vals, hi=hi)}  last {_fmt(pts[-1].value)}"
                f" (threshold {_fmt(pts[-1].threshold)}) {pts[-1].verdict}"
            )
            marks = markers(pts)
            if marks.strip():
                lines.append(f"  {'':<{name_w}}  {marks}")
    return "\n".join(lines)


def _date(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts))


def history_json(checks: Sequence[DriftCheck]) -> dict:
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
            arm: {
                name: [
                    {
                        "check": p.check_id,
                        "created_at": p.created_at,
                        "value": p.value,
                        "threshold": p.threshold,
                        "verdict": p.verdict,
                        "alert": p.alert,
                    }
                    for p in pts
                ]
                for name, pts in sigs.items()
            }
            for arm, sigs in series([c for c in checks if c.status == "checked"]).items()
        },
    }


# ---- HTML ------------------------------------------------------------------------------

_W, _H, _PAD = 640, 110, 28


def _chart(name: str, pts: Sequence[Point]) -> str:
    vals = [p.value for p in pts]
    thr = [p.threshold for p in pts]
    real = [v for v in vals + thr if v is not None]
    if not real:
        return f"<h3>{html.escape(name)}</h3><p>no values (insufficient data)</p>"
    lo, hi = min(real), max(real)
    hi = hi if hi > lo else lo + 1.0
    n = max(len(pts) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return _PAD + i * (_W - 2 * _PAD) / n, _H - _PAD / 2 - (v - lo) / (hi - lo) * (_H - _PAD)

    parts = [
        f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="{html.escape(name)} over time">',
        f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="#fafafa" stroke="#ddd"/>',
    ]
    for i, p in enumerate(pts):
        if p.alert:
            x, _ = xy(i, lo)
            parts.append(
                f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{_H - 4}" stroke="#f4c7c3" stroke-width="6"/>'
            )
    tpath = " ".join(
        f"{x:.1f},{y:.1f}" for x, y in (xy(i, t) for i, t in enumerate(thr) if t is not None)
    )
    if tpath:
        parts.append(
            f'<polyline points="{tpath}" fill="none" stroke="#999" stroke-dasharray="4 3"/>'
        )
    vpath = " ".join(
        f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(vals) if v is not None)
    )
    parts.append(f'<polyline points="{vpath}" fill="none" stroke="#3366cc" stroke-width="1.5"/>')
    for i, p in enumerate(pts):
        if p.value is None:
            continue
        x, y = xy(i, p.value)
        color = "#d93025" if p.verdict == "drift" else "#3366cc"
        tip = html.escape(
            f"{_date(p.created_at)}  {_fmt(p.value)} (threshold {_fmt(p.threshold)}) {p.verdict}"
        )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{tip}</title></circle>'
        )
    parts.append(
        f'<text x="4" y="12" font-size="10" fill="#666">{_fmt(hi)}</text>'
        f'<text x="4" y="{_H - 4}" font-size="10" fill="#666">{_fmt(lo)}</text></svg>'
    )
    return f"<h3>{html.escape(name)}</h3>" + "".join(parts)


def history_html(checks: Sequence[DriftCheck], *, title: str = "drift history") -> str:
    """A self-contained page (inline SVG, no scripts, no network) with one chart per signal."""
    checked = [c for c in checks if c.status == "checked"]
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(checked)} checks; {sum(c.alert for c in checked)} alerts (red bands). Blue: value; "
        "dashed: threshold; red points: drift.</p>",
    ]
    for arm, sigs in series(checked).items():
        body.append(f"<h2>{html.escape(arm)}</h2>")
        body += [_chart(name, pts) for name, pts in sigs.items()]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(title) + "</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}h3{margin:1.2em 0 .3em;"
        "font-size:1em}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )
