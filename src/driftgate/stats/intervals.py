"""Standard errors and intervals for one run's scores or a paired difference.

Miller (2024), "Adding error bars to evals": a mean over eval cases is an estimate of
the mean over the population of questions the cases were drawn from, so report it with
a standard error; when cases share a source (several questions about one document, one
conversation, one template) they are not independent and the plain standard error is
too small — use the cluster-robust one.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from statistics import NormalDist

import numpy as np

from ..errors import ConfigError
from ._arrays import as_clusters, as_scores, check_positive_int, check_probability


def z_two_sided(confidence: float) -> float:
    """The normal quantile z with P(|Z| ≤ z) = confidence (1.95996… for 0.95)."""
    confidence = check_probability(confidence, "confidence")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a pass rate `successes / n`.

    Preferred to the normal ("Wald") interval because it stays inside [0, 1] and keeps
    its coverage near 0 % and 100 % pass rates, where golden sets often sit. With no
    cases there is no information: (0.0, 1.0).
    """
    n = check_positive_int(n, "n", minimum=0)
    successes = check_positive_int(successes, "successes", minimum=0)
    if successes > n:
        raise ConfigError(f"{successes} successes out of {n} cases", field="successes")
    z = z_two_sided(confidence)
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2n = z * z / n
    center = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    # Snap the degenerate ends exactly: rounding would otherwise give e.g. 1e-17 at 0/n.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return (low, high)


def paired_proportion_interval(
    wins: int, losses: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Bonett & Price (2012) adjusted Wald interval for a paired difference of pass rates.

    `wins`: cases B passes and A fails; `losses`: the reverse; `n`: all paired cases. One
    pseudo-case is added to each discordant cell (p12 = (wins + 1) / (n + 2), p21 =
    (losses + 1) / (n + 2)) and the Wald interval of p12 - p21 is taken with n + 2 cases:

        p12 - p21 ± z · sqrt((p12 + p21 - (p12 - p21)²) / (n + 2))

    so it is centred on (wins - losses) / (n + 2), the observed difference shrunk by
    n / (n + 2). A percentile bootstrap of 0/±1 differences cannot resample a discordant
    pair it never saw and is far too narrow with a handful of them (4 losses of 40 cases:
    it excluded 0 while exact McNemar gave p = 0.125); this interval agrees with the exact
    test far more often and keeps its coverage at small golden sets (the
    `coverage_binary_*` and `disagree_mcnemar_*` figures of bench/calibration.py, in
    docs/architecture.md). Chosen over Newcombe's hybrid score interval (a little closer to
    nominal coverage when discordant pairs are very few, where this one errs on the wide
    side, but less often consistent with McNemar; 4 of 40 sits at its edge) and Tango's
    score interval (excludes 0 in that example: its test at 0 is the asymptotic McNemar
    test). Clamped to [-1, 1].
    """
    n = check_positive_int(n, "n")
    wins = check_positive_int(wins, "wins", minimum=0)
    losses = check_positive_int(losses, "losses", minimum=0)
    if wins + losses > n:
        raise ConfigError(f"{wins} wins and {losses} losses out of {n} cases", field="n")
    z = z_two_sided(confidence)
    p12 = (wins + 1) / (n + 2)
    p21 = (losses + 1) / (n + 2)
    diff = p12 - p21
    # p12 + p21 >= |diff| >= diff², so the variance is never negative (max() only guards
    # rounding when nearly every case is discordant one way).
    half = z * math.sqrt(max(p12 + p21 - diff * diff, 0.0) / (n + 2))
    return (max(-1.0, diff - half), min(1.0, diff + half))


def stderr(values: Sequence[float] | np.ndarray) -> float:
    """Plain standard error of the mean: sample std (ddof=1) / sqrt(n); 0.0 for n < 2."""
    arr = as_scores(values, "values")
    if arr.size < 2:
        return 0.0
    return float(arr.std(ddof=1) / math.sqrt(arr.size))


def clustered_stderr(d: Sequence[float] | np.ndarray, clusters: Sequence[Hashable]) -> float:
    """Cluster-robust standard error of the mean of `d` (Miller 2024).

        SE = sqrt( sum_c ( sum_{i in c} (d_i - mean(d)) )^2 ) / n

    Deviations are summed within a cluster before squaring, so positively correlated
    cases in one cluster add up instead of averaging out. With one case per cluster it
    reduces to the plain standard error computed with ddof=0. No small-sample
    correction is applied: with fewer than ~30 clusters the value is optimistic, and the
    cluster bootstrap in `paired_difference` is the better guide.
    """
    arr = as_scores(d, "d")
    if arr.size == 0:
        raise ConfigError("no values", field="d")
    codes = as_clusters(clusters, arr.size)
    dev = arr - arr.mean()
    per_cluster = np.bincount(codes, weights=dev)
    return float(math.sqrt(float(np.dot(per_cluster, per_cluster))) / arr.size)
