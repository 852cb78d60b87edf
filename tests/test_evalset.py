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
