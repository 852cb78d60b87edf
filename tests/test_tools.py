"""The tool shapes every layer reads (`driftgate._tools`): definitions, histories, calls."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from driftgate._tools import (
    Tool,
    expected_calls,
    history_message,
    merge_tools,
    normalize_calls,
    openai_calls,
    parse_arguments,
    tools_payload,
)


def tool(name: str, **props: str) -> Tool:
    params = {"type": "object", "properties": {k: {"type": v} for k, v in props.items()}}
    return Tool.model_validate(
        {"type": "function", "function": {"name": name, "parameters": params}}
    )


def test_a_tool_needs_a_name_and_an_object_schema():
    assert tool("get_weather", city="string").name == "get_weather"
    for bad, words in [
        ({"function": {"name": "has space"}}, "should match pattern"),
        ({"function": {"name": "f", "parameters": {"type": "string"}}}, "type: object"),
        (
            {"function": {"name": "f", "parameters": {"type": "object", "required": "city"}}},
            "not a valid JSON schema at required",
        ),
        ({"type": "retrieval", "function": {"name": "f"}}, "'function'"),
    ]:
        with pytest.raises(ValidationError) as err:
            Tool.model_validate(bad)
        assert words in str(err.value), str(err.value)


def test_case_tools_add_to_and_replace_the_prompts_by_name():
    base = [tool("a", x="string"), tool("b")]
    merged = merge_tools(base, [tool("a", y="integer"), tool("c")])
    assert [t.name for t in merged or []] == ["b", "a", "c"]
    assert "y" in merged[1].function.parameters["properties"]  # type: ignore[index]
    assert merge_tools(base, None) is base and merge_tools(None, base) is base
    assert tools_payload([tool("a")]) == [
        {
            "type": "function",
            "function": {"name": "a", "parameters": {"type": "object", "properties": {}}},
        }
    ]


def test_history_messages_in_openai_shape():
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
    out = history_message({"role": "assistant", "content": None, "tool_calls": [call]}, "m[1]")
    assert out["tool_calls"][0]["function"]["arguments"] == '{"x": 1}'  # JSON text, as sent
    assert (
        history_message({"role": "tool", "tool_call_id": "c1", "content": "ok"}, "m")[
            "tool_call_id"
        ]
        == "c1"
    )
    for bad, words in [
        ({"role": "tool", "content": "ok"}, "tool_call_id"),
        ({"role": "user", "content": "x", "tool_calls": [call]}, "'tool_calls' is not allowed"),
        ({"role": "assistant", "content": None}, "null only beside tool_calls"),
        ({"role": "assistant", "content": "", "tool_calls": [{"id": "c"}]}, "m.tool_calls[0]"),
    ]:
        with pytest.raises(ValueError, match="m") as err:
            history_message(bad, "m")
        assert words in str(err.value)


def test_calls_from_every_shape_they_arrive_in():
    obj = SimpleNamespace(id="c9", function=SimpleNamespace(name="f", arguments='{"a": 1}'))
    assert normalize_calls([obj]) == [{"id": "c9", "name": "f", "arguments": '{"a": 1}'}]
    wire = [{"id": "c1", "type": "function", "function": {"name": "g", "arguments": "{}"}}]
    assert normalize_calls(wire) == [{"id": "c1", "name": "g", "arguments": "{}"}]
    assert normalize_calls([{"name": "h", "arguments": {"x": [1]}}]) == [
        {"id": "call_0", "name": "h", "arguments": '{"x": [1]}'}
    ]
    assert normalize_calls(None) is None and normalize_calls([]) is None
    assert openai_calls(normalize_calls(wire) or []) == wire
    with pytest.raises(ValueError, match="no function name"):
        normalize_calls([{"arguments": "{}"}])
    assert parse_arguments({"arguments": "[1]"}) is None
    assert parse_arguments({"arguments": "{bad"}) is None


def test_expected_calls_shapes():
    one = {"name": "f", "arguments": {"a": 1}}
    assert expected_calls(one) == [("f", {"a": 1})]
    assert expected_calls([one, {"name": "g"}]) == [("f", {"a": 1}), ("g", None)]
    assert expected_calls(
        {"tool_calls": [{"function": {"name": "f", "arguments": '{"a": 1}'}}]}
    ) == [("f", {"a": 1})]
    assert expected_calls("f") is None and expected_calls("f", bare_name=True) == [("f", None)]
    assert expected_calls({"answer": "x"}) is None  # a JSON answer, not a call
    assert expected_calls({"name": "f", "arguments": "not json"}) is None
    assert json.dumps(expected_calls({"name": "f", "arguments": None}))
