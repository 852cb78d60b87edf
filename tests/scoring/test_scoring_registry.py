"""The scorer registry as users meet it: names, negation, thresholds, option errors."""

from __future__ import annotations

import asyncio

import pytest

from driftgate.errors import ConfigError, UnknownNameError
from driftgate.scoring import ScoreContext, build_scorer, scorer_names

EXPECTED_NAMES = {
    "equals", "contains", "icontains", "contains-any", "contains-all", "icontains-any",
    "icontains-all", "starts-with", "regex", "json-valid", "json-path", "label-match",
    "numeric", "similarity", "length", "latency", "cost", "python",
}  # fmt: skip


def test_all_builtins_registered():
    assert EXPECTED_NAMES <= set(scorer_names())


def test_unknown_scorer_suggests_close_match():
    with pytest.raises(UnknownNameError) as exc:
        build_scorer({"type": "contians"})
    assert exc.value.hint is not None and "'contains'" in exc.value.hint
    assert "unknown scorer 'contians'" in str(exc.value)


def test_unknown_negated_scorer():
    with pytest.raises(UnknownNameError, match="not-contians"):
        build_scorer({"type": "not-contians"})


def test_unknown_option_is_config_error_naming_field():
    with pytest.raises(ConfigError) as exc:
        build_scorer({"type": "contains", "value": "a", "ignorecase": True}, source="s.suite.yaml")
    msg = str(exc.value)
    assert "s.suite.yaml" in msg and "scorers.contains.ignorecase" in msg and "unknown option" in msg


def test_wrong_option_type_is_config_error():
    with pytest.raises(ConfigError, match="scorers.length.max_words"):
        build_scorer({"type": "length", "max_words": "many"})


def test_negation_flips_value_and_keeps_metric_name():
    sc = build_scorer({"type": "not-icontains", "value": "SORRY"})
    assert sc.metric == "not-icontains"
    s = asyncio.run(sc.evaluate(ScoreContext(output="so sorry")))
    assert (s.value, s.passed) == (0.0, False)
    assert s.reason.startswith("not (")


def test_threshold_overrides_verdict():
    ctx = ScoreContext(output="kitten")
    lenient = build_scorer({"type": "similarity", "value": "sitting", "threshold": 0.5})
    strict = build_scorer({"type": "similarity", "value": "kitten!", "threshold": 0.99})
    assert asyncio.run(lenient.evaluate(ctx)).passed is True
    assert asyncio.run(strict.evaluate(ctx)).passed is False


def test_metric_and_weight_options():
    sc = build_scorer({"type": "label-match", "metric": "category", "weight": 2})
    assert sc.metric == "category" and sc.config.weight == 2
