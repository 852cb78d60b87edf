"""Sizing a golden set for a paired comparison (`driftgate power`).

    plan = golden_set_power(0.85, delta=0.03)              # cases needed
    plan = golden_set_power(0.85, delta=0.03, cases=500)   # + what 500 cases detect

Paired McNemar test on pass/fail outcomes (`driftgate.stats`): how many cases detect a
drop of `delta` from a `baseline` pass rate, and what a golden set of `cases` detects.
The discordant share (cases the versions disagree on) drives the answer: measured from a
past comparison (`discordance`), else implied by a `correlation` of paired outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


@dataclass
class PowerPlan:
    baseline: float
    alpha: float
    power: float
    correlation: float | None  # the default correlation when neither it nor discordance given
    discordance: float | None = None  # given, or implied by `delta` and the correlation
    delta: float | None = None
    cases_needed: int | None = None
    cases: int | None = None
    detectable_delta: float | None = None
    power_at_delta: float | None = None
    given_discordance: bool = False

    def as_json(self) -> dict[str, Any]:
        """The fields that were asked for, in the order `driftgate power --json` prints."""
        out: dict[str, Any] = {
            "baseline": self.baseline,
            "alpha": self.alpha,
            "power": self.power,
            "correlation": self.correlation,
        }
        if self.given_discordance:
            out["discordance"] = self.discordance
        if self.delta is not None:  # a given discordance keeps its place (dict.update)
            out.update(
                delta=self.delta, discordance=self.discordance, cases_needed=self.cases_needed
            )
        if self.cases is not None:
            out.update(cases=self.cases, detectable_delta=self.detectable_delta)
            if self.delta is not None:
                out["power_at_delta"] = self.power_at_delta
        return out


def golden_set_power(
    baseline: float,
    *,
    delta: float | None = None,
    cases: int | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    correlation: float | None = None,
    discordance: float | None = None,
) -> PowerPlan:
    """Cases needed to detect a drop of `delta`, and with `cases` the smallest drop that
    many cases detect (and the power at `delta`). One of `delta` and `cases` is needed."""
    from .. import stats

    if delta is None and cases is None:
        raise ConfigError("give --delta (cases needed), --cases (detectable change), or both")
    kw: dict[str, Any] = dict(alpha=alpha, correlation=correlation, discordance=discordance)
    known = correlation is not None or discordance is not None
    plan = PowerPlan(
        baseline, alpha, power, correlation if known else stats.DEFAULT_CORRELATION,
        discordance=discordance, delta=delta, cases=cases,
        given_discordance=discordance is not None,
    )  # fmt: skip
    if delta is not None:
        plan.cases_needed = stats.required_cases(baseline, delta, power=power, **kw)
        plan.discordance = stats.discordance_from(
            baseline, delta, correlation=correlation, discordance=discordance
        )
    if cases is not None:
        plan.detectable_delta = stats.detectable_delta(baseline, cases, power=power, **kw)
        if delta is not None:
            plan.power_at_delta = stats.power(baseline, delta, cases, **kw)
    return plan
