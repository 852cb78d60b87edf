"""The serving read path: resolve aliases without locks, cheaply, and notice moves at once."""

import multiprocessing
import os
import time
from pathlib import Path

import pytest

import driftgate.registry.serving as serving
from driftgate.prompt import Prompt
from driftgate.registry import (
    Resolver,
    StateCorrupted,
    VersionNotFound,
    promote,
    register_artifacts,
    resolve,
    rollback,
)

FORCE = {"force": True, "skip_gate": True, "reason": "test"}


def two_versions_promoted(root: Path) -> tuple[str, str]:
    ((v1, _),) = register_artifacts(root)
    p = root / "prompts" / "cat.yaml"
    p.write_text(p.read_text().replace("sim/perfect@v1", "sim/acme@v1"))
    ((v2, _),) = register_artifacts(root)
    promote("prompt/cat@1", workspace=root, **FORCE)
    promote("prompt/cat@2", workspace=root, **FORCE)
    return v1.digest, v2.digest


def age(path: Path, seconds: float = 10.0) -> None:
    """Make a file look old, as a state written a while ago (not "racy")."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_resolve_gives_the_production_prompt(ws_root: Path):
    d1, d2 = two_versions_promoted(ws_root)
    art = resolve("prompt/cat", workspace=ws_root)
    assert (art.seq, art.digest, art.alias) == (2, d2, "production")
    assert isinstance(art.definition, Prompt) and art.definition.model == "sim/acme@v1"
    assert art.definition.render({"description": "x"})[1]["content"] == "x"
    assert resolve("cat@previous", workspace=ws_root).digest == d1
    assert resolve("prompt/cat", "previous", workspace=ws_root).seq == 1
    assert resolve("prompt/cat@1", workspace=ws_root).digest == d1
    assert resolve(f"prompt/cat@{d2[:5]}", workspace=ws_root).seq == 2
    with pytest.raises(VersionNotFound, match="no alias 'candidate'"):
        resolve("prompt/cat", "candidate", workspace=ws_root)


def test_resolver_rereads_only_when_the_state_file_changes(ws_root: Path, monkeypatch):
    two_versions_promoted(ws_root)
    state = ws_root / ".driftgate/registry/aliases.json"
    age(state)
    calls = []
    real = serving.parse_state
    monkeypatch.setattr(
        serving, "parse_state", lambda raw, path: calls.append(1) or real(raw, path)
    )
    r = Resolver(ws_root)
    for _ in range(50):
        assert r.resolve("prompt/cat").seq == 2
    assert len(calls) == 1
    rollback("prompt/cat", workspace=ws_root)
    assert r.resolve("prompt/cat").seq == 1
    assert len(calls) == 2
    # Cheap: a cached resolution is a stat and two dict lookups.
    age(state)
    r.resolve("prompt/cat")
    t = time.perf_counter()
    for _ in range(2000):
        r.resolve("prompt/cat")
    assert (time.perf_counter() - t) / 2000 < 200e-6


def _rollback_later(root: str, done_file: str) -> None:
    time.sleep(0.2)
    rollback("prompt/cat", workspace=root)
    Path(done_file).write_text(repr(time.time()))
    os._exit(0)


def test_a_rollback_from_another_process_is_seen_within_a_second(ws_root: Path, tmp_path: Path):
    two_versions_promoted(ws_root)
    r = Resolver(ws_root)
    assert r.resolve("prompt/cat").seq == 2
    done = tmp_path / "done"
    child = multiprocessing.get_context("fork").Process(
        target=_rollback_later, args=(str(ws_root), str(done))
    )
    child.start()
    seen_at = None
    deadline = time.time() + 5
    while time.time() < deadline:
        if r.resolve("prompt/cat").seq == 1:
            seen_at = time.time()
            break
        time.sleep(0.01)
    child.join(5)
    assert seen_at is not None, "the rollback was never seen"
    assert seen_at - float(done.read_text()) < 1.0


def test_corrupt_state_while_serving_keeps_the_last_verified_state(ws_root: Path):
    two_versions_promoted(ws_root)
    state = ws_root / ".driftgate/registry/aliases.json"
    r = Resolver(ws_root)
    assert r.resolve("prompt/cat").seq == 2
    state.write_text(state.read_text().replace('"counter"', '"kounter"'))
    with pytest.warns(UserWarning, match="last verified state"):
        assert r.resolve("prompt/cat").seq == 2
    with pytest.raises(StateCorrupted):
        Resolver(ws_root).resolve("prompt/cat")
