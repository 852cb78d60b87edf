import json
from pathlib import Path

import pytest

from driftgate.errors import ConfigError
from driftgate.evalset import iter_cases


def test_jsonl_streams_cases(tmp_path: Path):
    p = tmp_path / "g.jsonl"
    p.write_text(
        json.dumps({"id": "a", "vars": {"x": 1}, "expected": "y", "segment": "s1", "tags": ["t"]})
        + "\n\n"
        + json.dumps({"id": 2, "vars": {"x": 2}})
        + "\n"
    )
    cases = list(iter_cases(p))
    assert [c.id for c in cases] == ["a", "2"]
    assert cases[0].segment == "s1" and cases[0].tags == ["t"] and cases[0].vars == {"x": 1}


def test_jsonl_bad_line_is_named(tmp_path: Path):
    p = tmp_path / "g.jsonl"
    p.write_text('{"id": "a"}\n{"id": "b",\n')
    with pytest.raises(ConfigError) as err:
        list(iter_cases(p))
    assert f"{p}:2" in str(err.value)


def test_unknown_case_field_names_line_and_field(tmp_path: Path):
    p = tmp_path / "g.jsonl"
    p.write_text('{"id": "a"}\n{"id": "b", "expect": "x"}\n')
    with pytest.raises(ConfigError) as err:
        list(iter_cases(p))
    assert f"{p}:2" in str(err.value) and "expect" in str(err.value)


def test_duplicate_ids_rejected(tmp_path: Path):
    p = tmp_path / "g.jsonl"
    p.write_text('{"id": "a"}\n{"id": "a"}\n')
    with pytest.raises(ConfigError, match="duplicate case id 'a'"):
        list(iter_cases(p))


def test_csv_reserved_columns_and_vars(tmp_path: Path):
    p = tmp_path / "g.csv"
    p.write_text(
        "id,description,expected,segment,tags,meta.source\nr1,TESCO,groceries,old,uk;card,bank-a\n"
    )
    (case,) = list(iter_cases(p))
    assert case.vars == {"description": "TESCO"}
    assert case.expected == "groceries" and case.segment == "old"
    assert case.tags == ["uk", "card"] and case.metadata == {"source": "bank-a"}


def test_csv_ragged_row_is_named(tmp_path: Path):
    p = tmp_path / "g.csv"
    p.write_text("id,description\nr1,a\nr2,b,c\n")
    with pytest.raises(ConfigError) as err:
        list(iter_cases(p))
    assert f"{p}:3" in str(err.value)


def test_yaml_cases_with_lines(tmp_path: Path):
    p = tmp_path / "g.yaml"
    p.write_text("cases:\n  - id: a\n    vars: {q: 1}\n  - id: b\n    varz: {}\n")
    with pytest.raises(ConfigError) as err:
        list(iter_cases(p))
    assert f"{p}:4" in str(err.value) and "varz" in str(err.value)


def test_unsupported_suffix(tmp_path: Path):
    p = tmp_path / "g.txt"
    p.write_text("x")
    with pytest.raises(ConfigError, match="unsupported golden set format"):
        list(iter_cases(p))


# ---- hostile and malformed files (issue #16 items 7-9) ------------------------------------


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        list(iter_cases(path))
    return str(err.value)


@pytest.mark.parametrize(
    "name, data",
    [
        ("g.csv", "id,description,expected\na,x,groceries\nb,y,dining\n"),
        (
            "g.jsonl",
            '{"id": "a", "vars": {"description": "x"}, "expected": "groceries"}\n'
            '{"id": "b", "vars": {"description": "y"}, "expected": "dining"}\n',
        ),
        (
            "g.yaml",
            "- {id: a, vars: {description: x}, expected: groceries}\n"
            "- {id: b, vars: {description: y}, expected: dining}\n",
        ),
        (
            "g.json",
            '[{"id": "a", "vars": {"description": "x"}, "expected": "groceries"},'
            ' {"id": "b", "vars": {"description": "y"}, "expected": "dining"}]',
        ),
    ],
)
def test_a_utf8_bom_is_accepted_in_every_format(tmp_path: Path, name: str, data: str):
    p = tmp_path / name
    p.write_bytes(b"\xef\xbb\xbf" + data.encode())
    cases = list(iter_cases(p))
    assert [(c.id, c.vars, c.expected) for c in cases] == [
        ("a", {"description": "x"}, "groceries"),
        ("b", {"description": "y"}, "dining"),
    ]


def test_csv_unclosed_quote_is_named(tmp_path: Path):
    p = tmp_path / "g.csv"
    p.write_text('id,description,expected\na,"x,groceries\nb,y,dining\nc,z,rent\n')
    assert f"{p}:2" in _error(p) and "unbalanced quote" in _error(p)


def test_csv_stray_quote_that_merges_rows_is_named(tmp_path: Path):
    # The quote on line 2 closes on line 3: one record with 4 cells under a 3-cell header.
    p = tmp_path / "g.csv"
    p.write_text('id,description,expected\na,"x,groceries\nb,"y",dining,extra\n')
    msg = _error(p)
    assert f"{p}:2" in msg and "unbalanced quote" in msg


def test_csv_quoted_line_breaks_stay_valid(tmp_path: Path):
    p = tmp_path / "g.csv"
    p.write_text('id,description,expected\na,"two\nlines, one field",groceries\nb,y,dining\n')
    cases = list(iter_cases(p))
    assert [c.vars["description"] for c in cases] == ["two\nlines, one field", "y"]


@pytest.mark.parametrize("bad_id", [{"x": 1}, [1, 2], True, 1.5, None])
def test_a_case_id_must_be_a_string_or_an_integer(tmp_path: Path, bad_id):
    p = tmp_path / "g.jsonl"
    p.write_text('{"id": "a"}\n' + json.dumps({"id": bad_id, "vars": {}}) + "\n")
    msg = _error(p)
    assert f"{p}:2 [id]" in msg and "string or an integer" in msg


def test_non_utf8_jsonl_names_line_and_byte(tmp_path: Path):
    p = tmp_path / "g.jsonl"
    data = b'{"id": "a"}\n{"id": "b", "vars": {"d": "caf\xe9"}}\n'
    p.write_bytes(data)
    msg = _error(p)
    assert f"{p}:2" in msg and "not UTF-8" in msg and f"at byte {data.index(bytes([0xE9]))}" in msg


@pytest.mark.parametrize("name", ["g.jsonl", "g.csv", "g.yaml", "g.json"])
def test_a_binary_file_is_refused(tmp_path: Path, name: str):
    p = tmp_path / name
    p.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    assert "binary file" in _error(p) and str(p) in _error(p)


@pytest.mark.parametrize(
    "name, data",
    [
        ("g.json", "[" * 100_000 + "]" * 100_000),
        ("g.jsonl", '{"id": "a", "vars": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}\n"),
    ],
)
def test_json_nested_too_deep_is_an_error(tmp_path: Path, name: str, data: str):
    p = tmp_path / name
    p.write_text(data)
    assert "nested too deeply" in _error(p) and str(p) in _error(p)


def test_a_yaml_alias_bomb_is_refused_fast(tmp_path: Path):
    import time

    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    p = tmp_path / "g.yaml"
    p.write_text("\n".join(levels) + "\ncases: [{id: '1', vars: {description: *i}}]\n")
    assert len(p.read_bytes()) < 600
    t0 = time.perf_counter()
    msg = _error(p)
    assert time.perf_counter() - t0 < 1.0
    assert str(p) in msg and "alias" in msg


def test_modest_yaml_aliases_still_load(tmp_path: Path):
    p = tmp_path / "g.yaml"
    p.write_text(
        "- &one {id: a, vars: {d: x}, tags: [t]}\n- {id: b, vars: {d: y}, tags: *t}\n".replace(
            "*t", "[t]"
        )
        + "- {id: c, vars: &v {d: z}}\n- {id: d, vars: *v}\n"
    )
    assert [c.vars["d"] for c in iter_cases(p)] == ["x", "y", "z", "z"]


# ---- rows in other shapes (#18): flat rows and OpenAI-evals rows ------------------------


def test_flat_row_fields_become_vars(tmp_path: Path):
    p = tmp_path / "g.jsonl"
    rows = [
        {"id": "q1", "query": "capital of France?", "lang": "en", "expected": "Paris"},
        {"id": "q2", "query": "2+2?", "expected": "4", "segment": "math", "tags": ["t"]},
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    a, b = list(iter_cases(p))
    assert a.vars == {"query": "capital of France?", "lang": "en"} and a.expected == "Paris"
    assert b.vars == {"query": "2+2?"} and b.segment == "math" and b.tags == ["t"]


def test_flat_yaml_rows_load(tmp_path: Path):
    p = tmp_path / "g.yaml"
    p.write_text("- {id: a, question: hi, expected: hello}\n")
    (case,) = list(iter_cases(p))
    assert case.vars == {"question": "hi"} and case.expected == "hello"


def test_openai_evals_rows(tmp_path: Path):
    p = tmp_path / "g.jsonl"
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    p.write_text(
        json.dumps({"input": chat, "ideal": "4"})
        + "\n"
        + json.dumps({"input": "Say hi", "ideal": ["hi", "hello"]})
        + "\n"
    )
    a, b = list(iter_cases(p))
    assert a.id == "1" and a.vars == {"input": chat} and a.expected == "4"
    assert b.vars == {"input": "Say hi"} and b.expected == ["hi", "hello"]


def test_row_with_vars_still_refuses_unknown_fields(tmp_path: Path):
    p = tmp_path / "g.jsonl"
    p.write_text('{"id": "a", "vars": {"x": 1}, "query": "q"}\n')
    with pytest.raises(ConfigError, match="unknown field") as err:
        list(iter_cases(p))
    assert "query" in str(err.value)


def test_ideal_and_expected_together_is_an_error(tmp_path: Path):
    p = tmp_path / "g.jsonl"
    p.write_text('{"input": "q", "ideal": "a", "expected": "b"}\n')
    with pytest.raises(ConfigError, match="both `ideal`"):
        list(iter_cases(p))


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
HISTORY = [
    {"role": "user", "content": "Weather in Lima?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "19C"},
    {"role": "user", "content": "And Quito?"},
]  # fmt: skip


def test_a_multi_turn_case_with_tools_loads(tmp_path: Path):
    rows = [
        # flat: `messages` is a variable, `tools` and `tool_choice` case fields
        {"id": "w1", "messages": HISTORY, "tools": [WEATHER], "tool_choice": "required",
         "expected": {"name": "get_weather", "arguments": {"city": "Quito"}}},
        # native: a top-level `messages` joins `vars`
        {"id": "w2", "vars": {"x": 1}, "messages": HISTORY[:1], "tools": [WEATHER]},
    ]  # fmt: skip
    p = tmp_path / "w.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    w1, w2 = iter_cases(p)
    assert w1.vars == {"messages": HISTORY} and w1.tool_choice == "required"
    assert [t.name for t in w1.tools or []] == ["get_weather"]
    assert w2.vars == {"x": 1, "messages": HISTORY[:1]}
    assert w1.template_context()["messages"] == HISTORY
    y = tmp_path / "w.yaml"
    y.write_text("cases:\n  - id: y1\n    messages: [{role: user, content: hi}]\n    tools: []\n")
    (case,) = iter_cases(y)
    assert case.vars["messages"] == [{"role": "user", "content": "hi"}] and case.tools == []


@pytest.mark.parametrize(
    "row, words",
    [
        ({"id": "a", "messages": [{"role": "tool", "content": "x"}]}, "messages[0]: a tool message needs"),
        ({"id": "a", "vars": {"messages": []}, "messages": []}, "`messages` is given twice"),
        ({"id": "a", "vars": {}, "tools": [{"function": {"name": "f", "parameters": {"type": "array"}}}]},
         "type: object"),
        ({"id": "a", "vars": {}, "tools": [WEATHER, WEATHER]}, "two tools are named 'get_weather'"),
        ({"id": "a", "tool": [WEATHER]}, "did you mean `tools`"),
    ],
)  # fmt: skip
def test_bad_conversations_and_tools_are_named_with_their_line(tmp_path: Path, row, words):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"id": "ok"}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(ConfigError) as err:
        list(iter_cases(p))
    assert "bad.jsonl:2" in str(err.value) and words in str(err.value), str(err.value)
