"""Reducers for repeated runs and flaky-case detection."""

from __future__ import annotations

import pytest

from driftgate.errors import ConfigError, UnknownNameError
from driftgate.stats import flaky_cases, reduce_repeats

SCORES = {"c1": [1.0, 1.0, 0.0, 1.0], "c2": [0.0, 0.0, 1.0, 0.0], "c3": [1.0, 0.0, 1.0, 0.0]}


def test_mean() -> None:
    assert reduce_repeats({"c": [0.2, 0.4, 0.9]}) == {"c": pytest.approx(0.5)}


def test_majority_ties_fail() -> None:
    assert reduce_repeats(SCORES, "majority") == {"c1": 1.0, "c2": 0.0, "c3": 0.0}


def test_pass_at_k_unbiased_estimator() -> None:
    # c1: m=4, c=3, k=2 → 1 - C(1,2)/C(4,2) = 1; c2: 1 - C(3,2)/C(4,2) = 0.5;
    # c3: 1 - C(2,2)/C(4,2) = 5/6
    out = reduce_repeats(SCORES, "pass@k", k=2)
    assert out == {"c1": 1.0, "c2": pytest.approx(0.5), "c3": pytest.approx(5 / 6)}
    # k defaults to all repeats: any pass counts.
    assert reduce_repeats(SCORES, "pass@k") == {"c1": 1.0, "c2": 1.0, "c3": 1.0}
    # k = 1 is the plain pass rate.
    assert reduce_repeats(SCORES, "pass@k", k=1)["c1"] == pytest.approx(0.75)


def test_all_k() -> None:
    # c1: C(3,2)/C(4,2) = 0.5; c2: 0; c3: C(2,2)/C(4,2) = 1/6
    out = reduce_repeats(SCORES, "all-k", k=2)
    assert out == {"c1": pytest.approx(0.5), "c2": 0.0, "c3": pytest.approx(1 / 6)}
    assert reduce_repeats(SCORES, "all-k") == {"c1": 0.0, "c2": 0.0, "c3": 0.0}


def test_threshold_for_graded_scores() -> None:
    graded = {"c": [0.7, 0.8, 0.4]}
    assert reduce_repeats(graded, "majority") == {"c": 1.0}
    assert reduce_repeats(graded, "majority", threshold=0.75) == {"c": 0.0}


def test_errors() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'majority'"):
        reduce_repeats(SCORES, "majorty")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"\[k\].*only 4 repeats"):
        reduce_repeats(SCORES, "pass@k", k=5)
    with pytest.raises(ConfigError, match=r"\[k\].*only applies"):
        reduce_repeats(SCORES, "mean", k=2)
    with pytest.raises(ConfigError, match=r"case 'x' has no repeats"):
        reduce_repeats({"x": []})


def test_flaky_cases_in_input_order() -> None:
    outcomes = {"a": [True, True], "b": [True, False, True], "c": [False], "d": [False, True]}
    assert flaky_cases(outcomes) == ["b", "d"]
    assert flaky_cases({}) == []
