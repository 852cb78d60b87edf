"""Label probabilities: softmax over log-likelihoods, and an API's top logprobs mapped onto
a label set."""

from __future__ import annotations

import math

import pytest

from driftgate.providers._labels import (
    best_label,
    label_loglik,
    probs_from_top_logprobs,
    softmax,
    top_logprobs_of_first_token,
    wants_logprobs,
)

LABELS = ["groceries", "dining", "fuel", "food"]


def test_softmax_sums_to_one_and_survives_very_negative_scores() -> None:
    probs = softmax({"a": -1000.0, "b": -1001.0, "c": -2000.0})
    assert sum(probs.values()) == pytest.approx(1.0)
    assert probs["a"] == pytest.approx(1 / (1 + math.exp(-1)))
    assert probs["c"] == pytest.approx(0.0, abs=1e-300)
    assert softmax({}) == {}


def test_loglik_sum_or_mean() -> None:
    assert label_loglik([-1.0, -2.0, -3.0], "sum") == -6.0
    assert label_loglik([-1.0, -2.0, -3.0], "mean") == -2.0
    with pytest.raises(ValueError):
        label_loglik([], "sum")


def test_best_label_breaks_ties_by_order() -> None:
    assert best_label({"x": 0.4, "y": 0.4, "z": 0.2}, ["y", "x", "z"]) == "y"
    assert best_label({"x": 0.5, "y": 0.3, "z": 0.2}, ["y", "x", "z"]) == "x"


def test_top_logprobs_mapped_onto_labels() -> None:
    top = [("G", math.log(0.5)), (" dining", math.log(0.2)), ("The", math.log(0.2))]
    probs = probs_from_top_logprobs(top, LABELS)
    assert probs is not None and sum(probs.values()) == pytest.approx(1.0)
    # fuel and food unseen: they share the leftover 0.1 (0.05 each, under the 0.2 floor).
    assert probs["groceries"] / probs["dining"] == pytest.approx(0.5 / 0.2)
    assert probs["fuel"] == probs["food"] == pytest.approx(probs["dining"] * 0.05 / 0.2)


def test_a_token_that_starts_several_labels_splits_its_mass() -> None:
    probs = probs_from_top_logprobs([("f", math.log(0.6)), ("gro", math.log(0.4))], LABELS)
    assert probs is not None
    assert probs["fuel"] == probs["food"] == pytest.approx(0.3)
    assert probs["groceries"] == pytest.approx(0.4) and probs["dining"] == 0.0


def test_unseen_labels_never_outrank_the_top_tokens() -> None:
    # The top tokens hold little of the mass: an unseen label gets at most the smallest one.
    probs = probs_from_top_logprobs(
        [("PASS", math.log(0.3)), ("I", math.log(0.1))], ["PASS", "FAIL"]
    )
    assert probs is not None and probs["FAIL"] == pytest.approx(0.1 / 0.4)


def test_case_insensitive_and_punctuation() -> None:
    probs = probs_from_top_logprobs([("pass.", -0.1), ("Fail", -2.5)], ["PASS", "FAIL"])
    assert probs is not None and probs["PASS"] > 0.9


def test_no_label_seen_is_no_information() -> None:
    assert probs_from_top_logprobs([("The", -0.1), (" ", -3.0)], LABELS) is None
    assert probs_from_top_logprobs([], LABELS) is None


def test_first_token_from_json_and_from_objects() -> None:
    payload = {"content": [{"token": "G", "logprob": -0.2, "top_logprobs": [
        {"token": "G", "logprob": -0.2}, {"token": "D", "logprob": -1.9, "bytes": [68]}]}]}  # fmt: skip
    assert top_logprobs_of_first_token(payload) == [("G", -0.2), ("D", -1.9)]

    class Obj:
        def __init__(self, **kw: object) -> None:
            self.__dict__.update(kw)

    obj = Obj(content=[Obj(token="x", logprob=-0.5, top_logprobs=[])])
    assert top_logprobs_of_first_token(obj) == [("x", -0.5)]  # no alternatives: the token
    assert top_logprobs_of_first_token(None) == []
    assert top_logprobs_of_first_token({"content": []}) == []


def test_logprobs_are_opt_in() -> None:
    assert wants_logprobs({"logprobs": True}, ["a", "b"])
    assert not wants_logprobs({}, ["a", "b"])
    assert not wants_logprobs({"logprobs": True}, None)
