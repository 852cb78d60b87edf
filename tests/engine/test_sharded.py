"""`driftgate run --shard I/N`: N runners (processes) writing one run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import driftgate
from conftest import write_workspace
from driftgate.engine.options import Shard
from driftgate.errors import ConfigError
from driftgate.store.runs import RunStore

MODEL = "sim/acme@v1?accuracy=0.7"  # deterministic per case: some pass, some fail


def dg(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRIFTGATE_HOME": str(root.parent / "home")}
    return subprocess.run(
        [sys.executable, "-m", "driftgate.cli", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _outcomes(store: RunStore, run_id: str) -> dict[str, bool]:
    return {r.key: r.passed for r in store.results(run_id)}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws", n_cases=40, model=MODEL)


def test_two_shards_as_two_processes_make_one_run_equal_to_an_unsharded_one(ws: Path) -> None:
    one = dg(ws, "run", "--shard", "1/2", "--run-id", "ci-7", "--no-progress")
    assert one.returncode == 0, one.stderr
    assert "shard 1/2 of run ci-7 ended" in one.stdout and "waiting for shard 2 of 2" in one.stdout
    store = RunStore(ws / "runs")
    half = store.load("ci-7")
    assert half.status == "partial" and half.verdict is None and half.shards == 2
    assert not list((ws / "runs" / "_parquet").glob("**/*.parquet"))  # not finished: no export

    two = dg(ws, "run", "--shard", "2/2", "--run-id", "ci-7", "--json", "--no-progress")
    done = json.loads(two.stdout)
    assert done["status"] == "finished" and done["id"] == "ci-7", two.stderr
    assert two.returncode in (0, 1) and done["summary"]["results"] == done["planned"] == 40

    whole = dg(ws, "run", "--run-id", "whole", "--json", "--no-progress")
    assert whole.returncode == two.returncode, whole.stderr
    keys = [json.loads(line)["key"] for seg in store.segments("ci-7") for line in seg.open()]
    assert len(keys) == len(set(keys)) == 40  # every case exactly once, across 2 segments
    assert len(store.segments("ci-7")) == 2
    assert _outcomes(store, "ci-7") == _outcomes(store, "whole")
    assert 0 < sum(_outcomes(store, "whole").values()) < 40  # the comparison can fail
    assert done["summary"]["passed"] == json.loads(whole.stdout)["summary"]["passed"]
    assert len(list((ws / "runs" / "_parquet").glob("**/run=ci-7/*.parquet"))) == 1

    cmp = dg(ws, "compare", "ci-7", "whole", "--json")
    assert cmp.returncode == 0, cmp.stderr
    report = json.loads(cmp.stdout)
    assert report["a"]["status"] == "finished" and report["a"]["results"] == 40
    assert report["n_common"] == 40 and report["only_a"] == report["only_b"] == []
    assert report["answer_mismatches"] == 0 and report["flipped"] == [] and not report["warnings"]


def test_a_shard_run_again_adds_nothing_and_a_finished_run_stays_finished(ws: Path) -> None:
    for part in ("1/2", "2/2"):
        driftgate.run(workspace=ws, shard=part, run_id="r1", progress="off")
    again = driftgate.run(workspace=ws, shard="1/2", run_id="r1", progress="off")
    assert again.manifest.status == "finished"
    assert len(RunStore(ws / "runs").segments("r1")) == 2


def test_shards_split_cases_by_hash_not_position() -> None:
    ids = [f"c{i:03d}" for i in range(200)]
    parts = [{c for c in ids if Shard(i, 3).owns("tx", c)} for i in (1, 2, 3)]
    assert set().union(*parts) == set(ids) and sum(map(len, parts)) == 200
    assert all(40 < len(p) < 95 for p in parts)
    # Not by position: the shards of a reversed list are the same sets.
    assert [{c for c in reversed(ids) if Shard(i, 3).owns("tx", c)} for i in (1, 2, 3)] == parts
    # The golden set is part of the hash: the same ids in another set split differently.
    other = [{c for c in ids if Shard(i, 3).owns("other", c)} for i in (1, 2, 3)]
    assert other != parts


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2"])
def test_a_bad_shard_is_refused_naming_the_flag(bad: str, ws: Path) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        Shard.parse(bad)
    out = dg(ws, "run", "--shard", bad, "--run-id", "x")
    assert out.returncode == 2 and "--shard" in out.stderr
    assert not (ws / "runs").exists()


def test_a_shard_with_another_plan_cannot_join(ws: Path) -> None:
    driftgate.run(workspace=ws, shard="1/2", run_id="r2", progress="off")
    with pytest.raises(ConfigError, match="2 shards, this runner was given 3"):
        driftgate.run(workspace=ws, shard="1/3", run_id="r2", progress="off")
    with pytest.raises(ConfigError, match="plans 40 results, this runner 20"):
        driftgate.run(workspace=ws, shard="2/2", run_id="r2", limit=20, progress="off")


def test_without_run_id_outside_git_the_flag_to_give_is_named(ws: Path) -> None:
    with pytest.raises(ConfigError, match="--run-id"):
        driftgate.run(workspace=ws, shard="1/2", progress="off")


def test_shards_of_one_commit_derive_the_same_run_id(ws: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(ws)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    a = driftgate.run(workspace=ws, shard="1/2", progress="off")
    b = driftgate.run(workspace=ws, shard="2/2", progress="off")
    assert a.id == b.id and b.manifest.status == "finished" and a.manifest.status == "partial"
    assert a.id[:8].isdigit() and len(RunStore(ws / "runs").ids()) == 1


def test_a_killed_shard_reads_interrupted_and_its_rerun_finishes_the_run(ws: Path) -> None:
    import socket

    from driftgate.store._runlock import RunLock
    from driftgate.store.shards import ShardState, save_state

    driftgate.run(workspace=ws, shard="1/2", run_id="r3", progress="off")
    run_dir = ws / "runs" / "r3"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["status"] = "running"  # shard 2 started, then was killed (its lock is free)
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    state = ShardState(index=2, count=2, writer_host=socket.gethostname(), started_at=0.0)
    save_state(run_dir, state)
    lock = RunLock(run_dir / "lock.shard-2")
    lock.acquire("r3")  # shard 2 is running: the run reads running
    assert RunStore(ws / "runs").load("r3").status == "running"
    lock.release()  # killed: the kernel drops its lock
    assert RunStore(ws / "runs").load("r3").status == "interrupted"
    done = driftgate.run(workspace=ws, shard="2/2", run_id="r3", progress="off")
    assert done.manifest.status == "finished" and done.manifest.summary.results == 40  # type: ignore[union-attr]


def test_shards_started_at_once_race_to_create_and_finish_one_run(ws: Path) -> None:
    env = {**os.environ, "DRIFTGATE_HOME": str(ws.parent / "home")}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "driftgate.cli",
                "run",
                "--shard",
                f"{i}/3",
                "--run-id",
                "r4",
                "-q",
            ],
            cwd=ws,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2, 3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode in (0, 1) for p in procs), outs
    store = RunStore(ws / "runs")
    run = store.load("r4")
    assert run.status == "finished" and run.summary and run.summary.results == 40
    assert sorted(r.case_id for r in store.results("r4")) == [f"c{i:03d}" for i in range(40)]
    assert sum("waiting for shard" in out for out, _ in outs) == 2  # two ended before the last
