"""The reference-overlap scorers (levenshtein, rouge-n, bleu) and the form scorers (is-xml,
is-sql, is-refusal, finish-reason) added for promptfoo's assertions, on hand-checked values."""

from __future__ import annotations

import math

import pytest

from driftgate.scoring.base import ScoreContext
from driftgate.scoring.build import build_scorer
from driftgate.scoring.overlap import bleu, rouge_n


def score(options: dict, output: str, **ctx):
    return build_scorer(options).evaluate_sync(ScoreContext(output=output, **ctx))


def test_rouge_n_is_recall_of_reference_ngrams():
    assert rouge_n("the cat sat", "the cat sat on the mat") == pytest.approx(3 / 6)
    assert rouge_n("the cat the cat", "the cat", n=2) == 1.0  # clipped: 1 reference bigram
    assert rouge_n("x", "a b", n=2) == 0.0


def test_bleu_matches_the_textbook_definition():
    assert bleu("the cat sat on the mat", ["the cat sat on the mat"]) == pytest.approx(1.0)
    # 6 candidate words, reference 7: precisions 5/6, 3/5, 2/4, 1/3, brevity exp(1 - 7/6)
    got = bleu("the cat sat on a mat", ["the cat sat on the red mat"])
    p = [5 / 6, 3 / 5, 2 / 4, 1 / 3]
    want = math.exp(1 - 7 / 6) * math.exp(sum(math.log(x) for x in p) / 4)
    assert got == pytest.approx(want)
    assert bleu("dog", ["the cat"]) == 0.0


def test_overlap_scorers_pass_at_promptfoo_defaults():
    assert score({"type": "levenshtein", "value": "kitten"}, "sitting").passed  # 3 ≤ 5
    assert not score(
        {"type": "levenshtein", "value": "kitten", "max_distance": 2}, "sitting"
    ).passed
    assert score({"type": "rouge-n", "value": "a b c d"}, "a b c").passed is True  # 0.75
    assert score({"type": "rouge-n", "value": "a b c d"}, "a b").passed is False
    assert score(
        {"type": "bleu", "value": "{{ ref }}"},
        "the cat sat on the mat",
        vars={"ref": "the cat sat on the mat"},
    ).passed


def test_is_xml_and_required_elements():
    assert score({"type": "is-xml"}, "```xml\n<a><b>1</b></a>\n```").passed
    assert not score({"type": "is-xml"}, "<a><b></a>").passed
    assert score({"type": "is-xml", "required_elements": ["a.b"]}, "<a><b/></a>").passed
    assert not score({"type": "is-xml", "required_elements": ["a.c"]}, "<a><b/></a>").passed


def test_is_sql_parses_without_running():
    assert score({"type": "is-sql"}, "SELECT name FROM users WHERE id = 1;").passed
    assert score({"type": "is-sql"}, "DROP TABLE users").passed  # parsed, never executed
    assert not score({"type": "is-sql"}, "SELEC name FORM users").passed
    assert not score({"type": "is-sql"}, "").passed


def test_is_refusal_reads_the_opening_only():
    assert score({"type": "is-refusal"}, "I'm sorry, but I can't help with that.").passed
    assert score({"type": "is-refusal"}, "").passed
    assert not score({"type": "is-refusal"}, "Paris is the capital of France.").passed
    late = "Paris. " * 40 + "As an AI language model I cannot browse."
    assert not score({"type": "is-refusal"}, late).passed


def test_finish_reason_and_its_absence():
    assert score({"type": "finish-reason", "value": "stop"}, "x", finish_reason="stop").passed
    assert not score({"type": "finish-reason", "value": "stop"}, "x", finish_reason="length").passed
    missing = score({"type": "finish-reason", "value": "stop"}, "x")
    assert missing.error and not missing.passed


def test_code_assertions_return_values():
    ok = score(
        {"type": "python-assert", "code": "{'pass': True, 'score': 0.4, 'reason': 'r'}"}, "x"
    )
    assert ok.passed and ok.value == 0.4 and ok.reason == "r"
    raised = score({"type": "python-assert", "code": "1/0"}, "x")
    assert raised.error and "ZeroDivisionError" in raised.error
    assert not score({"type": "javascript", "code": "output === 'y'"}, "x").passed
    hang = score({"type": "javascript", "code": "while (true) {}\nreturn 1"}, "x")
    assert hang.error and "interrupted" in hang.error
