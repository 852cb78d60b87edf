"""Drift checks as plain text: the trigger rules line and the check's result line."""

from __future__ import annotations

from driftgate.drift.schema import ArmCheck, DriftCheck, SignalResult
from driftgate.drift.triggers import TriggerRule
from driftgate.report.drift import describe_rules, render_check


def test_rules_in_one_line() -> None:
    rules = [
        TriggerRule(min_signals=2, signals=["format_validity", "score_change"]),
        TriggerRule(min_signals=1),
    ]
    assert describe_rules(rules) == "≥2 of [format_validity, score_change] or ≥1 of [any signals]"
    assert describe_rules([]) == "no rules (never alerts)"


def test_an_alerting_check_names_its_rule_and_trigger() -> None:
    drift = SignalResult(name="format_validity", value=0.3, threshold=0.1, verdict="drift", min_n=5)
    arm = ArmCheck(arm="a", baseline_arm="a", signals=[drift], fired=["r1"], alert=True)
    check = DriftCheck(id="c1", key="k", status="checked", run_id="r", arms=[arm], alert=True)
    text = render_check(check, [TriggerRule(min_signals=1, signals=["format_validity"])])
    assert "format_validity  DRIFT  0.3 > 0.1" in text and "ALERT: rule r1 fired" in text
    assert "\ntrigger: ≥1 of [format_validity]\n" in text
    assert text.endswith("result: DRIFT ALERT (exit 1)")
