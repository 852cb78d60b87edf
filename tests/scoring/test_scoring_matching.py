"""label-match, numeric and similarity scorers, and the edit distance behind similarity."""

from __future__ import annotations

import asyncio
import random

import pytest

from driftgate.errors import ConfigError
from driftgate.scoring import Score, ScoreContext, build_scorer
from driftgate.scoring.matching import first_number, levenshtein, similarity


def run(options: dict, output: str | None = "", **ctx) -> Score:
    return asyncio.run(build_scorer(options).evaluate(ScoreContext(output=output, **ctx)))


# ---- label-match ----------------------------------------------------------------------------


def test_label_match_normalizes():
    assert run({"type": "label-match"}, ' "Groceries." ', expected="groceries").passed is True
    assert run({"type": "label-match"}, "**Eating-Out**", expected="eating_out").passed is True
    s = run({"type": "label-match"}, "rent", expected="groceries")
    assert s.passed is False and "'rent'" in s.reason and "groceries" in s.reason


def test_label_match_prefers_parsed_label():
    s = run({"type": "label-match"}, "I think it is rent", parsed="groceries", expected="groceries")
    assert s.passed is True


def test_label_match_aliases():
    opts = {"type": "label-match", "aliases": {"groceries": ["supermarket", "food shopping"]}}
    assert run(opts, "Supermarket", expected="groceries").passed is True
    assert run(opts, "food-shopping", expected="Groceries").passed is True
    assert run(opts, "rent", expected="groceries").passed is False


def test_label_match_finds_single_mention_in_prose():
    labels = ["groceries", "rent"]
    assert run(
        {"type": "label-match"}, "The category is rent.", expected="rent", labels=labels
    ).passed
    # mentions both → no single label
    s = run({"type": "label-match"}, "rent or groceries", expected="rent", labels=labels)
    assert s.passed is False
    # a synonym and its label together are one label
    opts = {"type": "label-match", "aliases": {"groceries": ["supermarket"]}}
    assert run(opts, "groceries (a supermarket)", expected="groceries", labels=labels).passed


def test_label_match_expected_list_accepts_any():
    assert run({"type": "label-match", "value": ["a", "b"]}, "B").passed is True


def test_label_match_reports_parse_error():
    s = run(
        {"type": "label-match"}, "dunno", expected="rent", parse_error="not one of the labels: rent"
    )
    assert s.passed is False and "not one of the labels" in s.reason


def test_label_match_alias_conflict_is_config_error():
    with pytest.raises(ConfigError, match="two labels"):
        build_scorer({"type": "label-match", "aliases": {"a": ["x"], "b": ["X"]}})


# ---- numeric --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, number",
    [
        ("The total is $1,234.50.", 1234.5),
        ("-3 degrees", -3.0),
        ("about .5", 0.5),
        ("1e3 items", 1000.0),
        ("version 2024-05", 2024.0),
        ("12,34", 12.0),
        ("no digits", None),
    ],
)
def test_first_number(text, number):
    assert first_number(text) == number


def test_numeric_exact_and_tolerances():
    assert run({"type": "numeric", "value": 42}, "It is 42.").passed is True
    assert run({"type": "numeric", "value": 42}, "It is 42.5").passed is False
    assert run({"type": "numeric", "value": 42, "tolerance": 0.5}, "It is 42.5").passed is True
    assert run({"type": "numeric", "value": 200, "rel_tolerance": 0.05}, "209").passed is True
    assert run({"type": "numeric", "value": 200, "rel_tolerance": 0.05}, "211").passed is False
    assert run({"type": "numeric", "value": 0.3}, "0.1+0.2 = 0.30000000000000004").passed is False
    assert run({"type": "numeric"}, "answer: 0.30000000000000004", expected=0.3).passed is True


def test_numeric_expected_string_and_parsed_number():
    assert run({"type": "numeric"}, "7 apples", expected="7").passed is True
    assert run({"type": "numeric"}, "{}", parsed=7, expected=7).passed is True


def test_numeric_failures():
    s = run({"type": "numeric", "value": 1}, "none")
    assert s.passed is False and "no number" in s.reason
    s = run({"type": "numeric"}, "5", expected="many")
    assert s.error is not None and "not a number" in s.error


# ---- similarity -----------------------------------------------------------------------------


def _dp(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_levenshtein_known_values():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("flaw", "lawn") == 2
    assert levenshtein("same", "same") == 0


def test_levenshtein_matches_textbook_dp():
    rng = random.Random(7)
    for _ in range(300):
        a = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 70)))
        b = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 70)))
        assert levenshtein(a, b) == _dp(a, b), (a, b)


def test_similarity_values():
    assert similarity("", "") == 1.0
    assert similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert similarity("abc", "xyz") == 0.0


def test_similarity_scorer_default_threshold_and_reference():
    s = run({"type": "similarity"}, "The cat sat on the mat", reference="The cat sat on a mat")
    assert s.value == pytest.approx(1 - 3 / 22) and s.passed is True
    s = run({"type": "similarity", "value": "kitten"}, "sitting")
    assert s.value == pytest.approx(1 - 3 / 7) and s.passed is False  # 0.571 < 0.8


def test_similarity_threshold_and_list():
    s = run({"type": "similarity", "value": "kitten", "threshold": 0.5}, "sitting")
    assert s.passed is True
    s = run({"type": "similarity", "value": ["zzz", "sitting"]}, "sitting")
    assert s.value == 1.0
    assert run({"type": "similarity", "value": "ABC", "ignore_case": True}, "abc").value == 1.0


def test_label_match_memo_is_bounded_and_keeps_aliases(monkeypatch):
    from driftgate.scoring import matching

    monkeypatch.setattr(matching, "_MEMO_MAX", 2)
    s = build_scorer({"type": "label-match", "aliases": {"groceries": ["supermarket"]}})
    for out, ok in [
        ("Supermarket", True),
        ("groceries!", True),
        ("rent", False),
        ("SUPERMARKET", True),
    ] * 2:
        ctx = ScoreContext(output=out, expected="groceries")
        assert s.evaluate_sync(ctx).passed is ok, out
    assert len(s._canonical) <= 2


# ---- fuzzy-match (OpenAI evals' FuzzyMatch) -------------------------------------------------


@pytest.mark.parametrize(
    "output, expected, passed",
    [
        ("The answer is Paris.", "paris", True),  # the output contains the ideal
        ("Paris", "The city of Paris", True),  # the ideal contains the output
        ("an Apple!", "apple", True),  # articles and punctuation dropped
        ("London", "Paris", False),
        ("", "Paris", False),  # empty matches only empty
        ("London", ["Paris", "london"], True),  # a list: any ideal
    ],
)
def test_fuzzy_match(output, expected, passed):
    s = run({"type": "fuzzy-match"}, output, expected=expected)
    assert s.passed is passed, s.reason


def test_fuzzy_match_value_option_and_negation():
    assert run({"type": "fuzzy-match", "value": "paris"}, "Paris, France").passed is True
    assert run({"type": "not-fuzzy-match", "value": "paris"}, "Paris, France").passed is False
