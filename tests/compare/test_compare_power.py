"""`golden_set_power`: what `driftgate power` computes, called from Python."""

from __future__ import annotations

import pytest

from driftgate import stats
from driftgate.compare.power import golden_set_power
from driftgate.errors import ConfigError


def test_cases_needed_and_what_a_golden_set_detects_match_the_statistics():
    plan = golden_set_power(0.85, delta=0.03, cases=400, alpha=0.1, correlation=0.3)
    kw = dict(alpha=0.1, correlation=0.3, discordance=None)
    assert plan.cases_needed == stats.required_cases(0.85, 0.03, power=0.8, **kw)
    assert plan.detectable_delta == stats.detectable_delta(0.85, 400, power=0.8, **kw)
    assert plan.power_at_delta == stats.power(0.85, 0.03, 400, **kw)
    assert list(plan.as_json()) == [
        "baseline", "alpha", "power", "correlation", "delta", "discordance", "cases_needed",
        "cases", "detectable_delta", "power_at_delta",
    ]  # fmt: skip


def test_a_measured_discordance_keeps_its_place_and_the_default_correlation_shows():
    only_cases = golden_set_power(0.9, cases=300)
    assert only_cases.as_json()["correlation"] == stats.DEFAULT_CORRELATION
    assert "discordance" not in only_cases.as_json() and only_cases.cases_needed is None
    measured = golden_set_power(0.9, delta=0.05, discordance=0.12).as_json()
    assert list(measured)[:6] == [
        "baseline",
        "alpha",
        "power",
        "correlation",
        "discordance",
        "delta",
    ]
    assert measured["correlation"] is None
    with pytest.raises(ConfigError, match="--delta"):
        golden_set_power(0.9)
