"""Exact McNemar and sign-flip tests against scipy and hand-enumerated examples."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import binomtest

from driftgate.errors import ConfigError
from driftgate.stats import mcnemar_exact, sign_flip_test


@pytest.mark.parametrize(
    ("b01", "b10"),
    [(0, 1), (1, 0), (3, 9), (9, 3), (10, 10), (0, 25), (17, 40), (250, 310), (1, 999)],
)
def test_mcnemar_matches_scipy_binomtest(b01: int, b10: int) -> None:
    expected = binomtest(b01, b01 + b10, 0.5).pvalue
    assert mcnemar_exact(b01, b10) == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(("b01", "b10"), [(2900, 3100), (2600, 3500), (4000, 4100), (3000, 3001)])
def test_mcnemar_log_space_path_matches_scipy(b01: int, b10: int) -> None:
    # More than 5,000 discordant pairs: summed in log space, not exact integers.
    expected = binomtest(b01, b01 + b10, 0.5).pvalue
    assert mcnemar_exact(b01, b10) == pytest.approx(expected, rel=1e-8)


def test_mcnemar_hand_values() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    # 0 vs 5: both extreme tails of Binomial(5, 1/2) → 2 / 32.
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    # 1 vs 6: 2 * (1 + 7) / 128.
    assert mcnemar_exact(1, 6) == pytest.approx(16 / 128)


@pytest.mark.parametrize(("b01", "b10"), [(-1, 3), (1.5, 2), (True, 2)])
def test_mcnemar_rejects_bad_counts(b01: object, b10: object) -> None:
    with pytest.raises(ConfigError, match="b01"):
        mcnemar_exact(b01, b10)  # type: ignore[arg-type]


def test_sign_flip_exact_hand_example() -> None:
    # Sums of ±1 ±2 ±3: 6, 4, 2, 0, 0, -2, -4, -6. Observed 6: 2 of 8 patterns are as extreme.
    assert sign_flip_test([1.0, 2.0, 3.0]) == pytest.approx(0.25)
    # Zeros carry no sign and change nothing.
    assert sign_flip_test([0.0, 1.0, 0.0, 2.0, 3.0]) == pytest.approx(0.25)
    # Observed |1 + 2 - 3| = 0: every pattern is at least as extreme.
    assert sign_flip_test([1.0, 2.0, -3.0]) == 1.0
    assert sign_flip_test([0.0, 0.0]) == 1.0


def _exact_by_itertools(d: np.ndarray) -> float:
    observed = abs(d.sum())
    hits = 0
    patterns = list(itertools.product((-1.0, 1.0), repeat=d.size))
    for signs in patterns:
        hits += abs(np.dot(signs, d)) >= observed - 1e-12
    return hits / len(patterns)


def test_sign_flip_exact_matches_brute_force() -> None:
    d = np.array([0.3, -0.1, 0.7, 0.2, 0.05, -0.4, 0.9, 0.15, 0.6, -0.2])
    assert sign_flip_test(d) == pytest.approx(_exact_by_itertools(d))


def test_sign_flip_monte_carlo_close_to_exact_and_seeded() -> None:
    rng = np.random.default_rng(7)
    d = rng.normal(0.25, 1.0, size=18)  # 18 > 16 non-zero values: Monte Carlo path
    bits = (np.arange(1 << 18)[:, None] >> np.arange(18)) & 1
    exact = float(np.mean(np.abs((2 * bits - 1) @ d) >= abs(d.sum()) - 1e-12))
    p = sign_flip_test(d, n_perm=20_000, seed=3)
    assert abs(p - exact) < 4 * np.sqrt(exact * (1 - exact) / 20_000)
    assert sign_flip_test(d, n_perm=20_000, seed=3) == p
    assert sign_flip_test(d, n_perm=20_000, seed=4) != p


def test_sign_flip_monte_carlo_never_zero() -> None:
    d = np.full(50, 1.0)  # every flip pattern but one is less extreme
    assert sign_flip_test(d, n_perm=999) == pytest.approx(1 / 1000)


def test_sign_flip_rejects_nan() -> None:
    with pytest.raises(ConfigError, match=r"position 1"):
        sign_flip_test([0.1, float("nan")])
