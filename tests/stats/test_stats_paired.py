"""paired_difference: intervals, tests, reproducibility, coverage, verdicts."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pydantic import ValidationError

from driftgate.errors import ConfigError
from driftgate.stats import (
    PairedResult,
    align_pairs,
    mcnemar_exact,
    non_inferior,
    paired_difference,
    sign_flip_test,
    verdict,
)


def _paired_binary(n: int, p_a: float, p_b: float, rng: np.random.Generator):
    """Correlated pass/fail pairs: a shared per-case uniform decides both outcomes."""
    u = rng.random(n)
    noise = rng.random(n) < 0.2  # some cases resampled independently for B
    a = (u < p_a).astype(float)
    b = np.where(noise, rng.random(n) < p_b, u < p_b).astype(float)
    return a, b


def test_binary_inputs_use_mcnemar_and_report_counts() -> None:
    a = [1, 1, 1, 0, 0, 1, 0, 1, 1, 1]
    b = [1, 0, 1, 1, 1, 1, 1, 1, 1, 1]
    r = paired_difference(a, b, n_boot=2000)
    assert r.test == "mcnemar-exact"
    assert (r.wins, r.losses, r.ties) == (3, 1, 6)
    assert r.p_value == pytest.approx(mcnemar_exact(3, 1))
    assert r.mean_a == pytest.approx(0.7) and r.mean_b == pytest.approx(0.9)
    assert r.delta == pytest.approx(0.2)
    assert r.ci_low <= r.delta <= r.ci_high
    assert r.stderr == pytest.approx(np.std(np.subtract(b, a), ddof=1) / np.sqrt(10))


def test_graded_scores_use_sign_flip() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(12)
    b = a + rng.normal(0.1, 0.05, 12)
    r = paired_difference(a, b)
    assert r.test == "sign-flip"
    assert r.p_value == pytest.approx(sign_flip_test(b - a))  # exact path: seed-free
    assert r.p_value < 0.01


def test_reproducible_with_seed() -> None:
    rng = np.random.default_rng(1)
    a = rng.random(300)
    b = a + rng.normal(-0.02, 0.2, 300)  # graded: bootstrap quantiles are not on a grid
    r1 = paired_difference(a, b, seed=5)
    r2 = paired_difference(a, b, seed=5)
    r3 = paired_difference(a, b, seed=6)
    assert r1 == r2
    assert (r1.ci_low, r1.ci_high) != (r3.ci_low, r3.ci_high)
    assert r1.p_value != r3.p_value  # the Monte Carlo sign-flip stream follows the seed too
    assert r1.delta == r3.delta


def test_interval_close_to_normal_theory() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(0.5, 0.2, 2000)
    b = a + rng.normal(0.03, 0.1, 2000)
    r = paired_difference(a, b, n_boot=4000)
    assert r.ci_low == pytest.approx(r.delta - 1.96 * r.stderr, abs=0.3 * r.stderr)
    assert r.ci_high == pytest.approx(r.delta + 1.96 * r.stderr, abs=0.3 * r.stderr)


def test_binary_interval_covers_true_delta_at_nominal_rate() -> None:
    # 300 replications of a known 5-point drop: a 95 % interval must cover ~95 % of the time.
    rng = np.random.default_rng(11)
    covered = 0
    reps = 300
    for i in range(reps):
        a, b = _paired_binary(400, 0.80, 0.75, rng)
        r = paired_difference(a, b, n_boot=1000, seed=i)
        covered += r.ci_low <= -0.05 <= r.ci_high
    assert 0.91 <= covered / reps <= 0.98


def test_identical_runs() -> None:
    a = [0.5, 0.0, 1.0, 0.25]  # graded: every bootstrap mean is 0
    r = paired_difference(a, a)
    assert (r.delta, r.ci_low, r.ci_high, r.stderr, r.p_value) == (0.0, 0.0, 0.0, 0.0, 1.0)
    assert r.interval == "bootstrap"
    assert verdict(r, 0.02) == "equivalent"


def test_identical_pass_fail_runs_need_cases_to_be_equivalent() -> None:
    # No discordant pair in 4 cases does not rule out a 2-point drop (a bootstrap of
    # all-zero differences said it did); in 1,000 cases it does.
    small = paired_difference([1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 1.0, 1.0])
    assert (small.delta, small.stderr, small.p_value) == (0.0, 0.0, 1.0)
    assert small.ci_low == pytest.approx(-small.ci_high) and small.ci_high > 0.3
    assert verdict(small, 0.02) == "inconclusive"
    a = [1.0, 0.0] * 500
    assert verdict(paired_difference(a, a), 0.02) == "equivalent"


def test_clusters_widen_interval_and_switch_test() -> None:
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(40), 10)
    shift = np.repeat(rng.normal(0, 0.3, 40), 10)  # cases of one source move together
    a = rng.normal(0.6, 0.1, 400)
    b = a + 0.02 + shift + rng.normal(0, 0.05, 400)
    plain = paired_difference(a, b, n_boot=3000)
    clustered = paired_difference(a, b, clusters=groups.tolist(), n_boot=3000)
    assert clustered.test == "cluster-sign-flip" and clustered.n_clusters == 40
    assert clustered.delta == pytest.approx(plain.delta)
    assert clustered.ci_high - clustered.ci_low > 2.5 * (plain.ci_high - plain.ci_low)
    assert clustered.stderr > 2.5 * plain.stderr
    # Randomization at the cluster level: the sign-flip p-value of the 40 cluster sums.
    sums = np.bincount(groups, weights=b - a)
    assert clustered.p_value > 0.05
    assert clustered.p_value == pytest.approx(
        paired_difference(a, b, clusters=groups.tolist(), n_boot=10).p_value
    )
    assert abs(clustered.p_value - sign_flip_test(sums, n_perm=10_000, seed=1)) < 0.03


def test_json_round_trip_and_frozen() -> None:
    r = paired_difference([0, 1, 1, 0, 1], [1, 1, 1, 0, 0], n_boot=500)
    assert PairedResult.model_validate_json(r.model_dump_json()) == r
    with pytest.raises(ValidationError):
        r.delta = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "match"),
    [
        ([1, 0, 1], [1, 0], {}, r"\[b\].*3 scores and run B 2"),
        ([1, 0], [1, float("nan")], {}, r"\[b\].*position 1"),
        ([1], [0], {}, r"at least 2 paired cases"),
        ([1, 0, 1], [1, 1, 1], {"clusters": ["x", "x", "x"]}, r"\[clusters\].*at least 2"),
        ([1, 0, 1], [1, 1, 1], {"clusters": ["x"]}, r"\[clusters\]"),
        ([1, 0, 1], [1, 1, 1], {"confidence": 95}, r"\[confidence\]"),
        ([1, 0, 1], [1, 1, 1], {"n_boot": 0}, r"\[n_boot\]"),
    ],
)
def test_bad_inputs(a: list, b: list, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        paired_difference(a, b, **kwargs)


def test_align_pairs() -> None:
    ids, a, b = align_pairs({"c1": 1.0, "c2": 0.0, "c3": 1.0}, {"c3": 0.0, "c1": 1.0, "c2": 1.0})
    assert ids == ["c1", "c2", "c3"]
    assert a.tolist() == [1.0, 0.0, 1.0] and b.tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ConfigError, match=r"1 only in A \(e.g. 'c2'\); 1 only in B"):
        align_pairs({"c1": 1.0, "c2": 0.0}, {"c1": 1.0, "c9": 1.0})
    ids, _, _ = align_pairs({"c1": 1.0, "c2": 0.0}, {"c1": 1.0, "c9": 1.0}, allow_missing=True)
    assert ids == ["c1"]


def _result(ci_low: float, ci_high: float) -> PairedResult:
    base = paired_difference([1, 0, 1, 1], [1, 0, 1, 1], n_boot=10)
    return base.model_copy(update={"ci_low": ci_low, "ci_high": ci_high})


@pytest.mark.parametrize(
    ("ci", "expected", "ok"),
    [
        ((0.01, 0.08), "better", True),
        ((-0.01, 0.05), "equivalent", True),
        ((-0.015, -0.001), "equivalent", True),
        ((-0.05, -0.01), "worse", False),
        ((-0.04, 0.03), "inconclusive", False),
        ((-0.02, 0.01), "inconclusive", False),  # exactly at -margin is not ruled out
    ],
)
def test_verdict_and_non_inferior(ci: tuple[float, float], expected: str, ok: bool) -> None:
    r = _result(*ci)
    assert verdict(r, 0.02) == expected
    assert non_inferior(r, 0.02) is ok


def test_margin_must_be_non_negative() -> None:
    with pytest.raises(ConfigError, match="margin"):
        verdict(_result(0.0, 0.1), -0.01)


@pytest.mark.slow
def test_bootstrap_10k_by_10k_under_a_second() -> None:
    from driftgate.stats.bootstrap import bootstrap_means

    rng = np.random.default_rng(0)
    a = rng.random(10_000)
    b = a + rng.normal(0.0, 0.1, 10_000)
    # CPU time, not wall time: the shared 2-core machine's load must not fail the test.
    start = time.process_time()
    means = bootstrap_means(b - a, 10_000, np.random.default_rng(0))
    elapsed = time.process_time() - start
    assert means.shape == (10_000,)
    assert elapsed < 1.2  # ~0.7 s on one idle core
    start = time.process_time()
    r = paired_difference(a, b)  # bootstrap + 10k-permutation sign-flip test
    assert r.test == "sign-flip"
    assert time.process_time() - start < 2.0
