"""JSON scorers (json-valid, json-path) and the path resolver."""

from __future__ import annotations

import asyncio

import pytest

from driftgate.errors import ConfigError
from driftgate.scoring import Score, ScoreContext, build_scorer
from driftgate.scoring.structured import parse_path, resolve_path


def run(options: dict, output: str | None = "", **ctx) -> Score:
    return asyncio.run(build_scorer(options).evaluate(ScoreContext(output=output, **ctx)))


SCHEMA = {
    "type": "object",
    "required": ["items"],
    "properties": {
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"price": {"type": "number"}}},
        }
    },
}


@pytest.mark.parametrize(
    "path, parts",
    [
        ("$.a.b[0]", ("a", "b", 0)),
        ("a.b.0", ("a", "b", "0")),
        ("$", ()),
        ("$['key with space'].x", ("key with space", "x")),
        ('items[-1]["sku"]', ("items", -1, "sku")),
    ],
)
def test_parse_path(path, parts):
    assert parse_path(path) == parts


def test_parse_path_rejects_garbage():
    with pytest.raises(ValueError, match="cannot read JSON path"):
        parse_path("a[x")


def test_resolve_path():
    doc = {"a": {"b": [10, 20, {"c": "deep"}]}, "7": "seven"}
    assert resolve_path(doc, parse_path("a.b.1")) == 20
    assert resolve_path(doc, parse_path("$.a.b[-1].c")) == "deep"
    assert resolve_path(doc, parse_path("$[7]")) == "seven"  # an index on a mapping is a key
    missing = resolve_path(doc, parse_path("a.b[5]"))
    assert missing is resolve_path(doc, parse_path("a.x"))
    assert missing is not None


def test_json_valid_lenient_and_strict():
    fenced = 'Sure:\n```json\n{"a": 1}\n```'
    assert run({"type": "json-valid"}, fenced).passed is True
    assert run({"type": "json-valid", "strict": True}, fenced).passed is False
    assert run({"type": "json-valid", "strict": True}, ' {"a": 1} ').passed is True
    s = run({"type": "json-valid"}, "no json here")
    assert s.passed is False and "no JSON" in s.reason


def test_json_valid_schema_names_failing_path():
    opts = {"type": "json-valid", "schema": SCHEMA}
    assert run(opts, '{"items": [{"price": 3.5}]}').passed is True
    s = run(opts, '{"items": [{"price": "cheap"}]}')
    assert s.passed is False and "$.items[0].price" in s.reason


def test_json_valid_fails_on_the_prompts_schema_error():
    s = run(
        {"type": "json-valid"},
        "{}",
        parsed={},
        parse_error="schema violation at $: 'x' is a required property",
    )
    assert s.passed is False and "required" in s.reason


def test_json_valid_invalid_schema_is_config_error():
    with pytest.raises(ConfigError, match="invalid JSON Schema"):
        build_scorer({"type": "json-valid", "schema": {"type": "nonsense"}})


def test_json_path_value_expected_and_presence():
    out = '{"category": "rent", "amount": 1200, "tags": ["a", "b"]}'
    assert run({"type": "json-path", "path": "$.category", "value": "rent"}, out).passed is True
    assert run({"type": "json-path", "path": "category"}, out, expected="rent").passed is True
    s = run({"type": "json-path", "path": "category"}, out, expected="groceries")
    assert s.passed is False and "groceries" in s.reason
    assert run({"type": "json-path", "path": "tags.1", "value": "b"}, out).passed is True
    assert run({"type": "json-path", "path": "amount"}, out).passed is True  # exists
    s = run({"type": "json-path", "path": "missing"}, out)
    assert s.passed is False and "nothing at missing" in s.reason


def test_json_path_string_expected_matches_number():
    # CSV golden sets hold strings
    assert run({"type": "json-path", "path": "amount"}, '{"amount": 1200}', expected="1200").passed
    assert not run(
        {"type": "json-path", "path": "amount"}, '{"amount": 1200}', expected="1201"
    ).passed


def test_json_path_uses_parsed_value():
    s = run({"type": "json-path", "path": "a", "value": 1}, "garbage", parsed={"a": 1})
    assert s.passed is True


def test_json_path_output_not_json():
    s = run({"type": "json-path", "path": "a", "value": 1}, "not json")
    assert s.passed is False and "not JSON" in s.reason


def test_json_path_bad_path_is_config_error():
    with pytest.raises(ConfigError) as exc:
        build_scorer({"type": "json-path", "path": "a[", "value": 1}, source="suite.yaml")
    assert "suite.yaml" in str(exc.value) and "path" in str(exc.value)
