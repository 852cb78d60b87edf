"""`driftgate.retrain`: labeled rows → new few-shot set / index versions → a new prompt
version bound to them → gate → the `candidate` alias; never a workspace file, never
production.

A small workspace on the in-process simulator (a candidate ties or beats its baseline, so the
built-in non-inferiority gate passes) and a hashed character-trigram embedder registered as
`fake/…`, so no model is loaded.
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
from driftgate.registry import promote, resolve, rollback
from driftgate.registry.binding import render_messages
from driftgate.registry.core import Registry
from driftgate.registry.prompts import find_prompt
from driftgate.report.retrain import render_result
from driftgate.retraining import retrain
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


NI_MARGIN = 0.15


def make_workspace(root: Path, *, n_cases: int = 24) -> Path:
    """Prompts cat@few (few-shot set `cat`), cat@rag (index `shops`), cat@zero (neither)."""
    for d in ("prompts/fewshot", "prompts/indexes", "evalsets"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "driftgate.yaml").write_text("suite: evalsets/main.suite.yaml\n")
    (root / "gates").mkdir(exist_ok=True)
    # 24 equal pass/fail outcomes rule out a drop of ~11 points, not the built-in 2.
    (root / "gates" / "default.yaml").write_text(f"non_inferiority: {{margin: {NI_MARGIN}}}\n")
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


def aliases(root: Path) -> dict[str, str]:
    return Registry.of(Workspace(root)).aliases_of("prompt/cat")


def rendered(root: Path, ref: str, text: str = "NEW DINING PLACE 1") -> list[dict[str, str]]:
    """The messages `ref` (a registry ref) sends, rendered as the serving path renders them."""
    w = Workspace(root)
    return render_messages(w, resolve(ref, workspace=w).definition, {"description": text})


def test_fewshot_retrain_registers_a_bound_candidate(ws: Path, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "new.jsonl")
    old = load_fewshot(ws / "prompts/fewshot/cat.yaml")
    before = snapshot(ws)
    result = retrain("cat@few", labels=[str(labels)], workspace=ws)

    assert result.passed and result.applied and result.exit_code == 0
    assert result.labels.rows == 10 and result.labels.leaked == 2 and result.labels.used == 8
    base = Registry.of(Workspace(ws)).find("prompt/cat@1")
    assert result.base == f"prompt/cat@1 ({base.digest})" and base.digest == result.base_digest
    assert base.definition["fewshot"] == f"cat@{old.digest}"  # the base as it rendered
    assert result.candidate == "prompt/cat@2"
    (change,) = result.artifacts
    assert (change.kind, change.old_digest, change.old_version) == ("fewshot", old.digest,
                                                                    "fewshot/cat@1")  # fmt: skip
    assert change.changed and change.version == "fewshot/cat@2"
    # The workspace is untouched; the candidate pins the new set and `candidate` points at it.
    assert snapshot(ws) == before
    cand = Registry.of(Workspace(ws)).find(result.candidate)
    assert cand.definition["fewshot"] == f"cat@{change.new_digest}"
    assert cand.digest == result.candidate_digest != base.digest
    assert aliases(ws) == {"candidate": cand.digest}  # production never moved
    assert registered(ws, "fewshot", "cat") == {old.digest, change.new_digest}
    new = Registry.of(Workspace(ws)).artifact(Registry.of(Workspace(ws)).find(change.version or ""))
    assert new.strategy == "diverse" and new.provenance.seed == 3
    assert "retrain" in (new.provenance.source or "") and "new.jsonl (10)" in new.provenance.source
    assert new.provenance.candidates == 4 + 8  # the old examples plus the usable new rows
    assert sorted(e.label for e in new.examples) == sorted(LABELS)
    descriptions = {e.input["description"] for e in new.examples}
    assert change.added == len(descriptions - {f"OLD {lab.upper()} SHOP" for lab in LABELS}) > 0
    assert not descriptions & {"anything", "merchant 2"}
    # The candidate renders its new examples; the base still renders the old ones.
    assert rendered(ws, "prompt/cat@candidate") != rendered(ws, "prompt/cat@1")
    assert "OLD DINING SHOP" in rendered(ws, "prompt/cat@1")[0]["content"]
    # The move is audited like any other, with the retrain's verdict.
    entry = Registry.of(Workspace(ws)).aliases.read().last_move
    assert entry is not None and (entry.alias, entry.to_digest) == ("candidate", cand.digest)
    assert entry.gate_passed is True and not entry.forced
    text = render_result(result)
    assert "candidate → prompt/cat@2" in text and "production is unchanged" in text
    assert result.summary.startswith(f"prompt/cat@2 from {result.base}: PASS ")
    assert result.summary.endswith("; candidate → prompt/cat@2")


def test_index_retrain_keeps_the_corpus_in_the_registry(ws: Path, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "new.jsonl", n=4, leaks=False)
    corpus = (ws / "evalsets/shops.jsonl").read_bytes()
    # A text the corpus already has is not added twice.
    with labels.open("a") as fh:
        fh.write(json.dumps({"id": "s1", "vars": {"description": "SHOP 1 dining"},
                             "expected": "dining"}) + "\n")  # fmt: skip
    result = retrain("cat@rag", labels=[labels], workspace=ws, suite="evalsets/main.suite.yaml")

    assert result.applied and result.candidate == "prompt/cat@2"
    (change,) = result.artifacts
    assert (change.kind, change.name, change.added, change.size) == ("index", "shops", 4, 12)
    assert (ws / "evalsets/shops.jsonl").read_bytes() == corpus  # the workspace file: as it was
    assert registered(ws, "index", "shops") == {change.old_digest, change.new_digest}
    version = Registry.of(Workspace(ws)).artifact(
        Registry.of(Workspace(ws)).find(change.version or "")
    )
    kept = ws / ".driftgate/registry/blobs" / f"{version.corpus_sha256}.jsonl"
    added = [json.loads(line) for line in kept.read_bytes()[len(corpus) :].splitlines()]
    assert kept.read_bytes().startswith(corpus) and len(added) == 4  # existing bytes kept
    assert added[0] == {"id": "n0", "text": "NEW GROCERIES PLACE 0", "label": "groceries"}
    # The candidate retrieves the new rows; the base cannot.
    cand = rendered(ws, "prompt/cat@candidate", "NEW GROCERIES PLACE 0")[0]["content"]
    assert "NEW GROCERIES PLACE 0 is groceries" in cand
    assert (
        "NEW GROCERIES PLACE 0 is"
        not in rendered(ws, "prompt/cat@1", "NEW GROCERIES PLACE 0")[0]["content"]
    )


def test_failing_gate_moves_nothing_and_writes_no_file(ws: Path, tmp_path: Path) -> None:
    (ws / "gates" / "cat.yaml").write_text(
        f"floors:\n  - {{metric: pass, min: 0.95}}\nnon_inferiority: {{margin: {NI_MARGIN}}}\n"
    )
    labels = write_labels(tmp_path / "new.jsonl")
    before = snapshot(ws)
    result = retrain("cat@few", labels=[labels], workspace=ws)

    assert not result.passed and not result.applied and result.exit_code == 1
    assert result.verdict is not None and [r.rule for r in result.verdict.failed] == ["floor"]
    assert snapshot(ws) == before
    assert aliases(ws) == {}  # the candidate version is registered, but no alias names it
    assert result.candidate == "prompt/cat@2"
    assert "gate failed: candidate not moved" in render_result(result)


def test_dry_run_moves_no_alias(ws: Path, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "new.jsonl")
    before = snapshot(ws)
    result = retrain("cat@rag", labels=[labels], workspace=ws, dry_run=True)

    assert result.passed and result.dry_run and not result.applied and result.exit_code == 0
    assert result.artifacts[0].changed and result.candidate is not None
    assert snapshot(ws) == before and aliases(ws) == {}
    new_digest = result.artifacts[0].new_digest
    # The evaluation built (and cached, in the shared cache) the extended index.
    assert (ws / ".driftgate" / "cache" / "indexes" / f"{new_digest}.npz").is_file()
    assert "dry run: the gate passed; candidate not moved" in render_result(result)


def test_promote_then_rollback_restores_the_rendered_messages(ws: Path, tmp_path: Path) -> None:
    """The loop's way back: production renders byte-identical messages before the retrain,
    while the candidate waits, and after promoting the candidate and rolling back."""
    w = Workspace(ws)
    base = Registry.of(w).register(find_prompt(w, "cat@few"))[0]
    promote(f"prompt/cat@{base.seq}", to="production", force=True, skip_gate=True,
            reason="first release", workspace=ws)  # fmt: skip
    texts = ["NEW DINING PLACE 1", "merchant 3", "OLD RENT SHOP"]
    before = [rendered(ws, "prompt/cat", t) for t in texts]
    files = snapshot(ws)

    result = retrain("cat@production", labels=[write_labels(tmp_path / "n.jsonl")], workspace=ws)
    assert result.applied and result.base == f"prompt/cat@1 ({base.digest})"
    assert [rendered(ws, "prompt/cat", t) for t in texts] == before  # production untouched
    assert snapshot(ws) == files
    # Even the workspace file changing does not change what production renders.
    (ws / "prompts/fewshot/cat.yaml").write_text((ws / "prompts/fewshot/cat.yaml").read_text()
                                                 .replace("OLD", "EDITED"))  # fmt: skip
    assert [rendered(ws, "prompt/cat", t) for t in texts] == before

    moved = promote(result.candidate or "", to="production", workspace=ws)
    assert moved.moved and moved.verdict is not None and moved.verdict.passed
    assert [rendered(ws, "prompt/cat", t) for t in texts] != before
    rollback("prompt/cat", workspace=ws)
    assert [rendered(ws, "prompt/cat", t) for t in texts] == before


def test_route_feedback_since_and_files_win_on_shared_ids(ws: Path, tmp_path: Path) -> None:
    log = TrafficLog(Workspace(ws), "cat")
    t0 = time.time()
    for i, (desc, label) in enumerate(
        [
            ("ROUTE CAFE", "dining"),
            ("ROUTE BUS", "transport"),
            ("merchant 5", "dining"),
            ("ROUTE OLD", "rent"),
        ]
    ):
        log.decision(
            Decision(
                id=f"r{i}",
                ts=t0,
                route="cat",
                route_digest="d",
                arm="production",
                prompt="cat@few",
                prompt_digest="p",
                model=MODEL,
                vars={"description": desc},
                parsed=label,
            )
        )
        ts = t0 - 100 if desc == "ROUTE OLD" else t0
        log.feedback(Feedback(request_id=f"r{i}", ts=ts, route="cat", verdict="accept"))
    log.close()  # fmt: skip
    labels = tmp_path / "fix.jsonl"
    labels.write_text(
        json.dumps({"id": "r1", "vars": {"description": "ROUTE BUS"}, "expected": "rent"}) + "\n"
    )
    result = retrain(
        "cat@few", route="cat", labels=[labels], workspace=ws, dry_run=True, since=t0 - 50
    )
    c = result.labels
    assert c.sources == {"route:cat": 3, str(labels): 1} and c.before_since == 1
    assert (c.rows, c.duplicates, c.leaked, c.used) == (4, 1, 1, 2)  # r2 = golden c005's vars


def test_no_usable_labels_is_bad_input_with_counts_that_add_up(ws: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no labeled data"):
        retrain("cat@few", workspace=ws)
    with pytest.raises(ConfigError, match="no usable labeled rows") as exc:
        retrain("cat@few", route="nothing-logged", workspace=ws)
    assert "has no labeled feedback" in (exc.value.hint or "")
    assert "--labels FILE" in (exc.value.hint or "")
    leaks = tmp_path / "leaks.jsonl"
    leaks.write_text(
        json.dumps({"id": "c003", "vars": {"description": "x"}, "expected": "rent"}) + "\n"
        + json.dumps({"id": "z", "vars": {"description": "y"}, "expected": "not-a-label"}) + "\n"
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"2 read, 1 in the golden sets, 1 without a label"):
        retrain("cat@few", labels=[leaks], workspace=ws)
    # Every row a golden case, passed twice: the duplicates are counted, the sum adds up,
    # and the hint does not ask for the --labels that were given.
    golden = ws / "evalsets" / "tx.jsonl"
    with pytest.raises(ConfigError) as exc:
        retrain("cat@few", labels=[golden, golden], workspace=ws)
    assert "(48 read, 24 duplicate ids, 24 in the golden sets, 0 without" in exc.value.message
    assert "golden sets" in (exc.value.hint or "") and "pass other --labels files" in (
        exc.value.hint or ""
    )
    with pytest.raises(ConfigError, match="labels file not found"):
        retrain("cat@few", labels=["missing.jsonl"], workspace=ws)


def test_bad_bases_and_aliases(ws: Path, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "new.jsonl")
    with pytest.raises(ConfigError, match="nothing to retrain") as exc:
        retrain("cat@zero", labels=[labels], workspace=ws)
    assert exc.value.exit_code == 2 and "cat.zero.yaml" in str(exc.value)
    with pytest.raises(ConfigError, match="never moves 'production'"):
        retrain("cat@few", labels=[labels], workspace=ws, alias="production")


def test_labels_that_change_nothing_make_no_candidate(ws: Path, tmp_path: Path) -> None:
    labels = tmp_path / "same.jsonl"
    labels.write_text(
        json.dumps(
            {"id": "q", "vars": {"description": "SHOP 0 groceries"}, "expected": "groceries"}
        )
        + "\n"
    )
    before = snapshot(ws)
    result = retrain("cat@rag", labels=[labels], workspace=ws)
    assert result.passed and not result.applied and result.candidate is None
    assert not result.artifacts[0].changed and snapshot(ws) == before and aliases(ws) == {}
    assert "nothing to evaluate" in render_result(result)


def test_a_suite_of_several_models_needs_one_picked(ws: Path, tmp_path: Path) -> None:
    suite = ws / "evalsets" / "main.suite.yaml"
    suite.write_text(suite.read_text() + f"models: ['{MODEL}', sim/perfect@v1]\n")
    labels = write_labels(tmp_path / "new.jsonl")
    with pytest.raises(ConfigError, match="the suite runs 2 models") as exc:
        retrain("cat@few", labels=[labels], workspace=ws)
    assert "sim/perfect@v1" in str(exc.value)
    result = retrain("cat@few", labels=[labels], workspace=ws, model="sim/perfect@v1",
                     dry_run=True)  # fmt: skip
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
    result = retrain("cat@rag", labels=[labels], workspace=ws, dry_run=True)
    (change,) = result.artifacts
    assert (change.added, change.skipped) == (4, 0)
    assert "WIDE SHOP 0 is" in rendered(ws, result.candidate or "", "WIDE SHOP 0")[0]["content"]
