"""Sample size and power for paired pass/fail comparisons."""

from __future__ import annotations

import math

import pytest

from driftgate.errors import ConfigError
from driftgate.stats import detectable_delta, discordance_from, power, required_cases


def test_required_cases_hand_example_with_discordance() -> None:
    # psi 0.2, delta 0.05, alpha 0.05, power 0.8:
    # (1.959964 * sqrt(0.2) + 0.841621 * sqrt(0.2 - 0.0025))^2 / 0.0025 = 625.55 → 626
    assert required_cases(0.8, 0.05, discordance=0.2) == 626


def test_required_cases_hand_example_with_correlation() -> None:
    p1, p2, rho = 0.8, 0.75, 0.5
    p11 = p1 * p2 + rho * math.sqrt(p1 * (1 - p1) * p2 * (1 - p2))
    psi = p1 + p2 - 2 * p11  # 0.17679...
    assert discordance_from(0.8, 0.05) == pytest.approx(psi)
    n = (1.959964 * math.sqrt(psi) + 0.841621 * math.sqrt(psi - 0.0025)) ** 2 / 0.0025
    assert required_cases(0.8, 0.05) == math.ceil(n) == 553


def test_required_cases_monotone_in_delta_and_correlation() -> None:
    sizes = [required_cases(0.8, d) for d in (0.01, 0.02, 0.03, 0.05, 0.1, 0.2)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    by_rho = [required_cases(0.8, 0.05, correlation=r) for r in (0.0, 0.3, 0.6, 0.8)]
    assert by_rho == sorted(by_rho, reverse=True)
    # Stricter alpha or higher power → more cases.
    assert required_cases(0.8, 0.05, alpha=0.01) > required_cases(0.8, 0.05)
    assert required_cases(0.8, 0.05, power=0.9) > required_cases(0.8, 0.05)


def test_power_is_inverse_of_required_cases() -> None:
    n = required_cases(0.9, 0.03, correlation=0.6)
    assert power(0.9, 0.03, n, correlation=0.6) >= 0.8
    assert power(0.9, 0.03, n - 1, correlation=0.6) < 0.8
    # Gains (negative delta) work too.
    assert required_cases(0.7, -0.05) > 0


def test_power_hand_value() -> None:
    # psi 0.2, delta 0.05, n 400: Phi((0.05*20 - 1.959964*sqrt(0.2)) / sqrt(0.1975)) = Phi(0.2779)
    assert power(0.8, 0.05, 400, discordance=0.2) == pytest.approx(0.6095, abs=1e-4)


def test_detectable_delta_inverts_power() -> None:
    d = detectable_delta(0.8, 400)
    assert power(0.8, d, 400) == pytest.approx(0.8, abs=1e-4)
    assert detectable_delta(0.8, 1600) < d
    d_psi = detectable_delta(0.8, 626, discordance=0.2)
    assert d_psi == pytest.approx(0.05, abs=2e-4)


def test_detectable_delta_unreachable() -> None:
    with pytest.raises(ConfigError, match=r"\[n\].*with 3 cases"):
        detectable_delta(0.5, 3, power=0.99)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"baseline": 1.2, "delta": 0.05}, "baseline"),
        ({"baseline": 0.8, "delta": 0.0}, "delta"),
        ({"baseline": 0.03, "delta": 0.05}, r"\[delta\].*not a pass rate"),
        ({"baseline": 0.8, "delta": 0.05, "correlation": 0.5, "discordance": 0.2}, "not both"),
        ({"baseline": 0.8, "delta": 0.05, "discordance": 0.03}, r"\[discordance\].*impossible"),
        ({"baseline": 0.99, "delta": 0.49, "correlation": 0.9}, r"\[correlation\].*impossible"),
        ({"baseline": 0.8, "delta": 0.05, "correlation": 1.5}, "correlation"),
        ({"baseline": 0.8, "delta": 0.05, "alpha": 0.0}, "alpha"),
        ({"baseline": 0.8, "delta": 0.05, "power": 1.0}, "power"),
    ],
)
def test_bad_inputs(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        required_cases(**kwargs)


def test_default_correlation_clipped_when_infeasible() -> None:
    # 0.99 vs 0.5 cannot reach phi 0.5: both-pass is capped at 0.5, psi at |delta|.
    assert discordance_from(0.99, 0.49) == pytest.approx(0.49)
    assert required_cases(0.99, 0.49) >= 1
