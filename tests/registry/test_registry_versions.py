"""Versions: content addressing, sequence numbers, refs, the four kinds, run recording."""

import json
import multiprocessing
from pathlib import Path

import pytest

from driftgate.errors import ConfigError, UnknownNameError
from driftgate.registry import (
    Registry,
    VersionNotFound,
    parse_ref,
    record_run_artifacts,
    register_artifacts,
)
from driftgate.registry.kinds import IndexVersion, rebuild
from driftgate.registry.prompts import find_prompt
from driftgate.workspace import Workspace


def set_model(root: Path, model: str, label: str = "v1") -> None:
    p = root / "prompts" / "cat.yaml"
    text = p.read_text()
    text = "\n".join(
        f"model: {model}"
        if line.startswith("model:")
        else f'version: "{label}"'
        if line.startswith("version:")
        else line
        for line in text.splitlines()
    )
    p.write_text(text + "\n")


def test_register_is_idempotent_and_numbers_versions(ws_root: Path):
    ((rec, created),) = register_artifacts(ws_root)
    assert created and rec.ref == "prompt/cat@1" and rec.source == "prompts/cat.yaml"
    assert rec.digest == find_prompt(Workspace(ws_root), "cat@v1").digest
    ((again, created2),) = register_artifacts(ws_root, "prompt/cat")
    assert not created2 and again.seq == 1 and again.digest == rec.digest
    # A change of content is a new version; going back to old content is the old version.
    set_model(ws_root, "sim/acme@v1")
    ((v2, c2),) = register_artifacts(ws_root, "prompts/cat.yaml")
    assert c2 and v2.seq == 2 and v2.digest != rec.digest
    set_model(ws_root, "sim/perfect@v1")
    ((back, c3),) = register_artifacts(ws_root, "cat")
    assert not c3 and back.seq == 1
    files = sorted(p.name for p in (ws_root / ".driftgate/registry/prompt/cat").glob("*.json"))
    assert files == sorted([f"{rec.digest}.json", f"{v2.digest}.json"])
    stored = json.loads((ws_root / f".driftgate/registry/prompt/cat/{v2.digest}.json").read_text())
    assert stored["seq"] == 2 and stored["definition"]["model"] == "sim/acme@v1"


def _register_variant(root: str, i: int, q) -> None:
    from driftgate.prompt import Prompt
    from driftgate.registry import Registry

    reg = Registry.of(root)
    p = Prompt(
        name="cat", model=f"sim/acme@v1?seed={i}", messages=[{"role": "user", "content": "x"}]
    )
    q.put(reg.register(p)[0].seq)


def test_sequence_numbers_are_unique_under_concurrent_registration(ws_root: Path):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_register_variant, args=(str(ws_root), i, q)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(10)
    seqs = sorted(q.get(timeout=5) for _ in procs)
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert [r.seq for r in Registry.of(ws_root).versions.list("prompt", "cat")] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]


def test_refs_select_by_sequence_digest_prefix_and_alias(ws_root: Path):
    reg = Registry.of(ws_root)
    ((v1, _),) = register_artifacts(ws_root)
    set_model(ws_root, "sim/acme@v1")
    ((v2, _),) = register_artifacts(ws_root)
    assert reg.find("prompt/cat@2").digest == v2.digest
    assert reg.find(f"cat@{v1.digest[:6]}").seq == 1
    assert parse_ref("fewshot/x@3").kind == "fewshot" and parse_ref("cat").selector is None
    with pytest.raises(VersionNotFound, match=r"@1, @2"):
        reg.find("prompt/cat@9")
    with pytest.raises(VersionNotFound, match="no registered version"):
        reg.find("prompt/dog@1")
    with pytest.raises(ConfigError, match="invalid artifact name"):
        parse_ref("prompt/../etc@1")
    with pytest.raises(VersionNotFound, match="@1, @2"):
        reg.find("prompt/cat@nosuchalias")


def test_workspace_prompt_resolves_registry_refs_and_file_labels_win(ws_root: Path):
    ((v1, _),) = register_artifacts(ws_root)
    set_model(ws_root, "sim/acme@v1")
    ((v2, _),) = register_artifacts(ws_root)
    ws = Workspace(ws_root)
    old = find_prompt(ws, "cat@1")
    assert old.ref == "cat@1" and old.digest == v1.digest and old.model == "sim/perfect@v1"
    assert find_prompt(ws, f"cat@{v2.digest[:8]}").model == "sim/acme@v1"
    assert find_prompt(ws, "cat@v1").digest == v2.digest  # the file's own label: the current file
    set_model(ws_root, "sim/acme@v1", label="1")  # a file labelled "1" wins over seq 1
    assert find_prompt(Workspace(ws_root), "cat@1").model == "sim/acme@v1"
    with pytest.raises(UnknownNameError):
        find_prompt(Workspace(ws_root), "dog@1")


def test_fewshot_route_and_index_versions(ws_root: Path):
    reg = Registry.of(ws_root)
    (ws_root / "prompts/fewshot").mkdir()
    (ws_root / "prompts/fewshot/cat.yaml").write_text(
        "examples:\n  - {input: {description: TESCO}, output: groceries, label: groceries}\n"
    )
    (ws_root / "routes").mkdir()
    (ws_root / "routes/cat.yaml").write_text(
        "arms:\n  - {name: production, prompt: cat@production, weight: 100}\n"
    )
    (ws_root / "evalsets/corpus.jsonl").write_text(
        '{"id": "a", "text": "TESCO", "label": "groceries"}\n'
    )
    (ws_root / "prompts/indexes").mkdir()
    (ws_root / "prompts/indexes/m.yaml").write_text(
        "corpus: evalsets/corpus.jsonl\nembedder: fake\n"
    )
    done = {r.kind: r for r, _ in register_artifacts(ws_root, "fewshot/cat")}
    done.update({r.kind: r for r, _ in register_artifacts(ws_root, "routes/cat.yaml")})
    from driftgate.artifacts.index import IndexSpec, index_digest, load_index_spec

    spec = load_index_spec(ws_root / "prompts/indexes/m.yaml")
    idx, _ = reg.register_index(spec, embedder="fake-embedder")
    assert done["fewshot"].ref == "fewshot/cat@1" and done["route"].ref == "route/cat@1"
    assert rebuild(done["route"]).arms[0].prompt == "cat@production"
    # The index version is the digest RetrievalIndex.build gives the same corpus + embedder.
    import hashlib

    sha = hashlib.sha256((ws_root / "evalsets/corpus.jsonl").read_bytes()).hexdigest()
    assert idx.digest == index_digest(spec, sha, "fake-embedder")
    version = rebuild(idx)
    assert isinstance(version, IndexVersion) and isinstance(version.index_spec(), IndexSpec)
    # Registering everything: an index whose embedder cannot be resolved (its identity is
    # unknown) is reported, and the rest is still registered.
    errors: list[str] = []
    everything = register_artifacts(ws_root, errors=errors)
    assert sorted(r.kind for r, _ in everything) == ["fewshot", "prompt", "route"]
    assert len(errors) == 1 and "indexes/m.yaml" in errors[0]
    with pytest.raises(ConfigError):
        register_artifacts(ws_root)
    # Editing the corpus makes a new index version.
    (ws_root / "evalsets/corpus.jsonl").write_text(
        '{"id": "a", "text": "SHELL", "label": "fuel"}\n'
    )
    idx2, created = reg.register_index(spec, embedder="fake-embedder")
    assert created and idx2.seq == 2


def test_altered_version_file_is_refused(ws_root: Path):
    ((v1, _),) = register_artifacts(ws_root)
    path = ws_root / f".driftgate/registry/prompt/cat/{v1.digest}.json"
    data = json.loads(path.read_text())
    data["definition"]["model"] = "sim/acme@v1"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="altered"):
        rebuild(Registry.of(ws_root).find("cat@1"))


def test_record_run_artifacts_keeps_every_evaluated_version(ws_root: Path):
    from driftgate.engine import build_plan

    ws = Workspace(ws_root)
    recs = record_run_artifacts(ws, build_plan(workspace=ws))
    assert [r.ref for r in recs] == ["prompt/cat@1"]
    set_model(ws_root, "sim/acme@v1")
    ws = Workspace(ws_root)
    recs = record_run_artifacts(ws, build_plan(workspace=ws))
    assert [r.ref for r in recs] == ["prompt/cat@2"]
    # Running a registry version records nothing new.
    recs = record_run_artifacts(ws, build_plan(workspace=ws, prompts=["cat@1"]))
    assert [r.ref for r in recs] == ["prompt/cat@1"]
    assert len(Registry.of(ws_root).versions.list("prompt", "cat")) == 2
