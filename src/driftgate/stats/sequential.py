"""Confidence sequences: intervals that stay valid however often they are looked at.

A canary guard looks at its evidence after every batch of feedback and acts the first time
the evidence allows. A fixed-sample test checked that way is wrong far more often than its
alpha says (the ramp that took a canary 5 points worse to 100%). A confidence sequence
(Howard, Ramdas, McAuliffe, Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence
sequences", Ann. Statist. 2021) holds at every look at once: the chance that the true
difference is ever outside it, over all looks, is at most alpha. Stopping, ramping or
rolling back on its first crossing keeps that guarantee.

Which one. The normal-mixture boundary (Robbins 1970; the "mixture SPRT" of Johari,
Pekelis, Walsh, "Always valid inference", 2017/2022, is the same boundary read as a test).
For a statistic S = Δ̂ · I that moves like a Brownian motion in information time I = 1/V
(V the variance of the estimate Δ̂), with probability ≥ 1 − α, for every I at once,

    |Δ̂ − Δ| ≤ sqrt((I + r) · log((I + r) / (r · α²))) / I

It is chosen over the exact, bounded-variable (betting) sequences because it needs only
running sums — a serving router updates it in O(1) per feedback event — and because with
variance estimated from the data it is the asymptotic confidence sequence of
Waudby-Smith, Arbour, Sinha, Kennedy, Ramdas ("Time-uniform central limit theory and
asymptotic confidence sequences", 2021), valid as counts grow, which is where a guard acts
(it also requires `min_feedback` events before it looks). The plug-in variance is the weak
point near rates of 0 or 1: with one pseudo-observation per arm, a 97% arm against a 99% one
was missed at some look in ~10% of trials (mostly at 260–500 events), twice alpha. Each arm's
variance is therefore taken with two pseudo-successes and two pseudo-failures (Agresti and
Coull's z² ≈ 4 added observations), and a paired difference's with two pseudo-pairs of +1
and −1; misses then stay within alpha from 90% to 99.9%, paired and unpaired
(`tests/stats/test_sequential.py`); at 90% the interval is ~2% wider at 300 answers per
arm, under 1% past 1,000.

The mixture parameter r sets where the sequence is tightest; `tuned_for(margin, alpha)`
puts that point where the half-width equals the decision margin, the information at which a
non-inferiority decision can first be made. A guard compares:

    non-inferior   lower > −margin     (step up the ramp, promote)
    worse          upper < 0           (roll back)

Simulation through the real router and guard: `bench/canary.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Pseudo-observations in each variance: Agresti-Coull's z^2 (about 4) for a rate; two
# pseudo-pairs (+1 and -1) for a paired difference. Why: see the module docstring.
PSEUDO = 4
PSEUDO_PAIRS = 2


@dataclass(frozen=True)
class Sums:
    """Running sums of one stream of scores: enough for its mean and variance."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    def add(self, x: float) -> Sums:
        return Sums(self.n + 1, self.total + x, self.total_sq + x * x)

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def smoothed_variance(self) -> float:
        """Sample variance of scores in [0, 1] with PSEUDO observations added, half at 0 and
        half at 1: never zero, so an arm with every answer right does not read as certain,
        and close to the plain variance once n is in the hundreds."""
        n = self.n + PSEUDO
        mean = (self.total + PSEUDO / 2) / n
        return max((self.total_sq + PSEUDO / 2) / n - mean * mean, 1.0 / (4 * n))


@dataclass(frozen=True)
class Bound:
    """An always-valid interval for a difference of means at one look."""

    estimate: float
    lower: float
    upper: float
    variance: float  # of the estimate

    # Differences of scores in [0, 1] lie in [−1, 1]: the bounds are clipped to it.


def _log_term(alpha: float) -> float:
    return 2 * math.log(1 / alpha) + math.log(1 + 2 * math.log(1 / alpha))


def tuned_for(margin: float, alpha: float) -> float:
    """The mixture parameter r for which the sequence is tightest where its half-width is
    `margin`: there, I* ≈ log-term / margin² and the optimal r ≈ I* / log-term (Howard et
    al. 2021, §3.5), so r ≈ 1 / margin²."""
    if not 0 < margin < 1 or not 0 < alpha < 1:
        raise ValueError("margin and alpha must be in (0, 1)")
    return (1 + 1 / _log_term(alpha)) / (margin * margin)


def radius(variance: float, *, alpha: float, r: float) -> float:
    """Half-width of the normal-mixture confidence sequence for an estimate of `variance`."""
    if variance <= 0:
        return 0.0
    info = 1.0 / variance
    return math.sqrt((info + r) * math.log((info + r) / (r * alpha * alpha))) / info


def mean_bound(scores: Sums, *, alpha: float, r: float) -> Bound | None:
    """The mean of one stream of scores in [0, 1] (an arm's quality), clipped to [0, 1]."""
    if not scores.n:
        return None
    estimate = scores.total / scores.n
    variance = scores.smoothed_variance() / scores.n
    w = radius(variance, alpha=alpha, r=r)
    return Bound(estimate, max(estimate - w, 0.0), min(estimate + w, 1.0), variance)


def difference_bound(treat: Sums, base: Sums, *, alpha: float, r: float) -> Bound | None:
    """Mean of `treat` minus mean of `base`, two independent streams (unpaired: a canary
    and its baseline serve different requests). None until both have observations."""
    if not treat.n or not base.n:
        return None
    estimate = treat.total / treat.n - base.total / base.n
    variance = treat.smoothed_variance() / treat.n + base.smoothed_variance() / base.n
    w = radius(variance, alpha=alpha, r=r)
    return Bound(estimate, max(estimate - w, -1.0), min(estimate + w, 1.0), variance)


def paired_bound(diffs: Sums, *, alpha: float, r: float) -> Bound | None:
    """Mean of per-request differences (shadow score − live score on the same request)."""
    if not diffs.n:
        return None
    estimate = diffs.total / diffs.n
    n = diffs.n + PSEUDO_PAIRS  # pseudo-pairs of +1 and -1: never a zero variance
    spread = (diffs.total_sq + PSEUDO_PAIRS) / n - (diffs.total / n) ** 2
    variance = max(spread, 1.0 / (4 * n)) / diffs.n
    w = radius(variance, alpha=alpha, r=r)
    return Bound(estimate, max(estimate - w, -1.0), min(estimate + w, 1.0), variance)
