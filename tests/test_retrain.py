"""`driftgate.retrain`: labeled rows → candidate few-shot set / index corpus → gate → apply.

A small workspace on the in-process simulator (whose answers depend on the case, not on the
prompt, so a candidate ties its baseline and the built-in non-inferiority gate passes) and a
hashed character-trigram embedder registered as `fake/…`, so no model is loaded.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest

from driftgate.artifacts.fewshot import load_fewshot
from driftgate.embedding import Embedder, register_embedder
from driftgate.errors import ConfigError
from driftgate.registry.core import Registry
from driftgate.retrain import render_result, retrain
from driftgate.router.log import Decision, Feedback, TrafficLog
from driftgate.workspace import Workspace

LABELS = ["groceries", "dining", "transport", "rent"]
MODEL = "sim/perfect@v1?accuracy=0.75"
EXAMPLES = "{% for ex in examples %}{{ ex.input.description }} is {{ ex.output }}.\n{% endfor %}"
RAG = "{% for r in retrieve(description, k=3) %}{{ r.text }} is {{ r.label }}.\n{% endfor %}"


class TrigramEmbedder(Embedder):
    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 32), dtype=np.float32)
        for i, text in enumerate(texts):
            for j in range(max(len(text) - 2, 1)):
                out[i, hashlib.md5(text[j : j + 3].encode()).digest()[0] % 32] += 1.0
        return out + 1e-3


register_embedder("fake", lambda rest: TrigramEmbedder(f"fake/{rest}"))


def _prompt(version: str, extra: str, prefix: str) -> str:
    return json.dumps(
        {
            "name": "cat",
            "version": version,
            "model": MODEL,
            "params": {"temperature": 0, "max_tokens": 8},
            **({extra.split(":")[0]: extra.split(":")[1]} if extra else {}),
            "messages": [{"role": "user", "content": prefix + "Label: {{ description }}"}],
            "output": {"type": "label", "labels": LABELS},
        }
    )


def make_workspace(root: Path, *, n_cases: int = 24) -> Path:
    """Prompts cat@few (few-shot set `cat`), cat@rag (index `shops`), cat@zero (neither)."""
    for d in ("prompts/fewshot", "prompts/indexes", "evalsets"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "driftgate.yaml").write_text("suite: evalsets/main.suite.yaml\n")
    (root / "prompts" / "cat.few.yaml").write_text(_prompt("few", "fewshot:cat", EXAMPLES))
    (root / "prompts" / "cat.rag.yaml").write_text(_prompt("rag", "index:shops", RAG))
    (root / "prompts" / "cat.zero.yaml").write_text(_prompt("zero", "", ""))
    examples = [
        {"input": {"description": f"OLD {lab.upper()} SHOP"}, "output": lab, "label": lab}
        for lab in LABELS
    ]
    (root / "prompts" / "fewshot" / "cat.yaml").write_text(
        json.dumps(
            {
                "name": "cat",
                "strategy": "diverse",
                "provenance": {"source": "evalsets/shops.jsonl", "seed": 3},
                "examples": examples,
            }
        )
    )
    (root / "prompts" / "indexes" / "shops.yaml").write_text(
        "name: shops\ncorpus: evalsets/shops.jsonl\nembedder: fake/32\nk: 3\n"
    )
    with (root / "evalsets" / "shops.jsonl").open("w") as fh:
        for i in range(8):
            row = {"id": f"s{i}", "text": f"SHOP {i} {LABELS[i % 4]}", "label": LABELS[i % 4]}
            fh.write(json.dumps(row) + "\n")
    with (root / "evalsets" / "tx.jsonl").open("w") as fh:
        for i in range(n_cases):
            case = {
                "id": f"c{i:03d}",
                "vars": {"description": f"merchant {i}"},
                "expected": LABELS[i % 4],
                "segment": "cohort=new" if i % 2 else "cohort=old",
            }
            fh.write(json.dumps(case) + "\n")
    (root / "evalsets" / "main.suite.yaml").write_text(
        "prompts: [cat@few]\nevalsets: [tx]\n"
        "scorers:\n  - {type: label-match, metric: category}\npass_threshold: 0\n"
    )
    return root


def write_labels(path: Path, n: int = 8, *, leaks: bool = True) -> Path:
    """`n` new labeled rows; with `leaks`, one golden id and one golden case's vars too."""
    rows = [
        {"id": f"n{i}", "vars": {"description": f"NEW {LABELS[i % 4].upper()} PLACE {i}"},
         "expected": LABELS[i % 4]}
        for i in range(n)
    ]  # fmt: skip
    if leaks:
        rows.append({"id": "c001", "vars": {"description": "anything"}, "expected": "dining"})
        rows.append({"id": "x-2", "vars": {"description": "merchant 2"}, "expected": "transport"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    """Every workspace file a retrain may write (artifacts, golden sets, settings)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for d in ("prompts", "evalsets")
        for p in sorted((root / d).rglob("*"))
        if p.is_file()
    } | {"driftgate.yaml": (root / "driftgate.yaml").read_bytes()}


def registered(root: Path, kind: str, name: str) -> set[str]:
    return {r.digest for r in Registry.of(Workspace(root)).versions.list(kind, name)}


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return make_workspace(tmp_path / "ws")


def test_fewshot_pass_applies_and_registers(ws: Path, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "new.jsonl")
    old = load_fewshot(ws / "prompts/fewshot/cat.yaml")
    result = retrain("cat@few", labels=[str(labels)], workspace=ws)

    assert result.passed and result.applied and result.exit_code == 0
    assert result.labels.rows == 10 and result.labels.leaked == 2 and result.labels.used == 8
    (change,) = result.artifacts
    assert (change.kind, change.path, change.old_digest) == (
        "fewshot",
        "prompts/fewshot/cat.yaml",
        old.digest,
    )
    new = load_fewshot(ws / "prompts/fewshot/cat.yaml")
    assert new.digest == change.new_digest != old.digest
    assert new.strategy == "diverse" and new.provenance.seed == 3
    assert "retrain" in (new.provenance.source or "") and "new.jsonl (10)" in new.provenance.source
    assert new.provenance.candidates == 4 + 8  # the old examples plus the usable new rows
    # One example per label, as before; the leaked golden rows are nowhere in it.
    assert sorted(e.label for e in new.examples) == sorted(LABELS)
    descriptions = {e.input["description"] for e in new.examples}
    assert change.added == len(descriptions - {f"OLD {lab.upper()} SHOP" for lab in LABELS}) > 0
    assert not descriptions & {"anything", "merchant 2"}
    # Both runs are stored; the new version is registered next to the old one.
    assert result.baseline_run and result.candidate_run
    assert (ws / "runs" / result.candidate_run).is_dir()
    assert registered(ws, "fewshot", "cat") == {old.digest, new.digest}
    assert result.registered == [change.version] and change.version == "fewshot/cat@2"
    assert "applied: fewshot/cat@2" in render_result(result)


def test_index_pass_extends_corpus_in_its_format(ws: Path, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "new.jsonl", n=4, leaks=False)
    before = (ws / "evalsets/shops.jsonl").read_bytes()
    # A text the corpus already has is not added twice.
    with labels.open("a") as fh:
        fh.write(json.dumps({"id": "s1", "vars": {"description": "SHOP 1 dining"},
                             "expected": "dining"}) + "\n")  # fmt: skip
    result = retrain("cat@rag", labels=[labels], workspace=ws, suite="evalsets/main.suite.yaml")

    assert result.applied
    (change,) = result.artifacts
    assert (change.kind, change.name, change.added, change.size) == ("index", "shops", 4, 12)
    after = (ws / "evalsets/shops.jsonl").read_bytes()
    assert after.startswith(before)  # the existing rows keep every byte
    added = [json.loads(line) for line in after[len(before) :].splitlines()]
    assert added[0] == {"id": "n0", "text": "NEW GROCERIES PLACE 0", "label": "groceries"}
    assert len(added) == 4
    assert change.new_digest in registered(ws, "index", "shops")
    assert change.old_digest in registered(ws, "index", "shops")  # from the baseline run


def test_failing_gate_leaves_workspace_byte_identical(ws: Path, tmp_path: Path) -> None:
    (ws / "gates").mkdir()
    (ws / "gates" / "cat.yaml").write_text("floors:\n  - {metric: pass, min: 0.95}\n")
    labels = write_labels(tmp_path / "new.jsonl")
    before = snapshot(ws)
    result = retrain("cat@few", labels=[labels], workspace=ws)

    assert not result.passed and not result.applied and result.exit_code == 1
    assert result.verdict is not None and [r.rule for r in result.verdict.failed] == ["floor"]
    assert snapshot(ws) == before
    assert result.artifacts[0].new_digest not in registered(ws, "fewshot", "cat")
    assert "not applied" in render_result(result)


def test_dry_run_writes_nothing(ws: Path, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "new.jsonl")
    before = snapshot(ws)
    result = retrain("cat@rag", labels=[labels], workspace=ws, apply=False)

    assert result.passed and result.dry_run and not result.applied and result.exit_code == 0
    assert result.artifacts[0].changed
    assert snapshot(ws) == before
    new_digest = result.artifacts[0].new_digest
    assert new_digest not in registered(ws, "index", "shops")
    # The candidate run built (and cached, in the shared cache) the extended index.
    assert (ws / ".driftgate" / "cache" / "indexes" / f"{new_digest}.npz").is_file()
    assert "would apply" in render_result(result)


def test_candidate_run_is_never_evidence_for_the_prompt_digest(ws: Path, tmp_path: Path) -> None:
    from driftgate.store.runs import RunStore

    result = retrain("cat@few", labels=[write_labels(tmp_path / "n.jsonl")], workspace=ws)
    store = RunStore(ws / "runs")
    base, cand = store.load(result.baseline_run or ""), store.load(result.candidate_run or "")
    assert base.prompts[0].digest == cand.prompts[0].digest  # same prompt, other few-shot set
    assert base.settings["suite"]["description"] != cand.settings["suite"]["description"]
    assert cand.settings["metadata"]["retrain"]["role"] == "candidate"


def test_route_feedback_is_collected_and_files_win_on_shared_ids(ws: Path, tmp_path: Path) -> None:
    log = TrafficLog(Workspace(ws), "cat")
    for i, (desc, label) in enumerate(
        [("ROUTE CAFE", "dining"), ("ROUTE BUS", "transport"), ("merchant 5", "dining")]
    ):
        log.decision(
            Decision(
                id=f"r{i}", ts=time.time(), route="cat", route_digest="d", arm="production",
                prompt="cat@few", prompt_digest="p", model=MODEL, vars={"description": desc},
                parsed=label,
            )
        )  # fmt: skip
        log.feedback(Feedback(request_id=f"r{i}", ts=time.time(), route="cat", verdict="accept"))
    log.close()
    labels = tmp_path / "fix.jsonl"
    labels.write_text(
        json.dumps({"id": "r1", "vars": {"description": "ROUTE BUS"}, "expected": "rent"}) + "\n"
    )
    result = retrain("cat@few", route="cat", labels=[labels], workspace=ws, apply=False)
    c = result.labels
    assert c.sources == {"route:cat": 3, str(labels): 1}
    assert (c.rows, c.duplicates, c.leaked, c.used) == (4, 1, 1, 2)  # r2 = golden c005's vars


def test_no_usable_labels_is_bad_input(ws: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no labeled data"):
        retrain("cat@few", workspace=ws)
    with pytest.raises(ConfigError, match="no usable labeled rows"):
        retrain("cat@few", route="nothing-logged", workspace=ws)
    leaks = tmp_path / "leaks.jsonl"
    leaks.write_text(
        json.dumps({"id": "c003", "vars": {"description": "x"}, "expected": "rent"}) + "\n"
        + json.dumps({"id": "z", "vars": {"description": "y"}, "expected": "not-a-label"}) + "\n"
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"1 in the golden sets, 1 without a label"):
        retrain("cat@few", labels=[leaks], workspace=ws)
    with pytest.raises(ConfigError, match="labels file not found"):
        retrain("cat@few", labels=["missing.jsonl"], workspace=ws)


def test_prompt_without_artifacts_has_nothing_to_retrain(ws: Path, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "new.jsonl")
    with pytest.raises(ConfigError, match="nothing to retrain") as exc:
        retrain("cat@zero", labels=[labels], workspace=ws)
    assert exc.value.exit_code == 2 and "cat.zero.yaml" in str(exc.value)


def test_labels_that_change_nothing_skip_the_runs(ws: Path, tmp_path: Path) -> None:
    labels = tmp_path / "same.jsonl"
    labels.write_text(
        json.dumps(
            {"id": "q", "vars": {"description": "SHOP 0 groceries"}, "expected": "groceries"}
        )
        + "\n"
    )
    before = snapshot(ws)
    result = retrain("cat@rag", labels=[labels], workspace=ws)
    assert result.passed and not result.applied and result.baseline_run is None
    assert not result.artifacts[0].changed and snapshot(ws) == before
    assert "nothing to apply" in render_result(result)


def test_a_suite_of_several_models_needs_one_picked(ws: Path, tmp_path: Path) -> None:
    suite = ws / "evalsets" / "main.suite.yaml"
    suite.write_text(suite.read_text() + f"models: ['{MODEL}', sim/perfect@v1]\n")
    labels = write_labels(tmp_path / "new.jsonl")
    with pytest.raises(ConfigError, match="the suite runs 2 models") as exc:
        retrain("cat@few", labels=[labels], workspace=ws)
    assert "sim/perfect@v1" in str(exc.value)
    result = retrain("cat@few", labels=[labels], workspace=ws, model="sim/perfect@v1", apply=False)
    assert result.passed and result.verdict is not None
    assert result.verdict.rules[-1].baseline == 1.0  # gated on the perfect model alone


def test_index_rows_take_the_text_the_prompt_retrieves_on(ws: Path, tmp_path: Path) -> None:
    """Requests carry more variables than the corpus has fields: the one text variable the
    prompt's template uses (`retrieve(description)`) is the corpus text."""
    labels = tmp_path / "wide.jsonl"
    labels.write_text(
        "".join(
            json.dumps({"id": f"w{i}", "vars": {"description": f"WIDE SHOP {i}", "bank": "nova"},
                        "expected": LABELS[i % 4]}) + "\n"
            for i in range(4)
        )
    )  # fmt: skip
    result = retrain("cat@rag", labels=[labels], workspace=ws, suite="evalsets/main.suite.yaml")
    (change,) = result.artifacts
    assert (change.added, change.skipped) == (4, 0)
    assert b'"text": "WIDE SHOP 0"' in (ws / "evalsets/shops.jsonl").read_bytes()
