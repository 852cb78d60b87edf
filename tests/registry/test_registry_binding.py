"""Binding: a prompt's identity covers the few-shot set and index it renders, a registered
version renders the same messages forever, and nothing serves through an alias that does
nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from driftgate.errors import ConfigError
from driftgate.prompt import load_prompt
from driftgate.registry import VersionNotFound, promote, resolve, rollback
from driftgate.registry.binding import bind_prompt, render_messages
from driftgate.registry.core import Registry
from driftgate.registry.prompts import find_prompt
from driftgate.workspace import Workspace
from test_retrain import MODEL, make_workspace

FEWSHOT = "prompts/fewshot/cat.yaml"
CORPUS = "evalsets/shops.jsonl"
TEXTS = ["SHOP 1 dining", "merchant 7", "OLD RENT SHOP"]


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return make_workspace(tmp_path / "ws")


def messages(root: Path, prompt_ref: str) -> list[list[dict[str, str]]]:
    """What `prompt_ref` (a workspace ref) sends for a few requests."""
    ws = Workspace(root)
    p = find_prompt(ws, prompt_ref)
    return [render_messages(ws, p, {"description": t}) for t in TEXTS]


def served(root: Path, ref: str) -> list[list[dict[str, str]]]:
    """What a registry ref renders, through `driftgate.resolve` (the serving read path)."""
    ws = Workspace(root)
    p = resolve(ref, workspace=ws).definition
    return [render_messages(ws, p, {"description": t}) for t in TEXTS]


def edit_artifacts(root: Path) -> None:
    """A new few-shot example text and a changed corpus row: both render differently."""
    fs = root / FEWSHOT
    fs.write_text(fs.read_text().replace("OLD DINING SHOP", "EDITED DINING SHOP"))
    corpus = root / CORPUS
    corpus.write_text(corpus.read_text().replace("SHOP 1 dining", "SHOP 1 dining EDITED"))


def test_bound_prompts_pin_digests_and_different_renderings_differ(root: Path) -> None:
    ws = Workspace(root)
    raw = load_prompt(root / "prompts/cat.few.yaml")
    few = find_prompt(ws, "cat@few")
    fs_digest = Registry.of(ws).versions.list("fewshot", "cat")[0].digest
    assert raw.fewshot == "cat" and few.fewshot == f"cat@{fs_digest}" and few.bound
    assert few.source == raw.source and few.digest != raw.digest
    rag = find_prompt(ws, "cat@rag")
    assert rag.index is not None and rag.index.startswith("shops@") and rag.bound
    before = {"few": (few.digest, messages(root, "cat@few")),
              "rag": (rag.digest, messages(root, "cat@rag"))}  # fmt: skip
    edit_artifacts(root)
    for ref, (digest, rendered) in before.items():
        now = find_prompt(Workspace(root), f"cat@{ref}")
        # The same prompt file renders other messages now: it is another identity.
        assert messages(root, f"cat@{ref}") != rendered and now.digest != digest
    # A prompt without artifacts is its own binding, digest unchanged.
    zero = find_prompt(ws, "cat@zero")
    assert zero.digest == load_prompt(root / "prompts/cat.zero.yaml").digest


def test_a_registered_version_renders_the_same_after_the_files_change(root: Path) -> None:
    reg = Registry.of(root)
    ws = Workspace(root)
    few = reg.register(find_prompt(ws, "cat@few"))[0]
    rag = reg.register(find_prompt(ws, "cat@rag"))[0]
    assert few.definition["fewshot"].startswith("cat@")  # stored bound
    before = {r.ref: served(root, f"{r.target}@{r.seq}") for r in (few, rag)}
    edit_artifacts(root)
    (root / "prompts/fewshot/cat.yaml").unlink()  # even gone, the registry has it
    for r in (few, rag):
        assert served(root, f"{r.target}@{r.seq}") == before[r.ref]
        assert find_prompt(Workspace(root), f"cat@{r.seq}").digest == r.digest


def test_an_old_index_version_is_rebuilt_from_its_kept_corpus(root: Path) -> None:
    reg = Registry.of(root)
    rag = reg.register(find_prompt(Workspace(root), "cat@rag"))[0]
    before = served(root, "prompt/cat@1")
    name, _, digest = rag.definition["index"].partition("@")
    vectors = root / ".driftgate/cache/indexes" / f"{digest}.npz"
    assert vectors.is_file()
    version = reg.artifact(reg.find(f"index/{name}@{digest}"))
    assert (root / ".driftgate/registry/blobs" / f"{version.corpus_sha256}.jsonl").is_file()
    edit_artifacts(root)
    vectors.unlink()  # no cached vectors, corpus file moved on: rebuilt from the kept bytes
    assert served(root, "prompt/cat@1") == before
    assert vectors.is_file()


def test_selectors_bind_to_what_they_name_now(root: Path) -> None:
    ws = Workspace(root)
    first = find_prompt(ws, "cat@few").fewshot
    edit_artifacts(root)
    second = find_prompt(Workspace(root), "cat@few").fewshot
    assert first != second
    p = root / "prompts/cat.few.yaml"
    for sel, expected in (("1", first), ("2", second), (first.split("@")[1][:6], first)):
        p.write_text(json.dumps({**json.loads(p.read_text()), "fewshot": f"cat@{sel}"}))
        assert find_prompt(Workspace(root), "cat@few").fewshot == expected
    promote("fewshot/cat@1", to="stable", workspace=root)
    p.write_text(json.dumps({**json.loads(p.read_text()), "fewshot": "cat@stable"}))
    assert find_prompt(Workspace(root), "cat@few").fewshot == first
    p.write_text(json.dumps({**json.loads(p.read_text()), "fewshot": "cat@nope"}))
    with pytest.raises(VersionNotFound, match=r"prompt cat@few: fewshot/cat@nope does not exist"):
        find_prompt(Workspace(root), "cat@few")


def test_fewshot_and_index_production_moves_are_refused(root: Path) -> None:
    find_prompt(Workspace(root), "cat@few")
    find_prompt(Workspace(root), "cat@rag")  # registers both artifacts' versions
    with pytest.raises(ConfigError, match="pin their few-shot set") as exc:
        promote("fewshot/cat@1", to="production", workspace=root)
    assert "driftgate retrain" in (exc.value.hint or "") and exc.value.exit_code == 2
    with pytest.raises(ConfigError, match="pin their index"):
        rollback("index/shops", workspace=root)
    assert Registry.of(root).aliases_of("fewshot/cat") == {}


def test_binding_reads_an_unchanged_file_once(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from driftgate.artifacts import fewshot

    old = 1_600_000_000
    os.utime(root / FEWSHOT, (old, old))  # not "racy": the stat key can be trusted
    calls = []
    real = fewshot.load_fewshot
    monkeypatch.setattr(fewshot, "load_fewshot", lambda p: calls.append(p) or real(p))
    ws = Workspace(root)
    raw = load_prompt(root / "prompts/cat.few.yaml")
    digests = {bind_prompt(ws, raw).digest for _ in range(5)}
    assert len(digests) == 1 and len(calls) == 1


def test_runs_and_routed_decisions_record_the_bound_identity(root: Path) -> None:
    from driftgate.engine.runner import run
    from driftgate.router import Router

    bound = find_prompt(Workspace(root), "cat@few").digest
    result = run("evalsets/main.suite.yaml", workspace=root)
    assert [p.digest for p in result.manifest.prompts] == [bound]
    assert {r.prompt_digest for r in result.results} == {bound}
    (root / "routes").mkdir()
    (root / "routes/cat.yaml").write_text(
        f"arms:\n  - {{name: production, prompt: cat@few, model: '{MODEL}', weight: 100}}\n"
    )
    router = Router("cat", workspace=root)
    try:
        decision = router.complete_sync({"description": "merchant 1"})
    finally:
        router.close()
    assert decision.prompt_digest == bound
