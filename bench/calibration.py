"""Calibration of driftgate.stats on simulated paired runs where the truth is known.

Does a gate built on `paired_difference` flag identical versions about alpha of the time
(no flaky gates), detect a real 5-point drop as often as the power math promises (no
waved-through regressions), and do its intervals cover the true difference?

The simulator is numpy, not `driftgate.providers.simulator`: that one decides each call by
a hash, so two versions either share a random stream (identical versions never disagree)
or are independent (no shared case difficulty). Here every case has a latent difficulty
z ~ N(0, 1) and version v passes it with probability sigmoid(a_v - s z): a hard case is
hard for both versions, which makes the paired outcomes correlated as on real golden
sets, and outcomes are drawn independently per version given the case (sampling noise).
Cases are drawn afresh for every trial, i.e. each trial is a new golden set from the same
population — the population the statistics make claims about.

Pass/fail intervals at small golden sets (n = 40, 100 and 400): the percentile bootstrap
that `paired_difference` used for them (`_bootstrap`) against the Bonett–Price interval it
uses now (`_new`), on the same simulated pairs: coverage of the true 5-point drop, how often
two identical versions are called "worse" (ci_high < 0; 2.5 % is nominal), how often a
5-point drop passes a 5-point non-inferiority margin (≤ 2.5 % nominal), how often the drop
is detected (ci_high < 0), and how often "the interval excludes 0" disagrees with exact
McNemar's p < 0.05 (over the null and the drop trials).

Run: .venv/bin/python bench/calibration.py [--trials 1000] [--cases 400] [--seed 0]
Prints one `name: value` line per figure. Targets: null_false_positive_rate in
0.02–0.08, power_gap_points ≤ 10; coverage_binary_n40_new and coverage_binary_n100_new
in 0.93–0.97; power_n400_new within ~2 points of power_n400_bootstrap.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from driftgate.stats import non_inferior, paired_difference, power
from driftgate.stats.bootstrap import bootstrap_means, percentile_interval

ALPHA = 0.05
BASELINE = 0.80
DROP = 0.05
SPREAD = 1.5  # logit sd of case difficulty: how much the cases differ in hardness
# Gauss–Hermite nodes for exact expectations over z ~ N(0, 1).
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(120)
_WEIGHTS = _WEIGHTS / math.sqrt(2.0 * math.pi)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _expected_pass(intercept: float, spread: float = SPREAD) -> float:
    return float(_WEIGHTS @ _sigmoid(intercept - spread * _NODES))


def intercept_for(rate: float, spread: float = SPREAD) -> float:
    """The logit intercept whose population pass rate is `rate` (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if _expected_pass(mid, spread) < rate else (lo, mid)
    return (lo + hi) / 2.0


def true_discordance(a_int: float, b_int: float, spread: float = SPREAD) -> float:
    """P(exactly one version passes) for a random case: the psi of the power formula."""
    pa = _sigmoid(a_int - spread * _NODES)
    pb = _sigmoid(b_int - spread * _NODES)
    return float(_WEIGHTS @ (pa * (1 - pb) + pb * (1 - pa)))


def simulate_pairs(
    n: int,
    a_int: float,
    b_int: float,
    rng: np.random.Generator,
    *,
    cluster_size: int | None = None,
    cluster_sd: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Pass/fail outcomes (a, b) of two versions on n fresh cases, and cluster labels.

    With `cluster_size`, cases come in clusters (questions about one source) whose
    logits get a per-cluster, per-version shock N(0, cluster_sd): the two versions stay
    exchangeable (a true null stays a null) but differences within a cluster are
    correlated — the situation where case-level statistics are over-confident.
    """
    z = rng.standard_normal(n)
    logit_a = a_int - SPREAD * z
    logit_b = b_int - SPREAD * z
    clusters = None
    if cluster_size:
        clusters = np.arange(n) // cluster_size
        g = int(clusters[-1]) + 1
        logit_a = logit_a + rng.normal(0.0, cluster_sd, g)[clusters]
        logit_b = logit_b + rng.normal(0.0, cluster_sd, g)[clusters]
    a = (rng.random(n) < _sigmoid(logit_a)).astype(np.float64)
    b = (rng.random(n) < _sigmoid(logit_b)).astype(np.float64)
    return a, b, clusters


def sim_outcomes(model: str, trial: int, n: int) -> np.ndarray:
    """Pass/fail of one simulated run through `driftgate.providers.simulator.simulate`.

    Case ids are fresh per trial (a new golden set from the same population); the profile's
    `case_difficulty` makes a hard case hard for every version, and different `seed`s make
    the two runs independent draws given the case.
    """
    from driftgate.providers.base import CaseHint
    from driftgate.providers.simulator import simulate

    labels = ["a", "b", "c", "d", "e"]
    msgs = [{"role": "user", "content": "x"}]
    out = np.empty(n)
    for i in range(n):
        hint = CaseHint(id=f"t{trial}-c{i}", expected="a", labels=labels, output_type="label")
        out[i] = simulate(model, hint, msgs).text == "a"
    return out


def simulator_calibration(trials: int, n: int, n_boot: int) -> None:
    """The same two figures with the product's simulator producing the runs."""
    base = "sim/acme@v1?latency_ms=0&latency_jitter_ms=0&case_difficulty={s}&accuracy={acc}&seed={seed}"
    false_pos = detected = 0
    for t in range(trials):
        a = sim_outcomes(base.format(s=SPREAD, acc=BASELINE, seed=2 * t), t, n)
        b = sim_outcomes(base.format(s=SPREAD, acc=BASELINE, seed=2 * t + 1), t, n)
        false_pos += paired_difference(a, b, n_boot=n_boot, seed=t).p_value < ALPHA
        c = sim_outcomes(base.format(s=SPREAD, acc=BASELINE - DROP, seed=2 * t + 1), t, n)
        r = paired_difference(a, c, n_boot=n_boot, seed=t)
        detected += r.p_value < ALPHA and r.delta < 0
    # The simulator's difficulty model is this file's (logit, spread SPREAD), so the same
    # discordance feeds the power prediction.
    psi = true_discordance(intercept_for(BASELINE), intercept_for(BASELINE - DROP))
    predicted = power(BASELINE, DROP, n, alpha=ALPHA, discordance=psi)
    print(f"sim_null_false_positive_rate: {false_pos / trials:.4f}")
    print(f"sim_detection_rate_5pt: {detected / trials:.4f}")
    print(f"sim_power_gap_points: {abs(detected / trials - predicted) * 100:.2f}")


def bootstrap_interval(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """The percentile bootstrap `paired_difference` used for pass/fail before Bonett–Price:
    the same resampling stream (`spawn_key=(0,)` of the seed) and the same quantiles."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    return percentile_interval(bootstrap_means(b - a, n_boot, rng), 1.0 - ALPHA)


def small_sample_intervals(
    trials: int, sizes: tuple[int, ...], n_boot: int, seed: int, baseline: float = BASELINE
) -> None:
    """Old (bootstrap) and new (bonett-price) pass/fail intervals on the same pairs, a
    5-point drop from `baseline` (figures named `_p95_` for a 95 % baseline: few
    discordant pairs, where the bootstrap is narrowest)."""
    rng = np.random.default_rng(seed)
    a_int, b_int = intercept_for(baseline), intercept_for(baseline - DROP)
    tag = "" if baseline == BASELINE else f"p{round(baseline * 100)}_"
    for n in sizes:
        tally = {k: np.zeros(5) for k in ("bootstrap", "new")}  # cover, worse0, ni, power, disagree
        for t in range(trials):
            a0, b0, _ = simulate_pairs(n, a_int, a_int, rng)
            a1, b1, _ = simulate_pairs(n, a_int, b_int, rng)
            null, drop = paired_difference(a0, b0, seed=t), paired_difference(a1, b1, seed=t)
            assert null.interval == drop.interval == "bonett-price"
            for name, (lo0, hi0), (lo1, hi1) in (
                (
                    "bootstrap",
                    bootstrap_interval(a0, b0, n_boot, t),
                    bootstrap_interval(a1, b1, n_boot, t),
                ),
                ("new", (null.ci_low, null.ci_high), (drop.ci_low, drop.ci_high)),
            ):
                ni = non_inferior(drop.model_copy(update={"ci_low": lo1, "ci_high": hi1}), DROP)
                disagree = ((lo0 > 0 or hi0 < 0) != (null.p_value < ALPHA)) + (
                    (lo1 > 0 or hi1 < 0) != (drop.p_value < ALPHA)
                )
                tally[name] += (lo1 <= -DROP <= hi1, hi0 < 0, ni, hi1 < 0, disagree / 2)
        for name, (cover, worse0, ni, detect, disagree) in tally.items():
            print(f"coverage_binary_{tag}n{n}_{name}: {cover / trials:.4f}")
            print(f"null_worse_rate_{tag}n{n}_{name}: {worse0 / trials:.4f}")
            print(f"noninferior_at_margin_rate_{tag}n{n}_{name}: {ni / trials:.4f}")
            print(f"power_{tag}n{n}_{name}: {detect / trials:.4f}")
            print(f"disagree_mcnemar_{tag}n{n}_{name}: {disagree / trials:.4f}")


def small_intervals(args: argparse.Namespace) -> None:
    sizes = (40, 100, args.cases)
    small_sample_intervals(args.trials, sizes, args.n_boot, args.seed + 1)
    small_sample_intervals(args.trials, sizes, args.n_boot, args.seed + 2, baseline=0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000, help="comparisons per scenario (≥ 200)")
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--sim-trials", type=int, default=200, help="trials through the simulator")
    parser.add_argument(
        "--only-small", action="store_true", help="only (d): pass/fail intervals at small n"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    if args.only_small:
        small_intervals(args)
        print(f"runtime_s: {time.perf_counter() - started:.1f}")
        return
    rng = np.random.default_rng(args.seed)
    n, trials = args.cases, args.trials
    a_int = intercept_for(BASELINE)
    b_int = intercept_for(BASELINE - DROP)

    # (a) Two identical versions: how often does the test call a difference?
    false_pos = 0
    for t in range(trials):
        a, b, _ = simulate_pairs(n, a_int, a_int, rng)
        r = paired_difference(a, b, n_boot=args.n_boot, seed=t)
        false_pos += r.p_value < ALPHA
    print(f"null_false_positive_rate: {false_pos / trials:.4f}")

    # (b) A real 5-point drop: detection rate vs predicted power; interval coverage.
    psi = true_discordance(a_int, b_int)
    predicted = power(BASELINE, DROP, n, alpha=ALPHA, discordance=psi)
    detected = covered = 0
    for t in range(trials):
        a, b, _ = simulate_pairs(n, a_int, b_int, rng)
        r = paired_difference(a, b, n_boot=args.n_boot, seed=t)
        detected += r.p_value < ALPHA and r.delta < 0
        covered += r.ci_low <= -DROP <= r.ci_high
    rate = detected / trials
    print(f"detection_rate_5pt: {rate:.4f}")
    print(f"predicted_power_5pt: {predicted:.4f}")
    print(f"power_gap_points: {abs(rate - predicted) * 100:.2f}")
    print(f"true_discordance: {psi:.4f}")
    p11 = (BASELINE + BASELINE - DROP - psi) / 2.0  # P(both pass)
    rho = (p11 - BASELINE * (BASELINE - DROP)) / math.sqrt(
        BASELINE * (1 - BASELINE) * (BASELINE - DROP) * (1 - BASELINE + DROP)
    )
    print(f"true_correlation: {rho:.4f}")
    print(f"predicted_power_5pt_default_correlation: {power(BASELINE, DROP, n, alpha=ALPHA):.4f}")
    print(f"ci_coverage_5pt: {covered / trials:.4f}")
    simulator_calibration(args.sim_trials, n, min(args.n_boot, 500))

    # (c) Identical versions on clustered cases (40 sources × 10 questions): a case-level
    # test ignores the clustering and over-calls; the cluster analysis should not.
    naive = cluster_test = cluster_ci = 0
    for t in range(trials):
        a, b, groups = simulate_pairs(n, a_int, a_int, rng, cluster_size=10, cluster_sd=1.0)
        naive += paired_difference(a, b, n_boot=200, seed=t).p_value < ALPHA
        r = paired_difference(a, b, clusters=groups, n_boot=args.n_boot, n_perm=2000, seed=t)
        cluster_test += r.p_value < ALPHA
        cluster_ci += r.ci_low > 0 or r.ci_high < 0
    print(f"null_fpr_clustered_naive: {naive / trials:.4f}")
    print(f"null_fpr_clustered_sign_flip: {cluster_test / trials:.4f}")
    print(f"null_fpr_clustered_bootstrap_ci: {cluster_ci / trials:.4f}")

    # (d) Pass/fail intervals at small golden sets: the old bootstrap against Bonett–Price.
    small_intervals(args)
    print(f"runtime_s: {time.perf_counter() - started:.1f}")


if __name__ == "__main__":
    main()
