"""The tool-call scorers: what passes, what fails, and the reason naming what differed."""

from __future__ import annotations

from typing import Any

import pytest

from driftgate.errors import ConfigError
from driftgate.scoring import ScoreContext
from driftgate.scoring.build import build_scorer

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}


def call(name: str, arguments: str = "{}", i: int = 0) -> dict[str, str]:
    return {"id": f"c{i}", "name": name, "arguments": arguments}


def ctx(calls: list[dict[str, str]] | None, expected: Any = None, text: str = "", **vars_: Any):
    return ScoreContext(
        output=text, expected=expected, tool_calls=calls, tools=[WEATHER, TIME], vars=vars_,
        case_id="k1",
    )  # fmt: skip


def score(options: dict[str, Any], c: ScoreContext):  # noqa: ANN201
    return build_scorer(options).evaluate_sync(c)


PARIS = {"name": "get_weather", "arguments": {"city": "Paris"}}


def test_tool_call_matches_the_cases_expected_call():
    s = score({"type": "tool-call"}, ctx([call("get_weather", '{"city": "Paris"}')], PARIS))
    assert (s.value, s.passed, s.reason) == (
        1.0,
        True,
        "called get_weather with the expected arguments",
    )
    s = score({"type": "tool-call"}, ctx([call("get_weather", '{"city": "Rome"}')], PARIS))
    assert not s.passed and s.reason == 'get_weather: city="Rome" (expected "Paris")'
    s = score({"type": "tool-call"}, ctx([call("get_time")], PARIS))
    assert not s.passed and s.reason == "get_weather not called (called get_time)"
    s = score({"type": "tool-call"}, ctx(None, PARIS, text="It is sunny in Paris."))
    assert not s.passed and s.error is None
    assert s.reason == "no tool call (answered in text: 'It is sunny in Paris.')"
    s = score({"type": "tool-call"}, ctx([call("get_weather", '{"city": ')], PARIS))
    assert not s.passed and "arguments are not a JSON object" in s.reason


def test_exact_or_subset_arguments():
    got = ctx([call("get_weather", '{"city": "Paris", "unit": "c"}')], PARIS)
    s = score({"type": "tool-call"}, got)
    assert not s.passed and s.reason == "get_weather: unexpected unit"
    assert score({"type": "tool-call", "match": "subset"}, got).passed
    missing = ctx([call("get_weather", '{"unit": "c"}')], PARIS)
    s = score({"type": "tool-call", "match": "subset"}, missing)
    assert not s.passed and s.reason == "get_weather: missing city"


def test_options_render_per_case_like_contains_values():
    opts = {"type": "tool-call", "name": "{{ tool }}", "arguments": {"city": "{{ city }}"}}
    c = ctx([call("get_weather", '{"city": "Oslo"}')], tool="get_weather", city="Oslo")
    assert score(opts, c).passed
    assert not score(
        opts, ctx([call("get_weather", '{"city": "Oslo"}')], tool="get_weather", city="Rome")
    ).passed
    text = {"type": "tool-call", "name": "get_weather", "arguments": '{"city": "{{ city }}"}'}
    assert score(text, c).passed
    only_name = {"type": "tool-call", "name": "get_weather"}
    assert score(only_name, ctx([call("get_weather", '{"city": "x"}')])).passed  # any arguments
    s = score(only_name | {"name": "{{ nope }}"}, c)
    assert s.error is not None and "nope" in s.error


def test_several_expected_calls_and_a_bare_name():
    both = [PARIS, {"name": "get_time"}]
    s = score({"type": "tool-call"}, ctx([call("get_weather", '{"city": "Paris"}')], both))
    assert s.value == 0.5 and not s.passed and "get_time not called" in s.reason
    assert score({"type": "tool-call"}, ctx([call("get_time")], "get_time")).passed
    s = score({"type": "tool-call"}, ctx([call("get_time")], None))
    assert s.error is not None and "no expected call" in s.error


def test_a_provider_error_is_an_error_never_a_pass():
    c = ScoreContext(output=None, expected=PARIS)
    for opts in (
        {"type": "tool-call"},
        {"type": "tool-call-f1", "value": ["a"]},
        {"type": "tool-call-valid"},
    ):
        s = score(opts, c)
        assert s.error is not None and not s.passed
    assert score({"type": "not-tool-call"}, c).error is not None


def test_tool_call_f1_over_the_sets_of_names():
    f1 = {"type": "tool-call-f1", "value": ["get_weather", "get_time"]}
    s = score(f1, ctx([call("get_weather"), call("get_time", i=1)]))
    assert (s.value, s.passed, s.reason) == (1.0, True, "F1 1.00")
    s = score(f1, ctx([call("get_weather"), call("lookup", i=1)]))
    assert s.value == pytest.approx(0.5) and not s.passed
    assert s.reason == "F1 0.50; missing get_time; not expected lookup"
    assert score(f1 | {"threshold": 0.5}, ctx([call("get_weather"), call("lookup", i=1)])).passed
    s = score({"type": "tool-call-f1", "value": "get_weather, get_time"}, ctx(None, text="hi"))
    assert s.value == 0.0 and "no tool call (answered in text: 'hi')" in s.reason
    s = score({"type": "tool-call-f1"}, ctx([call("get_weather")], [PARIS, {"name": "get_time"}]))
    assert s.value == pytest.approx(2 / 3)


def test_tool_call_f1_with_arguments():
    f1 = {"type": "tool-call-f1", "arguments": True}
    assert score(f1, ctx([call("get_weather", '{"city": "Paris"}')], PARIS)).passed
    s = score(f1, ctx([call("get_weather", '{"city": "Rome"}')], PARIS))
    assert s.value == 0.0 and "missing get_weather" in s.reason
    s = score(f1 | {"value": ["get_weather"]}, ctx([call("get_weather")]))
    assert s.error is not None and "drop `value`" in s.error


def test_tool_call_valid_checks_names_and_schemas():
    v = {"type": "tool-call-valid"}
    s = score(
        v, ctx([call("get_weather", '{"city": "Paris", "unit": "c"}'), call("get_time", i=1)])
    )
    assert s.passed and s.reason == "2 valid call(s): get_weather, get_time"
    s = score(v, ctx([call("get_weather", '{"unit": "k"}')]))
    assert not s.passed and s.reason.startswith("get_weather: ")
    assert "'city' is a required property" in s.reason or "not one of" in s.reason
    s = score(v, ctx([call("get_weather", '{"city": "x", "unit": "k"}')]))
    assert s.reason == "get_weather: 'k' is not one of ['c', 'f'] (at unit)"
    s = score(v, ctx([call("book_flight")]))
    assert s.reason == "book_flight is not an offered tool (offered: get_time, get_weather)"
    assert not score(v, ctx(None, text="sure")).passed
    no_tools = ScoreContext(output="", tool_calls=[call("get_time")])
    assert "offered no tools" in score(v, no_tools).reason


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="'exact' or 'subset'"):
        build_scorer({"type": "tool-call", "match": "{{ m }}"})
    with pytest.raises(ConfigError, match="unknown option"):
        build_scorer({"type": "tool-call-valid", "value": "x"})
