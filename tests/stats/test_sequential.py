"""Confidence sequences: coverage at every look, by simulation, and the edges of the API."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftgate.stats.sequential import (
    Sums,
    difference_bound,
    paired_bound,
    radius,
    tuned_for,
)

ALPHA = 0.05
R = tuned_for(0.03, ALPHA)
EVENTS, EVERY, TRIALS = 10_000, 20, 300
# Misses over TRIALS are binomial; 0.03 is ~2.4 standard errors at alpha = 0.05. A
# fixed-sample 95% interval looked at this often misses in roughly a third of the trials.
TOLERANCE = 0.03


def _looks(values: np.ndarray) -> list[float]:
    """Running sums of `values` at every EVERY-th event."""
    return np.cumsum(values)[EVERY - 1 :: EVERY].tolist()


def _unpaired_misses(
    rng: np.random.Generator, p_canary: float, p_base: float, share: float, truth: float
) -> int:
    """Trials (of TRIALS) in which the unpaired sequence missed `truth` at some look."""
    misses = 0
    for _ in range(TRIALS):
        on_canary = rng.random(EVENTS) < share
        right = np.where(on_canary, rng.random(EVENTS) < p_canary, rng.random(EVENTS) < p_base)
        looks = zip(
            _looks(on_canary),
            _looks(right & on_canary),
            _looks(~on_canary),
            _looks(right & ~on_canary),
            strict=True,
        )
        for n_c, s_c, n_b, s_b in looks:
            b = difference_bound(Sums(n_c, s_c, s_c), Sums(n_b, s_b, s_b), alpha=ALPHA, r=R)
            if b is not None and not b.lower <= truth <= b.upper:
                misses += 1
                break
    return misses


def test_unpaired_sequence_covers_the_true_difference_at_every_look() -> None:
    """A canary at 25% of traffic, 5 points worse than a 90% baseline (the bench's case):
    the interval must hold the true difference at all 500 looks at once."""
    rng = np.random.default_rng(7)
    p_canary, p_base, share = 0.85, 0.90, 0.25
    truth = p_canary - p_base
    assert _unpaired_misses(rng, p_canary, p_base, share, truth) / TRIALS <= ALPHA + TOLERANCE


def test_paired_sequence_covers_the_true_difference_at_every_look() -> None:
    """A shadow 5 points worse than the live answers on the same requests, its errors
    correlated with theirs (hard requests are hard for both)."""
    rng = np.random.default_rng(11)
    p_live, p_shadow, shared = 0.90, 0.85, 0.8
    truth = p_shadow - p_live
    misses = 0
    for _ in range(TRIALS):
        u = rng.random(EVENTS)
        v = np.where(rng.random(EVENTS) < shared, u, rng.random(EVENTS))
        diff = (v < p_shadow).astype(float) - (u < p_live)
        looks = zip(range(EVERY, EVENTS + 1, EVERY), _looks(diff), _looks(diff * diff), strict=True)
        for n, s, sq in looks:
            b = paired_bound(Sums(n, s, sq), alpha=ALPHA, r=R)
            assert b is not None
            if not b.lower <= truth <= b.upper:
                misses += 1
                break
    assert misses / TRIALS <= ALPHA + TOLERANCE


def test_bounds_are_none_without_observations() -> None:
    one = Sums().add(1.0)
    assert difference_bound(Sums(), one, alpha=ALPHA, r=R) is None
    assert difference_bound(one, Sums(), alpha=ALPHA, r=R) is None
    assert paired_bound(Sums(), alpha=ALPHA, r=R) is None


@pytest.mark.parametrize(
    ("treat", "base"),
    [
        (Sums(1, 1, 1), Sums(1, 0, 0)),
        (Sums(3, 0, 0), Sums(2, 2, 2)),
        (Sums(5, 2, 2), Sums(4, 2, 2)),
    ],
)
def test_bounds_stay_within_minus_one_and_one(treat: Sums, base: Sums) -> None:
    b = difference_bound(treat, base, alpha=ALPHA, r=R)
    assert b is not None
    assert -1.0 <= b.lower <= b.estimate <= b.upper <= 1.0
    p = paired_bound(Sums(2, 2, 2), alpha=ALPHA, r=R)  # two differences of +1
    assert p is not None and -1.0 <= p.lower <= p.upper <= 1.0 and p.upper == 1.0


def test_the_sequence_narrows_as_evidence_grows_and_never_vanishes() -> None:
    few = difference_bound(Sums(50, 45, 45), Sums(150, 135, 135), alpha=ALPHA, r=R)
    many = difference_bound(Sums(5000, 4500, 4500), Sums(15000, 13500, 13500), alpha=ALPHA, r=R)
    assert few is not None and many is not None
    assert many.upper - many.lower < few.upper - few.lower
    # An arm with every answer right still has a variance (the pseudo-observation).
    perfect = difference_bound(Sums(40, 40, 40), Sums(40, 40, 40), alpha=ALPHA, r=R)
    assert perfect is not None and perfect.lower < 0 < perfect.upper
    assert radius(0.0, alpha=ALPHA, r=R) == 0.0


def test_tuned_for_puts_the_tightest_point_near_the_margin() -> None:
    r = tuned_for(0.03, 0.05)
    assert 1 / 0.03**2 < r < 1.5 / 0.03**2
    assert tuned_for(0.01, 0.05) > r  # a finer margin needs more information
    assert math.isfinite(tuned_for(0.5, 0.5))


@pytest.mark.parametrize(
    ("margin", "alpha"), [(0, 0.05), (1, 0.05), (-0.1, 0.05), (0.03, 0), (0.03, 1), (0.03, 1.5)]
)
def test_tuned_for_rejects_bad_input(margin: float, alpha: float) -> None:
    with pytest.raises(ValueError, match="margin and alpha"):
        tuned_for(margin, alpha)


@pytest.mark.parametrize(("p_canary", "p_base"), [(0.97, 0.99), (0.98, 0.995)])
def test_unpaired_coverage_holds_near_a_rate_of_one(p_canary: float, p_base: float) -> None:
    """Near 100% the plug-in variance of a few hundred answers is often tiny; with one
    pseudo-observation per arm ~10% of trials missed at some look (twice alpha)."""
    rng = np.random.default_rng(3)
    truth = p_canary - p_base
    assert _unpaired_misses(rng, p_canary, p_base, 0.25, truth) / TRIALS <= ALPHA + TOLERANCE


def test_paired_coverage_holds_near_a_rate_of_one() -> None:
    rng = np.random.default_rng(5)
    p_live, p_shadow = 0.995, 0.98
    truth = p_shadow - p_live
    misses = 0
    for _ in range(TRIALS):
        u = rng.random(EVENTS)
        v = np.where(rng.random(EVENTS) < 0.5, u, rng.random(EVENTS))
        diff = (v < p_shadow).astype(float) - (u < p_live)
        looks = zip(range(EVERY, EVENTS + 1, EVERY), _looks(diff), _looks(diff * diff), strict=True)
        for n, s, sq in looks:
            b = paired_bound(Sums(n, s, sq), alpha=ALPHA, r=R)
            assert b is not None
            if not b.lower <= truth <= b.upper:
                misses += 1
                break
    assert misses / TRIALS <= ALPHA + TOLERANCE
