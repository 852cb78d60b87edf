from pathlib import Path

import numpy as np
import pytest

from driftgate.artifacts.fewshot import (
    FewShotExample,
    FewShotSet,
    build_fewshot,
    find_fewshot,
    load_fewshot,
    save_fewshot,
    select_fewshot,
)
from driftgate.errors import ConfigError, UnknownNameError

ROWS = [
    {"text": "TESCO STORES 2231 LONDON", "label": "groceries"},
    {"text": "TESCO STORES 1187 LEEDS", "label": "groceries"},
    {"text": "TESCO STORES 0042 BRISTOL", "label": "groceries"},
    {"text": "POS 24/03 PURCHASE *TESCO-EXP/LND REF8812", "label": "groceries"},
    {"text": "SHELL 5521 LEEDS", "label": "fuel"},
    {"text": "SHELL 0193 LONDON", "label": "fuel"},
    {"text": "NETFLIX.COM*AB12CD INTERNET", "label": "entertainment"},
]


def test_first_takes_rows_in_input_order():
    out = select_fewshot(ROWS, per_label=2, strategy="first", seed=None)
    assert [e.input["description"] for e in out] == [
        "TESCO STORES 2231 LONDON",
        "SHELL 5521 LEEDS",
        "NETFLIX.COM*AB12CD INTERNET",
        "TESCO STORES 1187 LEEDS",
        "SHELL 0193 LONDON",
    ]
    assert [e.output for e in out] == [e.label for e in out]


def test_diverse_picks_typical_then_farthest():
    out = select_fewshot(ROWS, per_label=2, strategy="diverse", seed=None)
    groceries = [e.input["description"] for e in out if e.label == "groceries"]
    # The first pick is a classic Tesco string (typical); the second the new-format outlier.
    assert groceries[0].startswith("TESCO STORES")
    assert groceries[1] == "POS 24/03 PURCHASE *TESCO-EXP/LND REF8812"
    # A label with one row yields one example, not a crash.
    assert sum(e.label == "entertainment" for e in out) == 1


def test_diverse_with_injected_embedder():
    vecs = {r["text"]: np.eye(3)[i % 3] + 0.01 * i for i, r in enumerate(ROWS)}
    calls = []

    def embed(texts):
        calls.append(len(texts))
        return np.stack([vecs[t] for t in texts])

    out = select_fewshot(ROWS, per_label=1, embed=embed, seed=None)
    assert calls == [len(ROWS)]
    assert sorted(e.label for e in out) == ["entertainment", "fuel", "groceries"]


def test_seed_orders_labels_deterministically():
    a = select_fewshot(ROWS, per_label=1, strategy="first", seed=3)
    b = select_fewshot(ROWS, per_label=1, strategy="first", seed=3)
    assert [e.label for e in a] == [e.label for e in b]
    orders = {tuple(e.label for e in select_fewshot(ROWS, 1, "first", seed=s)) for s in range(10)}
    assert len(orders) > 1


def test_case_shaped_rows_keep_all_vars():
    cases = [
        {"id": "1", "vars": {"description": "BP 22 LEEDS", "amount": -40.0}, "expected": "fuel"},
        {
            "id": "2",
            "vars": {"description": "ALDI 1 LEEDS", "amount": -9.0},
            "expected": "groceries",
        },
    ]
    out = select_fewshot(cases, per_label=1, text_field="description", seed=None)
    assert out[0].input == {"description": "BP 22 LEEDS", "amount": -40.0}
    assert out[0].output == "fuel"


def test_bad_inputs_are_config_errors():
    with pytest.raises(ConfigError, match="no 'label' label"):
        select_fewshot([{"text": "x"}])
    with pytest.raises(ConfigError, match="per_label"):
        select_fewshot(ROWS, per_label=0)
    with pytest.raises(ConfigError, match="strategy"):
        select_fewshot(ROWS, strategy="random")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no labeled rows"):
        select_fewshot([])


def test_digest_ignores_provenance_but_not_examples():
    ex = [FewShotExample(input={"description": "BP 1"}, output="fuel", label="fuel")]
    a = FewShotSet(name="s", examples=ex, description="one", provenance={"created": "2024-01-01"})
    b = FewShotSet(name="s", examples=ex, description="two", provenance={"created": "2025-01-01"})
    c = FewShotSet(
        name="s", examples=[*ex, FewShotExample(input={"description": "X"}, output="rent")]
    )
    assert a.digest == b.digest
    assert a.digest != c.digest
    assert len(a.digest) == 12


def test_save_load_round_trip(tmp_path: Path):
    fs = build_fewshot(
        "cat", ROWS, per_label=1, seed=1, source="corpus.jsonl", created="2024-04-01"
    )
    path = save_fewshot(fs, tmp_path / "fewshot" / "cat.yaml")
    loaded = load_fewshot(path)
    assert loaded == fs
    assert loaded.provenance.representation == "tfidf-char-2-4"
    assert loaded.provenance.candidates == len(ROWS)
    assert loaded.template_examples()[0].keys() == {"input", "output", "label"}
    assert find_fewshot(tmp_path, "cat").digest == fs.digest
    with pytest.raises(UnknownNameError, match="'cat'"):
        find_fewshot(tmp_path, "catt")


def test_load_errors_name_file_line_field(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nexamples:\n  - input: {description: x}\n    outptu: fuel\n")
    with pytest.raises(ConfigError) as exc:
        load_fewshot(path)
    # The first error is the missing `output` of the example that starts on line 3.
    assert exc.value.line == 3
    assert exc.value.field == "examples[0].output"
    assert "bad.yaml:3" in str(exc.value)
    empty = tmp_path / "empty.yaml"
    empty.write_text("examples: []\n")
    with pytest.raises(ConfigError, match="examples"):
        load_fewshot(empty)


def test_a_fewshot_set_named_through_a_link_out_is_refused(tmp_path):
    from driftgate.artifacts import find_fewshot
    from driftgate.errors import ConfigError

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "fs.yaml").write_text("examples: []\n")
    folder = tmp_path / "ws" / "prompts" / "fewshot"
    folder.mkdir(parents=True)
    (folder / "fs.yaml").symlink_to(outside / "fs.yaml")
    with pytest.raises(ConfigError) as err:
        find_fewshot(tmp_path / "ws" / "prompts", "fs", root=tmp_path / "ws")
    assert "few-shot set 'fs'" in str(err.value) and str(outside / "fs.yaml") in str(err.value)
    with pytest.raises(ConfigError, match="invalid few-shot set name"):
        find_fewshot(tmp_path / "ws" / "prompts", "../../outside/fs")
