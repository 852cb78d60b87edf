"""Output parsing: text, JSON (fences, prose, schema) and labels."""

from __future__ import annotations

import pytest

from driftgate.errors import ConfigError
from driftgate.prompt import OutputSpec
from driftgate.scoring.parsing import normalize_label, output_parser, parse_output

LABELS = OutputSpec(type="label", labels=["groceries", "rent", "rent payment", "eating_out"])


@pytest.mark.parametrize(
    "raw, norm",
    [
        (" Groceries. ", "groceries"),
        ('"Rent"', "rent"),
        ("**Eating-Out**", "eating out"),
        ("eating_out", "eating out"),
        ("«Straße»", "strasse"),
        ("  Two   words!\n", "two words"),
        ("n/a", "n/a"),
        ("", ""),
    ],
)
def test_normalize_label(raw, norm):
    assert normalize_label(raw) == norm


def test_text_is_stripped_and_none_passes_through():
    spec = OutputSpec()
    assert parse_output("  hi \n", spec) == ("hi", None)
    assert parse_output(None, spec) == (None, None)
    assert parse_output(None, LABELS) == (None, None)
    assert parse_output(None, OutputSpec(type="json")) == (None, None)


# ---- json -----------------------------------------------------------------------------------

JSON = OutputSpec(type="json")


@pytest.mark.parametrize(
    "text, value",
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", [1, 2]),
        ("42", 42),
        ('```json\n{"a": [1, 2]}\n```', {"a": [1, 2]}),
        ('Here you go:\n```\n{"a": 2}\n```\nAnything else?', {"a": 2}),
        ('Sure! The answer is {"a": 3} as requested.', {"a": 3}),
        ('Note {not json} then {"a": 4}', {"a": 4}),
    ],
)
def test_json_extraction(text, value):
    assert parse_output(text, JSON) == (value, None)


@pytest.mark.parametrize(
    "text, message",
    [
        ("no json at all", "no JSON object or array"),
        ("", "empty output"),
        ('{"a": 1,}', "invalid JSON"),
        ('```json\n{"a": }\n```', "invalid JSON in the code fence"),
    ],
)
def test_json_errors(text, message):
    parsed, error = parse_output(text, JSON)
    assert parsed is None and error is not None and message in error


def test_json_schema_error_names_the_path_and_keeps_the_value():
    spec = OutputSpec.model_validate(
        {
            "type": "json",
            "schema": {
                "type": "object",
                "required": ["category"],
                "properties": {
                    "category": {"enum": ["rent", "groceries"]},
                    "items": {"type": "array", "items": {"type": "integer"}},
                },
            },
        }
    )
    assert parse_output('{"category": "rent"}', spec) == ({"category": "rent"}, None)
    parsed, error = parse_output('{"category": "rent", "items": [1, "x"]}', spec)
    assert parsed == {"category": "rent", "items": [1, "x"]}
    assert error is not None and "$.items[1]" in error
    _, error = parse_output("{}", spec)
    assert error is not None and "'category' is a required property" in error


def test_invalid_prompt_schema_is_config_error():
    spec = OutputSpec.model_validate({"type": "json", "schema": {"type": 5}})
    with pytest.raises(ConfigError, match="output.schema"):
        parse_output("{}", spec)


# ---- labels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, label",
    [
        ("groceries", "groceries"),
        ("  'Rent'.", "rent"),
        ("Eating out", "eating_out"),
        ("The category is: Groceries.", "groceries"),
        ("Rent payment, clearly", "rent payment"),  # longest mention wins over "rent"
        ("Rent\n\nBecause the transfer mentions groceries too.", "rent"),  # first line decides
    ],
)
def test_label_parsing(text, label):
    assert parse_output(text, LABELS) == (label, None)


def test_label_not_found_or_ambiguous():
    parsed, error = parse_output("utilities", LABELS)
    assert (
        parsed is None
        and error == "not one of the labels: groceries, rent, rent payment, eating_out"
    )
    parsed, error = parse_output("either rent or groceries", LABELS)
    assert (
        parsed is None
        and error is not None
        and error.startswith("ambiguous: mentions groceries, rent")
    )
    parsed, error = parse_output("   ", LABELS)
    assert parsed is None and error is not None and error.startswith("empty output")
    # whole words only: "parent" does not mention "rent"
    assert parse_output("parental leave", LABELS)[0] is None


def test_label_spec_needs_labels():
    with pytest.raises(ConfigError, match="labels"):
        parse_output("x", OutputSpec(type="label"))


def test_parsers_are_cached_per_spec():
    assert output_parser(LABELS) is output_parser(LABELS)
    other = OutputSpec(type="label", labels=["groceries", "rent", "rent payment", "eating_out"])
    assert output_parser(other) is not output_parser(LABELS)


def test_label_parser_memo_gives_the_same_answers_and_stays_bounded(monkeypatch):
    from driftgate.scoring import parsing

    monkeypatch.setattr(parsing, "_MEMO_MAX", 3)
    parser = parsing.LabelParser(["rent", "eating out", "groceries"])
    texts = ["Rent", "rent.", "I think **Eating-Out**", "rent or groceries", "", "Rent"] * 2
    fresh = [parsing.LabelParser(["rent", "eating out", "groceries"])._parse(t) for t in texts]
    assert [parser(t) for t in texts] == fresh
    assert fresh[:5] == [
        ("rent", None),
        ("rent", None),
        ("eating out", None),
        (None, fresh[3][1]),
        (None, fresh[4][1]),
    ]
    assert "ambiguous" in fresh[3][1] and fresh[4][1].startswith("empty output")
    assert len(parser._memo) <= 3
