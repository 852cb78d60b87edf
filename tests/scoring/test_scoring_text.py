"""Text scorers: equals, the contains family, starts-with, regex, length."""

from __future__ import annotations

import asyncio

import pytest

from driftgate.errors import ConfigError
from driftgate.scoring import Score, ScoreContext, build_scorer


def run(options: dict, output: str | None = "", **ctx) -> Score:
    return asyncio.run(build_scorer(options).evaluate(ScoreContext(output=output, **ctx)))


# ---- equals --------------------------------------------------------------------------------


def test_equals_value_strips_by_default():
    s = run({"type": "equals", "value": "Paris"}, "  Paris\n")
    assert (s.value, s.passed) == (1.0, True)


def test_equals_is_case_sensitive_unless_ignore_case():
    assert run({"type": "equals", "value": "Paris"}, "paris").passed is False
    assert run({"type": "equals", "value": "Paris", "ignore_case": True}, "PARIS").passed is True


def test_equals_strip_false_keeps_whitespace():
    assert run({"type": "equals", "value": "a", "strip": False}, " a").passed is False


def test_equals_defaults_to_expected():
    assert run({"type": "equals"}, "rent", expected="rent").passed is True
    s = run({"type": "equals"}, "rent", expected="groceries")
    assert s.passed is False and "groceries" in s.reason


def test_equals_non_string_value_reads_output_as_json():
    assert run({"type": "equals", "value": 42}, "42").passed is True
    assert run({"type": "equals", "value": 42}, "42.0").passed is True
    assert run({"type": "equals", "value": True}, "1").passed is False
    assert run({"type": "equals", "value": [1, 2]}, "[1, 2]").passed is True
    assert run({"type": "equals", "value": 42}, "forty-two").passed is False


def test_equals_compares_parsed_json_structurally():
    s = run(
        {"type": "equals"}, '{"b": 2, "a": 1}', parsed={"a": 1, "b": 2}, expected={"b": 2, "a": 1}
    )
    assert s.passed is True
    assert run({"type": "equals"}, "{}", parsed={"a": 1}, expected={"a": 2}).passed is False


def test_equals_renders_case_variables():
    assert run({"type": "equals", "value": "Hi {{ name }}"}, "Hi Ann", vars={"name": "Ann"}).passed


def test_nothing_to_compare_is_an_error_not_a_fail():
    s = run({"type": "equals"}, "x")
    assert s.passed is False and s.error is not None and "expected" in s.error


def test_missing_output_never_passes_even_negated():
    for t in ("equals", "not-equals", "contains", "not-contains", "regex", "not-length"):
        opts = {"type": t, "value": "x"} if "equals" in t or "contains" in t else {"type": t}
        if "regex" in t:
            opts["pattern"] = "x"
        if "length" in t:
            opts["max_chars"] = 5
        s = run(opts, None)
        assert s.passed is False and s.error is not None, t


# ---- contains family ------------------------------------------------------------------------


def test_contains_and_icontains():
    assert run({"type": "contains", "value": "refund"}, "A refund is due").passed is True
    assert run({"type": "contains", "value": "Refund"}, "A refund is due").passed is False
    assert run({"type": "icontains", "value": "Refund"}, "A REFUND is due").passed is True


def test_contains_all_scores_share_found():
    s = run({"type": "contains-all", "value": ["a", "b", "c", "d"]}, "a b")
    assert (s.value, s.passed) == (0.5, False)
    assert "'c'" in s.reason and "'d'" in s.reason
    assert run({"type": "contains-all", "value": ["a", "b"]}, "b a").passed is True


def test_contains_all_threshold_accepts_partial():
    s = run({"type": "contains-all", "value": ["a", "b", "c", "d"], "threshold": 0.75}, "a b c")
    assert (s.value, s.passed) == (0.75, True)


def test_contains_any_and_icontains_any():
    assert run({"type": "contains-any", "value": ["x", "refund"]}, "refund ok").passed is True
    assert run({"type": "contains-any", "value": ["x", "y"]}, "refund ok").passed is False
    assert run({"type": "icontains-any", "value": ["X", "REFUND"]}, "refund ok").passed is True
    assert run({"type": "icontains-all", "value": ["A", "b"]}, "a B").passed is True
    assert run({"type": "icontains-all", "value": ["A", "z"]}, "a B").passed is False


def test_contains_number_value_matches_its_text():
    assert run({"type": "contains", "value": 42}, "The answer is 42.").passed is True


def test_contains_uses_raw_output_when_parsed_is_json():
    s = run({"type": "contains", "value": '"sku"'}, '{"sku": 1}', parsed={"sku": 1})
    assert s.passed is True


def test_not_contains_negates():
    s = run({"type": "not-contains", "value": "sorry"}, "Here you go")
    assert (s.value, s.passed) == (1.0, True)
    s = run({"type": "not-contains", "value": "sorry"}, "I'm sorry")
    assert (s.value, s.passed) == (0.0, False)


# ---- starts-with, regex ---------------------------------------------------------------------


def test_starts_with():
    assert run({"type": "starts-with", "value": "Yes"}, "  Yes, indeed").passed is True
    assert run({"type": "starts-with", "value": "Yes"}, "No. Yes").passed is False
    assert run({"type": "starts-with", "value": ["No", "Yes"]}, "Yes").passed is True
    assert run({"type": "starts-with", "value": "yes", "ignore_case": True}, "YES").passed is True


def test_regex_search_and_flags():
    assert run({"type": "regex", "pattern": r"\d{4}-\d{2}-\d{2}"}, "on 2024-05-01.").passed
    assert not run({"type": "regex", "pattern": "^paris$"}, "Paris").passed
    assert run({"type": "regex", "pattern": "^paris$", "flags": "i"}, "Paris").passed
    assert run({"type": "regex", "pattern": "^b$", "flags": ["MULTILINE"]}, "a\nb").passed


def test_regex_bad_pattern_and_flag_are_config_errors():
    with pytest.raises(ConfigError, match="invalid regular expression"):
        build_scorer({"type": "regex", "pattern": "(unclosed"})
    with pytest.raises(ConfigError, match="unknown regex flag"):
        build_scorer({"type": "regex", "pattern": "a", "flags": "q"})


# ---- length ---------------------------------------------------------------------------------


def test_length_bounds():
    assert run({"type": "length", "max_words": 3}, "one two three").passed is True
    s = run({"type": "length", "max_words": 2, "min_chars": 20}, "one two three")
    assert s.passed is False and "3 words > 2" in s.reason and "13 chars < 20" in s.reason
    assert s.data == {"words": 3, "chars": 13}


def test_length_measures_raw_output_not_parsed_label():
    s = run({"type": "length", "max_words": 1}, "It is groceries, I think", parsed="groceries")
    assert s.passed is False and s.data == {"words": 5, "chars": 24}


def test_length_needs_a_bound_and_consistent_bounds():
    with pytest.raises(ConfigError, match="at least one"):
        build_scorer({"type": "length"})
    with pytest.raises(ConfigError, match="greater than"):
        build_scorer({"type": "length", "min_words": 5, "max_words": 2})


# ---- per-case expectations everywhere (#18) -------------------------------------------------


def test_regex_pattern_renders_from_the_cases_variables():
    opts = {"type": "regex", "pattern": r"^{{ code }}-\d{3}$", "flags": "i"}
    assert run(opts, "AB-123", vars={"code": "ab"}).passed is True
    s = run(opts, "AB-123", vars={"code": "cd"})
    assert s.passed is False and "cd-" in s.reason
    s = run(opts, "AB-123", vars={"code": "("})
    assert s.error and "not a regular expression" in s.error


def test_an_undefined_variable_names_the_scorer_and_the_option():
    s = run({"type": "regex", "pattern": "{{ code }}"}, "x", vars={})
    assert s.error and "'regex'" in s.error and "`pattern`" in s.error and "code" in s.error
    s = run({"type": "contains", "value": "{{ city }}"}, "x", vars={})
    assert s.error and "'contains'" in s.error and "`value`" in s.error


def test_a_template_in_an_option_that_does_not_render_is_an_error():
    with pytest.raises(ConfigError) as err:
        build_scorer({"type": "json-path", "path": "$.{{ field }}", "value": 1}, index=0)
    msg = str(err.value)
    assert "'json-path'" in msg and "`path`" in msg and "scorers[0].json-path.path" in msg
    # Code keeps its braces: a verbatim option.
    build_scorer({"type": "python-assert", "code": "'{{' not in output"})
