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
    assert (
        "s.suite.yaml" in msg and "scorers.contains.ignorecase" in msg and "unknown option" in msg
    )


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


# ---- scoring without a coroutine, and which module registers which scorer ---------------


def test_sync_scorers_score_the_same_without_a_coroutine():
    ctx = ScoreContext(output="Rent.", parsed=None, expected="rent", labels=["rent", "food"])
    for options in (
        {"type": "label-match"},
        {"type": "not-label-match"},
        {"type": "contains", "value": "ren"},
        {"type": "equals", "threshold": 0.5},
        {"type": "regex", "value": "("},  # an option error…
    ):
        try:
            s = build_scorer(options)
        except ConfigError:
            continue  # …is refused at build time, never scored
        assert s.sync
        assert s.evaluate_sync(ctx) == asyncio.run(s.evaluate(ctx))
    failing = build_scorer({"type": "equals"})  # nothing to compare with: a scorer error
    empty = ScoreContext(output="x", case_id="c1")
    assert failing.evaluate_sync(empty) == asyncio.run(failing.evaluate(empty))
    assert failing.evaluate_sync(empty).error is not None


def test_scorers_that_await_are_not_sync():
    from driftgate.scoring.base import Negated, Score, Scorer, ScorerConfig

    class Awaits(Scorer):
        async def ascore(self, ctx):
            return Score(1.0, True)

    class OwnEvaluate(Scorer):
        async def evaluate(self, ctx):
            return Score(1.0, True)

    config = ScorerConfig(type="x")
    assert not Awaits(config).sync and not OwnEvaluate(config).sync
    assert not Negated(Awaits(config), config).sync
    assert not build_scorer(
        {"type": "python", "function": "conftest:write_workspace"}  # the repo's own code
    ).sync  # may return a coroutine


def test_each_scorer_is_registered_by_the_module_named_for_it():
    from driftgate.scoring.base import SCORERS
    from driftgate.scoring.build import _MODULES

    scorer_names()  # imports every built-in module
    builtin = {n for n, cls in SCORERS.items() if cls.__module__.startswith("driftgate.scoring.")}
    assert builtin == set(_MODULES)
    for name, module in _MODULES.items():
        assert SCORERS[name].__module__ == f"driftgate.scoring.{module}", name


def test_building_a_scorer_imports_only_its_module():
    import subprocess
    import sys

    code = (
        "import sys\nfrom driftgate.scoring import build_scorer\n"
        "build_scorer({'type': 'not-label-match'})\n"
        "print(sorted(m for m in sys.modules if m.startswith('driftgate.scoring.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = eval(out)  # noqa: S307 - our own printed list
    assert "driftgate.scoring.matching" in loaded
    assert not {
        "driftgate.scoring.text",
        "driftgate.scoring.structured",
        "driftgate.scoring.custom",
        "driftgate.scoring.judge",
        "driftgate.scoring.semantic",
    } & set(loaded)
