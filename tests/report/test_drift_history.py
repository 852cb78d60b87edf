"""`drift history` rendered: sparklines with alert marks, the JSON series and the offline
HTML chart (autoescaped template, inline SVG, no script)."""

from __future__ import annotations

import re

from driftgate.drift.history import checked, latest_alerted, series
from driftgate.drift.schema import ArmCheck, DriftCheck, SignalResult
from driftgate.report.drift_history import (
    chart,
    history_html,
    history_json,
    markers,
    render_history,
    sparkline,
)

T0 = 1_700_000_000.0  # 2023-11-14 22:13 UTC


def _check(i: int, values: dict[str, float | None], *, alert: bool, arm: str = "cat · sim/a@v1"):
    signals = [
        SignalResult(
            name=name,
            value=v,
            threshold=None if v is None else 0.5,
            verdict="insufficient_data" if v is None else "drift" if v > 0.5 else "ok",
            min_n=5,
        )
        for name, v in values.items()
    ]
    return DriftCheck(
        id=f"c{i}",
        key="k",
        status="checked",
        run_id=f"r{i}",
        created_at=T0 + 3600 * i,
        arms=[ArmCheck(arm=arm, baseline_arm=arm, signals=signals, alert=alert)],
        alert=alert,
    )


def _history() -> list[DriftCheck]:
    baseline = DriftCheck(id="c0", key="k", status="baseline_recorded", run_id="r0", created_at=T0)
    return [
        baseline,
        _check(1, {"format_validity": 0.1, "gap": None}, alert=False),
        _check(2, {"format_validity": 0.9, "gap": None}, alert=False),  # drift alone
        _check(3, {"format_validity": 0.2, "gap": None}, alert=False),
        _check(4, {"format_validity": 0.8, "gap": None}, alert=True),  # drift in an alert
    ]


def test_sparkline() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([1.0, None, 1.0]) == "▁ ▁"
    assert sparkline([0.0, 10.0], hi=20.0) == "▁▅"


def test_series_skips_the_baseline_and_latest_alerted_reads_the_last_check() -> None:
    checks = _history()
    assert [c.id for c in checked(checks)] == ["c1", "c2", "c3", "c4"]
    pts = series(checked(checks))["cat · sim/a@v1"]["format_validity"]
    assert [p.verdict for p in pts] == ["ok", "drift", "ok", "drift"]
    assert markers(pts) == " · !"
    assert latest_alerted(checks) and not latest_alerted(checks[:4])
    assert not latest_alerted(checks[:1])


def test_text_history_marks_alerts_and_scales_to_the_threshold() -> None:
    text = render_history(_history())
    assert text.splitlines()[0] == (
        "4 checks from 2023-11-14 23:13 to 2023-11-15 02:13; 1 alert (! alert, · drift alone)"
    )
    lines = text.splitlines()
    fv = next(i for i, line in enumerate(lines) if line.lstrip().startswith("format_validity"))
    assert lines[fv] == "  format_validity  ▁█▂▇  last 0.8 (threshold 0.5) drift"
    assert lines[fv + 1] == "                    · !"
    assert "gap                    last n/a (threshold n/a) insufficient_data" in text
    assert render_history(_history(), width=1).splitlines()[0].startswith("4 checks")
    assert "format_validity  ▁  last 0.8" in render_history(_history(), width=1)  # the last one
    assert "no checks yet" in render_history(_history()[:1])


def test_json_series_per_arm_and_signal() -> None:
    data = history_json(_history())
    assert [c["status"] for c in data["checks"]][:2] == ["baseline_recorded", "checked"]
    pts = data["series"]["cat · sim/a@v1"]["format_validity"]
    assert [p["check"] for p in pts] == ["c1", "c2", "c3", "c4"]
    assert pts[-1] == {
        "check": "c4",
        "created_at": T0 + 4 * 3600,
        "value": 0.8,
        "threshold": 0.5,
        "verdict": "drift",
        "alert": True,
    }


def test_chart_geometry_puts_the_extremes_on_the_edges() -> None:
    pts = series(checked(_history()))["cat · sim/a@v1"]["format_validity"]
    c = chart("format_validity", pts)
    ys = [float(p["y"]) for p in c.points]
    assert (c.lo, c.hi) == ("0.1", "0.9") and not c.empty
    assert max(ys) == 110 - 14 and min(ys) == 110 - 14 - 82  # lowest at the bottom, highest on top
    assert [p["colour"] for p in c.points] == ["#3366cc", "#d93025", "#3366cc", "#d93025"]
    assert c.bands == ["612.0"]  # the alerting check, the last one
    assert len(c.threshold_path.split()) == 4
    assert chart("gap", series(checked(_history()))["cat · sim/a@v1"]["gap"]).empty


def test_html_is_offline_autoescaped_and_has_one_chart_per_measured_signal() -> None:
    hostile = '<script>alert("x")</script>'
    checks = [*_history(), _check(5, {hostile: 0.3}, alert=False, arm=f"arm {hostile}")]
    page = history_html(checks, title=f"history {hostile}")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert page.count("<svg") == 2  # format_validity and the hostile signal; gap has no values
    assert "no values (insufficient data)" in page
    assert re.search(r"5 checks from \S+ \S+ to \S+ \S+ \(UTC\); 1 alerts \(red bands\)", page)
    # A summary table per arm, and a time axis of check dates under every chart.
    row = re.search(r"<tr><td>format_validity</td>(.*?)</tr>", page).group(1)
    assert re.findall(r"<td class=num>([^<]*)</td>", row) == ["4", "0.8", "0.5", "drift", "2", "1"]
    assert len(re.findall(r'text-anchor="(?:start|middle|end)">\d\d-\d\d \d\d:\d\d<', page)) >= 4
    assert re.search(r"<title>2023-11-15 02:13  0\.8 \(threshold 0\.5\) drift</title>", page)
