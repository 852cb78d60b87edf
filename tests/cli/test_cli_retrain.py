"""`driftgate retrain` through main(): what it prints, its JSON, its exit codes, its writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import driftgate.cli.retrain  # noqa: F401 - registers `retrain` (until cli/__init__ maps it)
from conftest import run_main
from driftgate.cli import app
from driftgate.embedding import Embedder, register_embedder

LABELS = ["groceries", "dining", "transport", "rent"]
MODEL = "sim/perfect@v1?accuracy=0.75"
NI_MARGIN = "non_inferiority: {margin: 0.25}\n"


class _Trigrams(Embedder):
    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.ones((len(texts), 16), dtype=np.float32)
        for i, text in enumerate(texts):
            for j in range(max(len(text) - 2, 1)):
                out[i, hashlib.md5(text[j : j + 3].encode()).digest()[0] % 16] += 1.0
        return out


register_embedder("clifake", lambda rest: _Trigrams(f"clifake/{rest}"))


def _prompt(version: str, extra: dict, prefix: str) -> str:
    return json.dumps(
        {
            "name": "cat",
            "version": version,
            "model": MODEL,
            "params": {"temperature": 0},
            **extra,
            "messages": [{"role": "user", "content": prefix + "Label: {{ description }}"}],
            "output": {"type": "label", "labels": LABELS},
        }
    )


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cat@few (few-shot set `cat`), cat@rag (index `shops`), cat@zero; 16 golden cases."""
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "ws"
    for d in ("prompts/fewshot", "prompts/indexes", "evalsets"):
        (root / d).mkdir(parents=True)
    (root / "driftgate.yaml").write_text("suite: evalsets/main.suite.yaml\n")
    # 16 equal pass/fail outcomes rule out a drop of ~15 points, not the built-in 2.
    (root / "gates").mkdir()
    (root / "gates/default.yaml").write_text(NI_MARGIN)
    loop = "{% for ex in examples %}{{ ex.input.description }} is {{ ex.output }}.\n{% endfor %}"
    rag = "{% for r in retrieve(description, k=2) %}{{ r.text }} is {{ r.label }}.\n{% endfor %}"
    (root / "prompts/cat.few.yaml").write_text(_prompt("few", {"fewshot": "cat"}, loop))
    (root / "prompts/cat.rag.yaml").write_text(_prompt("rag", {"index": "shops"}, rag))
    (root / "prompts/cat.zero.yaml").write_text(_prompt("zero", {}, ""))
    # No example of `rent` yet: the new labels bring one.
    examples = [{"input": {"description": f"OLD {x}"}, "output": x, "label": x} for x in LABELS[:3]]
    (root / "prompts/fewshot/cat.yaml").write_text(
        json.dumps({"name": "cat", "strategy": "first", "examples": examples})
    )
    (root / "prompts/indexes/shops.yaml").write_text(
        "name: shops\ncorpus: evalsets/shops.csv\nembedder: clifake/16\n"
    )
    (root / "evalsets/shops.csv").write_text("text,label\nSHOP A,groceries\nSHOP B,dining\n")
    (root / "evalsets/tx.jsonl").write_text(
        "".join(
            json.dumps(
                {"id": f"c{i}", "vars": {"description": f"m {i}"}, "expected": LABELS[i % 4]}
            )
            + "\n"
            for i in range(16)
        )
    )
    (root / "evalsets/main.suite.yaml").write_text(
        "prompts: [cat@few]\nevalsets: [tx]\n"
        "scorers:\n  - {type: label-match, metric: category}\npass_threshold: 0\n"
    )
    rows = [{"id": f"n{i}", "vars": {"description": f"NEW {i}"}, "expected": LABELS[i % 4]}
            for i in range(4)]  # fmt: skip
    rows.append({"id": "c3", "vars": {"description": "m 3"}, "expected": "rent"})  # a leak
    (tmp_path / "new.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def retrain(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    """`driftgate retrain ARGS -w ws` through main(): exit code, stdout, stderr."""
    return run_main(capsys, monkeypatch, "retrain", *args, "-w", "ws")


def files(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and p.parts[len(root.parts)] in ("prompts", "evalsets")}  # fmt: skip


def test_help_documents_exit_codes() -> None:
    out = CliRunner().invoke(app, ["retrain", "--help"]).output
    assert "0 candidate registered and alias set" in out
    assert "1 gate failed" in out and "2 bad input" in out
    for option in ("--dry-run", "--route", "--labels", "--since", "--alias"):
        assert option in out


def test_registers_a_candidate_and_reports(ws: Path, capsys, monkeypatch) -> None:
    before = files(ws)
    code, out, err = retrain(capsys, monkeypatch, "cat@few", "--labels", "new.jsonl")
    assert code == 0, err
    assert "5 read from new.jsonl (5)" in out and "1 in the golden sets (dropped)" in out
    assert "(registered fewshot/cat@2)" in out and "gate PASSED" in out
    assert "1 examples new, 0 replaced, 4 in all" in out
    assert "candidate → prompt/cat@2; production is unchanged" in out
    assert files(ws) == before
    # Strategy `first`, no seed: the old examples stay, in their order; the new label joins.
    from driftgate.registry.core import Registry
    from driftgate.workspace import Workspace

    reg = Registry.of(Workspace(ws))
    fs = reg.find("fewshot/cat@2").definition
    assert [e["input"]["description"] for e in fs["examples"]] == [
        "OLD groceries",
        "OLD dining",
        "OLD transport",
        "NEW 3",
    ]
    assert fs["provenance"]["source"].startswith("retrain: previous set")
    assert reg.find("prompt/cat@candidate").definition["fewshot"] == "cat@" + fs_digest(reg)


def fs_digest(reg) -> str:  # type: ignore[no-untyped-def]
    return reg.find("fewshot/cat@2").digest


def test_unchanged_artifacts_exit_0_without_runs(ws: Path, capsys, monkeypatch) -> None:
    rows = [{"id": "z", "vars": {"description": "NEW X"}, "expected": "dining"}]
    Path("same.jsonl").write_text(json.dumps(rows[0]) + "\n")
    code, out, _ = retrain(capsys, monkeypatch, "cat@few", "--labels", "same.jsonl")
    assert code == 0 and "fewshot/cat: unchanged" in out
    assert "nothing to evaluate" in out and "gate" not in out and not (ws / "runs").exists()


def test_index_dry_run_json_moves_nothing(ws: Path, capsys, monkeypatch) -> None:
    before = files(ws)
    code, out, err = retrain(
        capsys, monkeypatch, "cat@rag", "--labels", "new.jsonl", "--dry-run", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["passed"] is True and data["applied"] is False and data["dry_run"] is True
    (art,) = data["artifacts"]
    assert (art["kind"], art["version"], art["added"], art["size"]) == ("index", "index/shops@2",
                                                                        4, 6)  # fmt: skip
    assert data["candidate"] == "prompt/cat@2" and data["base"].startswith("prompt/cat@1 (")
    assert data["labels"]["leaked"] == 1 and data["alias"] == "candidate"
    assert files(ws) == before
    assert not (ws / ".driftgate/registry/aliases.json").exists()


def test_index_candidate_keeps_the_csv_format(ws: Path, capsys, monkeypatch) -> None:
    code, out, err = retrain(capsys, monkeypatch, "cat@rag", "--labels", "new.jsonl")
    assert code == 0, err
    assert "4 corpus rows added, 6 in all" in out and "(registered index/shops@2)" in out
    assert (ws / "evalsets/shops.csv").read_text() == (
        "text,label\nSHOP A,groceries\nSHOP B,dining\n"
    )
    (kept,) = [p for p in (ws / ".driftgate/registry/blobs").iterdir()
               if p.read_text().count("\n") == 7]  # fmt: skip
    assert kept.suffix == ".csv" and kept.read_text() == (
        "text,label\nSHOP A,groceries\nSHOP B,dining\n"
        "NEW 0,groceries\nNEW 1,dining\nNEW 2,transport\nNEW 3,rent\n"
    )


def test_failing_gate_exits_1_and_moves_nothing(ws: Path, capsys, monkeypatch) -> None:
    (ws / "gates/default.yaml").write_text(
        "floors:\n  - {metric: category, min: 0.99}\n" + NI_MARGIN
    )
    before = files(ws)
    code, out, _ = retrain(capsys, monkeypatch, "cat@few", "--labels", "new.jsonl")
    assert code == 1
    assert "gate FAILED" in out and "gate failed: candidate not moved" in out
    assert files(ws) == before


def test_bad_input_exits_2(ws: Path, capsys, monkeypatch) -> None:
    code, _, err = retrain(capsys, monkeypatch, "cat@few")
    assert code == 2 and "no labeled data given" in err
    code, _, err = retrain(capsys, monkeypatch, "cat@zero", "--labels", "new.jsonl")
    assert code == 2 and "nothing to retrain" in err
    code, _, err = retrain(capsys, monkeypatch, "cat@few", "--route", "silent")
    assert code == 2 and "no usable labeled rows" in err
    code, _, err = retrain(capsys, monkeypatch, "cat@few", "--labels", "nope.jsonl")
    assert code == 2 and "labels file not found" in err
    code, _, err = retrain(capsys, monkeypatch, "cat@few", "--labels", "new.jsonl",
                           "--alias", "production")  # fmt: skip
    assert code == 2 and "never moves 'production'" in err
