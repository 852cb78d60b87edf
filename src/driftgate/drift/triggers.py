"""Triggers: alert when at least k signals drift together.

One noisy statistic crossing its line is what makes a monitor page every Tuesday; a
change in the provider moves several at once (scores and answers, or lengths, cost and
the output distribution). A rule `{min_signals: k, signals: [...]}` fires when at least k
of its signals (every signal when the list is empty) say `drift`; a signal with
insufficient data never counts. A check alerts when any rule fires for any arm.

    rules = [TriggerRule(min_signals=2), TriggerRule(min_signals=1, signals=["format_validity"])]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import Field

from .._strict import Strict
from .schema import ArmCheck, SignalResult


class TriggerRule(Strict):
    """Fires when at least `min_signals` of `signals` (all signals when empty) drift together."""

    name: str | None = None
    min_signals: int = Field(2, ge=1, le=50)
    signals: list[str] = Field(
        default_factory=list, description="Signal names; empty: every signal"
    )

    @property
    def label(self) -> str:
        return (
            self.name
            or f"{self.min_signals}-of-{'+'.join(self.signals) if self.signals else 'any'}"
        )


def rule_fires(
    drifted: set[str], rule: TriggerRule, available: Iterable[str] | None = None
) -> bool:
    """Whether `rule` fires given the names of the signals that drifted."""
    scope = (
        set(rule.signals) if rule.signals else set(available if available is not None else drifted)
    )
    return len(drifted & scope) >= rule.min_signals


def fired_rules(signals: Sequence[SignalResult], rules: Sequence[TriggerRule]) -> list[str]:
    """Labels of the rules that fire on these signal results."""
    drifted = {s.name for s in signals if s.verdict == "drift"}
    names = [s.name for s in signals]
    return [rule.label for rule in rules if rule_fires(drifted, rule, names)]


def apply_triggers(arm: ArmCheck, rules: Sequence[TriggerRule]) -> ArmCheck:
    """Set `fired` and `alert` of an arm's check from its signals."""
    arm.fired = fired_rules(arm.signals, rules)
    arm.alert = bool(arm.fired)
    return arm
