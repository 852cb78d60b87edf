"""Plain-text rendering of checks, traffic reports and tuning reports for the terminal.

Plain text (no colour codes) so cron mail, CI logs and `| tee` read the same as a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..drift.schema import DriftCheck, SignalResult, TrafficReport, TuningReport
from ..drift.triggers import TriggerRule

_MARK = {"ok": "ok", "drift": "DRIFT", "insufficient_data": "n/a"}


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


def describe_rules(rules: Sequence[TriggerRule]) -> str:
    """The trigger rules in one line: `≥2 of [a, b] or ≥1 of [any signals]`."""
    parts = []
    for r in rules:
        scope = ", ".join(r.signals) if r.signals else "any signals"
        parts.append(f"≥{r.min_signals} of [{scope}]")
    return " or ".join(parts) if parts else "no rules (never alerts)"


def signal_table(signals: Sequence[SignalResult], indent: str = "  ") -> list[str]:
    if not signals:
        return [f"{indent}(no signals)"]
    w = max(len(s.name) for s in signals)
    lines = []
    for s in signals:
        if s.verdict == "insufficient_data":
            lines.append(f"{indent}{s.name:<{w}}  {'n/a':<5}  {s.summary} (min {s.min_n})")
            continue
        src = f" {s.threshold_source}" if s.threshold_source in ("tuned", "config") else ""
        cmp = ">" if s.verdict == "drift" else "≤"
        lines.append(
            f"{indent}{s.name:<{w}}  {_MARK[s.verdict]:<5}  {_num(s.value)} {cmp} {_num(s.threshold)}{src}"
            f"  {s.summary}"
        )
    return lines


def render_check(check: DriftCheck, rules: Sequence[TriggerRule] | None = None) -> str:
    lines = [
        f"drift check {check.id}  suite {check.suite or '(object)'}  run {check.run_id}"
        + (f"  baseline {check.baseline_run_id}" if check.baseline_run_id else "")
    ]
    if check.status == "baseline_recorded":
        lines += [f"  {n}" for n in check.notes]
        lines.append("result: baseline recorded (exit 0)")
        return "\n".join(lines)
    sample = f"sample of {check.sample} per golden set" if check.sample else "all cases"
    lines.append(
        f"{check.cases} cases ({sample}); thresholds: "
        + (
            "tuned"
            if check.thresholds_tuned_at
            else "defaults (run `driftgate drift tune` once checks accumulate)"
        )
    )
    for arm in check.arms:
        name = (
            arm.arm
            if arm.arm == arm.baseline_arm
            else f"{arm.arm}  (baseline arm {arm.baseline_arm})"
        )
        lines.append(f"\n{name}  — {arm.n_common} cases compared")
        lines += signal_table(arm.signals)
        if arm.fired:
            lines.append(f"  ALERT: rule {', '.join(arm.fired)} fired")
    if check.notes:
        lines.append("")
        lines += [f"note: {n}" for n in check.notes]
    if rules is not None:
        lines.append(f"\ntrigger: {describe_rules(rules)}")
    lines.append(f"result: {'DRIFT ALERT (exit 1)' if check.alert else 'no drift (exit 0)'}")
    return "\n".join(lines)


def render_traffic(report: TrafficReport) -> str:
    lines = [
        f"prompt drift on {report.records} logged inputs ({report.inputs}), field {report.field!r}; "
        f"reference: {report.reference or 'none'}"
    ]
    lines += signal_table(report.signals)
    if report.fired:
        lines.append(f"  ALERT: rule {', '.join(report.fired)} fired")
    for u in report.unreviewed:
        lines.append(
            f"{'UNREVIEWED' if report.unreviewed_alerts else 'notice'}: prompt {u.ref} "
            f"({u.source}) digest {u.digest} was never evaluated"
            + (f" (last run {u.last_evaluated_run})" if u.last_evaluated_run else " (no run ever)")
        )
    lines += [f"note: {n}" for n in report.notes if not n.startswith("prompt ")]
    lines.append(f"result: {'DRIFT ALERT (exit 1)' if report.alert else 'no drift (exit 0)'}")
    return "\n".join(lines)


def render_tuning(report: TuningReport, rules: Sequence[TriggerRule]) -> str:
    lines = [
        f"tuned on {report.history} past checks for a false-alarm rate of at most {report.target:.1%} per check "
        f"(aiming at {report.safety:.0%} of it)",
        f"trigger: {describe_rules(rules)}",
        f"estimated false-alarm rate: {report.estimated_false_alarm_rate:.1%} (leave-one-check-out; 95% upper "
        f"bound {report.estimated_rate_ci_high:.1%}); per-signal tail {report.alpha:.3g}"
        + ("" if report.met else "  — TARGET NOT MET"),
    ]
    if report.thresholds:
        w = max(len(n) for n in report.thresholds)
        for name, t in report.thresholds.items():
            floor = " (floor)" if t.floor_applied else ""
            lines.append(
                f"  {name:<{w}}  {_num(t.threshold)}{floor}  past mean {_num(t.null_mean)}, "
                f"max {_num(t.null_max)}; detects {t.detectable}"
            )
    for name, value in report.fixed.items():
        lines.append(f"  {name}: fixed at {_num(value)} (not tuned)")
    if report.excluded:
        lines.append(f"excluded checks: {', '.join(report.excluded)}")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
