"""`driftgate store migrate`: a workspace's state to a store on loopback S3 and into another
workspace, every copy verified, and again with nothing new to copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import driftgate
from conftest import run_main, write_workspace
from driftgate.providers.cache import ResponseCache
from driftgate.router import Router, read_decisions
from driftgate.store.runs import RunStore
from driftgate.workspace import Workspace


def cli(capsys, monkeypatch, root: Path, *args: str) -> tuple[int, str, str]:  # noqa: ANN001
    return run_main(capsys, monkeypatch, *args, "-w", str(root))


def state_files(root: Path, folder: str) -> dict[str, bytes]:
    base = root / ".driftgate" / folder
    return {
        p.relative_to(base).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".lock")
    }


def test_to_a_store_and_back_into_another_workspace(
    s3_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DRIFTGATE_STORE", raising=False)  # a local workspace, moving
    here = write_workspace(tmp_path / "here", n_cases=30, model="sim/acme@v1?accuracy=0.7")
    first = driftgate.run(workspace=here, progress="off")
    second = driftgate.run(workspace=here, progress="off", seed=2)
    (here / "routes").mkdir()
    (here / "routes" / "cat.yaml").write_text("arms:\n  - {name: p, prompt: cat@v1, weight: 100}\n")
    router = Router("cat", workspace=here)
    try:
        for i in range(3):
            router.complete_sync({"description": f"m {i}"}, request_id=f"q{i}")
    finally:
        router.close()
    assert cli(capsys, monkeypatch, here, "register")[0] == 0
    assert (
        cli(capsys, monkeypatch, here, "promote", "prompt/cat@1", "--force", "--reason", "first")[0]
        == 0
    )
    code, out, err = cli(capsys, monkeypatch, here, "store", "migrate", "--to", s3_url, "--json")
    assert code == 0, err
    moved = json.loads(out)
    assert moved["runs"] == 2 and moved["state_objects"] > 0 and moved["cache_entries"] > 0

    there = tmp_path / "there"
    shutil.copytree(here, there, ignore=shutil.ignore_patterns("runs", ".driftgate"))
    code, out, err = cli(capsys, monkeypatch, there, "store", "migrate", "--from", s3_url)
    assert code == 0, err
    assert "every copy verified: 2 runs" in out
    a, b = RunStore(here / "runs"), RunStore(there / "runs")
    assert b.ids() == a.ids() == sorted([first.id, second.id])
    for run_id in a.ids():
        assert b.load(run_id).summary == a.load(run_id).summary
        assert sorted(r.key for r in b.results(run_id)) == sorted(r.key for r in a.results(run_id))
    assert state_files(there, "registry") == state_files(here, "registry")
    with (
        ResponseCache(here / ".driftgate" / "cache" / "responses.sqlite") as mine,
        ResponseCache(there / ".driftgate" / "cache" / "responses.sqlite") as theirs,
    ):
        assert len(theirs) == len(mine) > 0
    assert sorted(d.id for d in read_decisions(Workspace.find(there), "cat")) == ["q0", "q1", "q2"]
    code, out, _ = cli(capsys, monkeypatch, there, "aliases", "prompt/cat", "--json")
    assert {(r["alias"], r["seq"]) for r in json.loads(out)} == {("production", 1)}

    # Again: everything is there already.
    code, out, _ = cli(capsys, monkeypatch, here, "store", "migrate", "--to", s3_url, "--json")
    again = json.loads(out)
    assert code == 0 and again["cache_entries"] == 0 and again["files"] == 0


def test_one_direction_and_a_store_url_are_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_workspace(tmp_path / "ws")
    code, _, err = cli(capsys, monkeypatch, root, "store", "migrate")
    assert code == 2 and "exactly one of --to URL and --from URL" in err
    code, _, err = cli(capsys, monkeypatch, root, "store", "migrate", "--to", "bucket/x")
    assert code == 2 and "--to" in err and "not a store URL" in err
