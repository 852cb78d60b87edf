"""The statistics behind the signals, checked against scipy and known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from drift_helpers import sklearn_loaded  # noqa: F401 - a fixture (imports scikit-learn in setup)

from driftgate.drift import _stats

pytestmark = pytest.mark.usefixtures("sklearn_loaded")


def test_ks_matches_scipy() -> None:
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(0)
    for a, b in [
        (rng.normal(0, 1, 300), rng.normal(0.3, 1, 200)),
        (rng.normal(0, 1, 80), rng.normal(0, 1, 90)),
        (rng.integers(0, 5, 400).astype(float), rng.integers(0, 6, 400).astype(float)),
    ]:
        d, p = _stats.ks_2samp(a, b)
        ref = ks_2samp(a, b, method="asymp")
        assert d == pytest.approx(ref.statistic, abs=1e-12)
        assert p == pytest.approx(ref.pvalue, abs=0.02)
    assert _stats.ks_2samp([1, 2, 3], [1, 2, 3])[0] == 0.0
    assert _stats.ks_2samp([1, 1, 1], [5, 5, 5])[0] == 1.0
    assert _stats.ks_critical(0.05, 400, 400) == pytest.approx(1.358 * math.sqrt(2 / 400), rel=1e-3)


def test_js_distance_and_chi_square() -> None:
    same = np.array([10.0, 20, 30])
    assert _stats.js_distance(same, same * 2) == pytest.approx(0.0, abs=1e-12)
    assert _stats.js_distance(np.array([1.0, 0]), np.array([0.0, 1])) == pytest.approx(1.0)
    stat, dof, p = _stats.chi_square(np.array([50.0, 50]), np.array([30.0, 70]))
    assert (
        dof == 1
        and stat == pytest.approx(8.333, rel=1e-3)
        and p == pytest.approx(0.00389, rel=0.01)
    )
    # The JS critical value tracks the null: ~0.1% of same-distribution pairs exceed it.
    rng = np.random.default_rng(1)
    probs = [0.4, 0.3, 0.2, 0.1]
    crit = _stats.js_critical(0.001, 3, 300, 300)
    js = [
        _stats.js_distance(
            np.bincount(rng.choice(4, 300, p=probs), minlength=4).astype(float),
            np.bincount(rng.choice(4, 300, p=probs), minlength=4).astype(float),
        )
        for _ in range(2000)
    ]
    assert np.mean(np.array(js) > crit) < 0.01


def test_pooling_rare_categories() -> None:
    cats, a, b = _stats.pooled_counts(["x"] * 10 + ["r1", "r2"], ["x"] * 8 + ["r3"])
    assert cats == ["x", _stats.RARE] and a.tolist() == [10, 2] and b.tolist() == [8, 1]


def test_psi() -> None:
    assert _stats.psi(["a"] * 50 + ["b"] * 50, ["a"] * 50 + ["b"] * 50) == pytest.approx(0.0)
    # 50/50 → 90/10: (0.4)ln(0.9/0.5) + (-0.4)ln(0.1/0.5) ≈ 0.879
    assert _stats.psi(["a"] * 50 + ["b"] * 50, ["a"] * 90 + ["b"] * 10) == pytest.approx(
        0.8789, rel=1e-3
    )
    assert _stats.numeric_bins([1, 2, 3, 4], [0, 2.5, 10], bins=4) == [0, 2, 3]


def test_paired_z() -> None:
    z, delta, se = _stats.paired_z(np.zeros(100), np.r_[np.ones(9), np.zeros(91)])
    assert delta == pytest.approx(0.09) and z == pytest.approx(
        0.09 / (np.std(np.r_[np.ones(9), np.zeros(91)], ddof=1) / 10)
    )
    assert _stats.paired_z(np.zeros(5), np.zeros(5))[0] == 0.0
    assert _stats.paired_z(np.zeros(5), np.ones(5))[0] == _stats.Z_CAP


def test_domain_auc_and_nearest_neighbours() -> None:
    rng = np.random.default_rng(2)
    X = np.r_[rng.normal(0, 1, (150, 4)), rng.normal(0, 1, (150, 4))]
    y = np.r_[np.zeros(150), np.ones(150)].astype(int)
    assert _stats.domain_auc(X, y) < 0.6
    X2 = np.r_[rng.normal(0, 1, (150, 4)), rng.normal(1.5, 1, (150, 4))]
    assert _stats.domain_auc(X2, y) > 0.9
    G = np.eye(3)
    d = _stats.nn_cosine_distance(np.array([[1.0, 0.1, 0], [0, 0, -1.0]]), G)
    assert d[0] == pytest.approx(1 - 1 / math.sqrt(1.01)) and d[1] == pytest.approx(1.0)
    assert _stats.nn_cosine_distance(G, G, exclude_self=True).tolist() == [1.0, 1.0, 1.0]


def test_mmd_separates_shifted_samples() -> None:
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(60), np.ones(60)].astype(int)
    same, p_same, _ = _stats.mmd_test(rng.normal(0, 1, (120, 3)), y, n_perm=100)
    shift, p_shift, q99 = _stats.mmd_test(
        np.r_[rng.normal(0, 1, (60, 3)), rng.normal(1, 1, (60, 3))], y, n_perm=100
    )
    assert p_same > 0.05 and p_shift < 0.02 and shift > q99 > same


def test_domain_auc_of_identical_sides_is_one_half() -> None:
    # Byte-identical outputs on both sides (repeated cases too): twins share a fold, so the
    # held-out rows never meet their twin with the other label in training (was ~0.2).
    rng = np.random.default_rng(3)
    for n in (30, 120):
        A = rng.normal(0, 1, (n, 8))
        reps = np.r_[A, A[: n // 2]]
        X = np.r_[reps, reps]
        y = np.r_[np.zeros(len(reps)), np.ones(len(reps))].astype(int)
        assert abs(_stats.domain_auc(X, y, seed=n) - 0.5) < 0.05
    # Still sees a real shift when a few rows coincide.
    B = rng.normal(1.5, 1, (60, 8))
    B[:5] = A[:5]
    y2 = np.r_[np.zeros(60), np.ones(60)].astype(int)
    assert _stats.domain_auc(np.r_[A[:60], B], y2) > 0.85
