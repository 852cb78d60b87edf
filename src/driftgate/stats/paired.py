"""Paired comparison of two runs of one golden set, and the verdicts gates use.

Two pass rates side by side hide what matters: both runs answered the *same* cases, so
the per-case differences d_i = b_i - a_i cancel case difficulty and the paired interval
is much narrower than two independent ones (Dror et al. 2018; Miller 2024). Everything
here decides on the mean of d with its uncertainty:

* interval — for pass/fail outcomes, Bonett & Price's adjusted Wald interval for paired
  proportions (`intervals.paired_proportion_interval`: the bootstrap is far too narrow
  with a few discordant pairs); for graded scores, a percentile bootstrap over cases; with
  clusters, a percentile bootstrap over clusters whatever the scores;
* stderr  — plain, or cluster-robust (Miller 2024);
* p-value — exact McNemar for pass/fail outcomes, a sign-flip randomization test for
  graded scores, and the sign-flip test on cluster sums when clusters are given (cases in
  a cluster are not independent, so they flip together).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from .._strict import Strict
from ..errors import ConfigError
from ._arrays import as_clusters, as_scores, check_positive_int, check_probability, is_binary
from .bootstrap import bootstrap_means, cluster_bootstrap_means, percentile_interval
from .intervals import clustered_stderr, paired_proportion_interval, stderr
from .significance import mcnemar_exact, sign_flip_test

Verdict = Literal["better", "worse", "equivalent", "inconclusive"]
TestName = Literal["mcnemar-exact", "sign-flip", "cluster-sign-flip"]
IntervalName = Literal["bootstrap", "cluster-bootstrap", "bonett-price"]


class PairedResult(Strict):
    """Run B compared with run A on the same cases; delta > 0 means B scores higher."""

    model_config = ConfigDict(frozen=True)

    n: int = Field(description="Paired cases")
    n_clusters: int | None = Field(None, description="Clusters, when a cluster analysis was run")
    mean_a: float
    mean_b: float
    delta: float = Field(description="mean(b) - mean(a)")
    ci_low: float = Field(description="Lower bound of the interval for delta (see `interval`)")
    ci_high: float = Field(description="Upper bound of the interval for delta")
    confidence: float
    stderr: float = Field(description="Standard error of delta (cluster-robust with clusters)")
    p_value: float = Field(description="Two-sided p-value for delta = 0")
    test: TestName
    interval: IntervalName = Field(
        description="How ci_low / ci_high were computed: a percentile bootstrap over cases "
        "or clusters, or the Bonett–Price interval for paired pass/fail outcomes (centred "
        "on the difference shrunk by n / (n + 2); it always contains delta)"
    )
    wins: int = Field(description="Cases where B scores higher than A")
    losses: int = Field(description="Cases where B scores lower than A")
    ties: int = Field(description="Cases where both score the same")
    n_boot: int = Field(description="Bootstrap resamples asked for (unused by bonett-price)")
    seed: int

    @model_validator(mode="before")
    @classmethod
    def _stored_before_interval(cls, data: Any) -> Any:
        """Results stored before `interval` existed were all bootstrapped: over clusters
        when a cluster analysis was run."""
        if isinstance(data, dict) and "interval" not in data:
            data = {
                **data,
                "interval": "cluster-bootstrap" if data.get("n_clusters") else "bootstrap",
            }
        return data


def paired_difference(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    clusters: Sequence[Hashable] | None = None,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    n_perm: int = 10_000,
    seed: int = 0,
) -> PairedResult:
    """Compare run B with run A case by case (`a[i]` and `b[i]` are the same case).

    Deterministic for a given `seed`. Pass/fail outcomes (every score 0 or 1 on both
    sides) get the Bonett–Price interval and the exact McNemar test, graded scores a
    percentile bootstrap and a sign-flip test. `clusters` (one hashable label per case,
    e.g. the source document) switches the interval to a cluster bootstrap (for pass/fail
    too), the standard error to the cluster-robust one and the test to a cluster
    sign-flip test. `n_perm` only matters for the sign-flip tests with more than 16
    non-zero differences.
    """
    xa = as_scores(a, "a")
    xb = as_scores(b, "b")
    if xa.size != xb.size:
        raise ConfigError(
            f"run A has {xa.size} scores and run B {xb.size}; pair them by case first",
            field="b",
            hint="align_pairs() matches two {case_id: score} maps",
        )
    if xa.size < 2:
        raise ConfigError(
            f"need at least 2 paired cases to estimate uncertainty, got {xa.size}", field="a"
        )
    confidence = check_probability(confidence, "confidence")
    n_boot = check_positive_int(n_boot, "n_boot")
    n_perm = check_positive_int(n_perm, "n_perm")
    seed = check_positive_int(seed, "seed", minimum=0)
    d = xb - xa
    n = d.size
    # Independent, reproducible streams for the bootstrap and the permutation test, so
    # changing n_perm never moves the interval.
    boot_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    perm_seed = int(np.random.SeedSequence(seed, spawn_key=(1,)).generate_state(1)[0])

    n_clusters: int | None = None
    binary = is_binary(xa) and is_binary(xb)
    wins, losses = int(np.count_nonzero(d > 0)), int(np.count_nonzero(d < 0))
    interval: IntervalName
    if clusters is not None:
        codes = as_clusters(clusters, n)
        n_clusters = int(codes.max()) + 1
        means = cluster_bootstrap_means(d, codes, n_boot, boot_rng)
        ci_low, ci_high = percentile_interval(means, confidence)
        interval = "cluster-bootstrap"
        se = clustered_stderr(d, clusters)
        p_value = sign_flip_test(np.bincount(codes, weights=d), n_perm=n_perm, seed=perm_seed)
        test: TestName = "cluster-sign-flip"
    elif binary:
        ci_low, ci_high = paired_proportion_interval(wins, losses, n, confidence)
        interval = "bonett-price"
        se = stderr(d)
        p_value = mcnemar_exact(wins, losses)
        test = "mcnemar-exact"
    else:
        means = bootstrap_means(d, n_boot, boot_rng)
        ci_low, ci_high = percentile_interval(means, confidence)
        interval = "bootstrap"
        se = stderr(d)
        p_value = sign_flip_test(d, n_perm=n_perm, seed=perm_seed)
        test = "sign-flip"
    delta = float(d.mean())
    # The percentile interval of a mean contains the estimate up to rounding, and the
    # Bonett–Price interval (centred on the shrunk difference) always contains it in
    # theory; clamp so downstream "ci_low <= delta <= ci_high" checks never trip on 1e-17.
    ci_low, ci_high = min(ci_low, delta), max(ci_high, delta)
    return PairedResult(
        n=n,
        n_clusters=n_clusters,
        mean_a=float(xa.mean()),
        mean_b=float(xb.mean()),
        delta=delta,
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=confidence,
        stderr=se,
        p_value=p_value,
        test=test,
        interval=interval,
        wins=wins,
        losses=losses,
        ties=int(np.count_nonzero(d == 0)),
        n_boot=n_boot,
        seed=seed,
    )


def align_pairs(
    a: Mapping[str, float], b: Mapping[str, float], *, allow_missing: bool = False
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Pair two {case_id: score} maps: (case ids in A's order, scores of A, scores of B).

    Cases present in only one run are an error unless `allow_missing`, in which case
    they are left out — a comparison is only paired over the cases both runs answered.
    """
    only_a = [k for k in a if k not in b]
    only_b = [k for k in b if k not in a]
    if (only_a or only_b) and not allow_missing:
        parts = []
        if only_a:
            parts.append(f"{len(only_a)} only in A (e.g. {only_a[0]!r})")
        if only_b:
            parts.append(f"{len(only_b)} only in B (e.g. {only_b[0]!r})")
        raise ConfigError(
            "runs cover different cases: " + "; ".join(parts),
            field="case_id",
            hint="compare runs of the same golden set, or pass allow_missing=True",
        )
    ids = [k for k in a if k in b]
    xa = as_scores([a[k] for k in ids], "a")
    xb = as_scores([b[k] for k in ids], "b")
    return ids, xa, xb


def _check_margin(margin: float) -> float:
    m = float(margin)
    if not (m >= 0.0 and np.isfinite(m)):
        raise ConfigError(f"margin must be a finite number ≥ 0, got {margin!r}", field="margin")
    return m


def non_inferior(result: PairedResult, margin: float) -> bool:
    """True when the interval rules out a drop of `margin` or more: ci_low > -margin."""
    return result.ci_low > -_check_margin(margin)


def verdict(result: PairedResult, margin: float) -> Verdict:
    """Classify the interval for delta against the margin (in score units, ≥ 0).

    * better       — ci_low > 0: B is better, with the stated confidence;
    * equivalent   — -margin < ci_low <= 0: any drop is smaller than the margin;
    * worse        — ci_high < 0 and ci_low <= -margin: B is worse, and a drop of the
      margin or more is not ruled out;
    * inconclusive — ci_low <= -margin and ci_high >= 0: too few cases to tell; add
      cases or repeats (see `required_cases`).

    "better" and "equivalent" are exactly the non-inferior results, so a gate that
    promotes on `non_inferior` promotes on these two verdicts.
    """
    m = _check_margin(margin)
    if result.ci_low > 0.0:
        return "better"
    if result.ci_low > -m:
        return "equivalent"
    if result.ci_high < 0.0:
        return "worse"
    return "inconclusive"
