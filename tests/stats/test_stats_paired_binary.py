"""Pass/fail comparisons: the Bonett–Price interval, its agreement with McNemar and the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftgate.errors import ConfigError
from driftgate.stats import (
    PairedResult,
    mcnemar_exact,
    paired_difference,
    paired_proportion_interval,
    verdict,
)
from driftgate.stats.bootstrap import bootstrap_means, percentile_interval


def _four_losses_of_forty() -> tuple[list[float], list[float]]:
    return [1.0] * 40, [0.0] * 4 + [1.0] * 36


def test_four_losses_of_forty_is_inconclusive() -> None:
    a, b = _four_losses_of_forty()
    r = paired_difference(a, b)
    assert r.interval == "bonett-price" and r.test == "mcnemar-exact"
    assert (r.wins, r.losses, r.ties) == (0, 4, 36)
    assert r.p_value == pytest.approx(0.125)
    assert r.delta == pytest.approx(-0.1)  # the observed difference, not the shrunk centre
    assert r.ci_low < r.delta < 0.0 < r.ci_high
    assert verdict(r, 0.02) == "inconclusive"
    # The formula by hand: p12 = 1/42, p21 = 5/42.
    p12, p21 = 1 / 42, 5 / 42
    half = 1.959963984540054 * math.sqrt((p12 + p21 - (p12 - p21) ** 2) / 42)
    assert (r.ci_low, r.ci_high) == pytest.approx((p12 - p21 - half, p12 - p21 + half))
    # What the percentile bootstrap said: zero excluded ("worse") beside p = 0.125.
    d = np.subtract(b, a)
    low, high = percentile_interval(bootstrap_means(d, 10_000, np.random.default_rng(0)), 0.95)
    assert high < 0.0


@pytest.mark.parametrize("n", [40, 100, 400])
def test_interval_agrees_with_exact_mcnemar_away_from_the_boundary(n: int) -> None:
    # Different methods disagree near p = 0.05; clear cases must agree both ways.
    for wins in range(30):
        for losses in range(min(30, n - wins + 1)):
            p = mcnemar_exact(wins, losses)
            low, high = paired_proportion_interval(wins, losses, n)
            excludes_zero = low > 0.0 or high < 0.0
            if p >= 0.10:
                assert not excludes_zero, (wins, losses, p, low, high)
            if p < 0.01:
                assert excludes_zero, (wins, losses, p, low, high)


def test_large_n_agrees_with_the_bootstrap() -> None:
    rng = np.random.default_rng(7)
    n = 5000
    u = rng.random(n)
    a = (u < 0.80).astype(float)
    b = np.where(rng.random(n) < 0.2, rng.random(n) < 0.76, u < 0.76).astype(float)
    r = paired_difference(a, b)
    assert r.interval == "bonett-price"
    boot = percentile_interval(bootstrap_means(b - a, 20_000, np.random.default_rng(1)), 0.95)
    assert r.ci_low == pytest.approx(boot[0], abs=0.15 * r.stderr)
    assert r.ci_high == pytest.approx(boot[1], abs=0.15 * r.stderr)


def test_interval_is_clamped_to_the_difference_range() -> None:
    low, high = paired_proportion_interval(2, 0, 2)  # unclamped: (-0.35, 1.35)
    assert high == 1.0 and -1.0 < low < 0.0
    low, high = paired_proportion_interval(0, 3, 3)
    assert low == -1.0 and high < 1.0
    r = paired_difference([0.0, 0.0], [1.0, 1.0])
    assert r.delta == 1.0 and r.ci_high == 1.0 and r.ci_low >= -1.0


def test_confidence_widens_the_interval() -> None:
    narrow = paired_proportion_interval(3, 9, 100, confidence=0.80)
    wide = paired_proportion_interval(3, 9, 100, confidence=0.99)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_clustered_and_graded_data_keep_the_bootstrap() -> None:
    rng = np.random.default_rng(2)
    a = (rng.random(60) < 0.7).astype(float)
    b = (rng.random(60) < 0.6).astype(float)
    clustered = paired_difference(a, b, clusters=np.arange(60) // 6, n_boot=2000)
    assert clustered.interval == "cluster-bootstrap" and clustered.test == "cluster-sign-flip"
    graded = paired_difference(a * 0.5 + 0.25, b, n_boot=2000)
    assert graded.interval == "bootstrap" and graded.test == "sign-flip"
    d = b - (a * 0.5 + 0.25)
    boot_rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(0,)))
    expected = percentile_interval(bootstrap_means(d, 2000, boot_rng), 0.95)
    assert (graded.ci_low, graded.ci_high) == pytest.approx(expected)


def test_binary_coverage_at_forty_cases() -> None:
    # Correlated pairs (a shared per-case uniform), true difference -5 points.
    rng = np.random.default_rng(3)
    reps, covered = 2000, 0
    for _ in range(reps):
        u = rng.random(40)
        a = (u < 0.80).astype(float)
        b = np.where(rng.random(40) < 0.3, rng.random(40) < 0.75, u < 0.75).astype(float)
        r = paired_difference(a, b)
        covered += r.ci_low <= -0.05 <= r.ci_high
    # Slightly conservative when discordant pairs are few (~0.977 here), never narrow.
    assert 0.93 <= covered / reps <= 0.985


def test_results_stored_before_the_interval_field_load() -> None:
    r = paired_difference([1, 0, 1, 1], [1, 1, 1, 0])
    stored = r.model_dump(mode="json")
    del stored["interval"]
    assert PairedResult.model_validate(stored).interval == "bootstrap"
    stored["n_clusters"] = 3
    assert PairedResult.model_validate(stored).interval == "cluster-bootstrap"
    assert PairedResult.model_validate_json(r.model_dump_json()) == r


@pytest.mark.parametrize(
    ("wins", "losses", "n", "match"),
    [
        (3, 2, 4, r"\[n\].*3 wins and 2 losses out of 4"),
        (-1, 0, 4, r"\[wins\]"),
        (0, 0, 0, r"\[n\]"),
    ],
)
def test_bad_counts(wins: int, losses: int, n: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        paired_proportion_interval(wins, losses, n)
