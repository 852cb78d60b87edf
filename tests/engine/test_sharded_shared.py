"""Runs on a shared store across machines: each machine a separate copy of the workspace
(its own runs folder, cache and home) pointed at one bucket on a loopback S3 server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import write_workspace
from driftgate.store.objects import ObjectStore

MODEL = "sim/acme@v1?accuracy=0.7"  # deterministic per case: some pass, some fail


class Machine:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env

    def dg(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "driftgate.cli", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "driftgate.cli", *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def machines(tmp_path: Path, s3_url: str, s3_server: Any) -> Any:
    def make(name: str, *, model: str = MODEL, settings: str = "") -> Machine:
        root = write_workspace(tmp_path / name, n_cases=40, model=model)
        if settings:
            with (root / "driftgate.yaml").open("a") as fh:
                fh.write(settings)
        env = {
            **os.environ,
            **s3_server.env(),
            "DRIFTGATE_STORE": s3_url,
            "DRIFTGATE_HOME": str(tmp_path / f"{name}-home"),
        }
        return Machine(root, env)

    return make


def _keys_in_store(store: ObjectStore, run_id: str) -> list[str]:
    keys = []
    for info in store.list(f"runs/{run_id}/results/"):
        blob = store.get(info.key)
        assert blob is not None
        keys += [json.loads(line)["key"] for line in blob.data.splitlines()]
    return keys


def test_two_shards_on_two_machines_make_one_run_a_third_reads(machines: Any, s3_url: str) -> None:
    a, b, c, d = machines("a"), machines("b"), machines("c"), machines("d")
    one = a.dg("run", "--shard", "1/2", "--run-id", "ci-9", "--no-progress")
    assert one.returncode == 0, one.stderr
    assert "waiting for shard 2 of 2" in one.stdout
    two = b.dg("run", "--shard", "2/2", "--run-id", "ci-9", "--json", "--no-progress")
    done = json.loads(two.stdout)
    assert done["status"] == "finished" and done["summary"]["results"] == 40, two.stderr

    store = ObjectStore.from_url(s3_url)
    assert store.get("runs/ci-9/finished-by.json") is not None
    assert sorted(i.key for i in store.list("runs/ci-9/shards/")) == [
        "runs/ci-9/shards/1.json",
        "runs/ci-9/shards/2.json",
    ]
    keys = _keys_in_store(store, "ci-9")
    assert len(keys) == len(set(keys)) == 40  # every case once, from two machines' parts
    assert store.list("runs/_parquet/") and "run=ci-9" in str(store.list("runs/_parquet/"))

    # A third machine, which ran nothing of it, sees the run and compares it with an
    # unsharded run of the same suite: the same outcome on every case.
    shown = json.loads(c.dg("show", "ci-9", "--json").stdout)
    assert shown["status"] == "finished" and len(shown["results"]) == 40
    whole = c.dg("run", "--run-id", "whole", "--json", "--no-progress")
    assert whole.returncode == two.returncode, whole.stderr
    assert json.loads(whole.stdout)["summary"]["passed"] == done["summary"]["passed"]
    cmp = c.dg("compare", "ci-9", "whole", "--json")
    assert cmp.returncode == 0, cmp.stderr
    report = json.loads(cmp.stdout)
    assert report["n_common"] == 40 and report["flipped"] == [] and not report["warnings"]

    # A fourth queries both through their Parquet exports, never pulling a result line.
    q = d.dg("query", "--json", "select run_id, count(*) as n from results group by 1 order by 1")
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout) == [{"run_id": "ci-9", "n": 40}, {"run_id": "whole", "n": 40}]
    assert not list((d.root / "runs").glob("*/results/*.jsonl"))
    assert len(list((d.root / "runs" / "_parquet").glob("**/results.parquet"))) == 2
    listed = d.dg("runs", "list", "--json")
    assert [r["id"] for r in json.loads(listed.stdout)] == ["ci-9", "whole"], listed.stderr


def test_shards_started_at_once_on_three_machines_finish_once(machines: Any, s3_url: str) -> None:
    ms = [machines(n) for n in ("a", "b", "c")]
    procs = [m.start("run", "--shard", f"{i}/3", "--run-id", "r4", "-q", "--json") for i, m in
             enumerate(ms, 1)]  # fmt: skip
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode in (0, 1) for p in procs), outs
    statuses = [json.loads(out)["status"] for out, _ in outs]
    # The last to end finished it, and one that ended with it waited for its finish.
    assert "finished" in statuses
    store = ObjectStore.from_url(s3_url)
    manifest = json.loads(store.get("runs/r4/manifest.json").data)  # type: ignore[union-attr]
    assert manifest["status"] == "finished" and manifest["summary"]["results"] == 40
    keys = _keys_in_store(store, "r4")
    assert len(keys) == len(set(keys)) == 40
    who = json.loads(store.get("runs/r4/finished-by.json").data)  # type: ignore[union-attr]
    assert who["shard"] in (1, 2, 3)


def test_a_run_killed_on_one_machine_is_resumed_on_another_exactly_once(
    machines: Any, s3_url: str
) -> None:
    slow = "sim/acme@v1?accuracy=0.7&latency_ms=100&latency_jitter_ms=0"
    cadence = "shared_store: {flush_rows: 4, flush_s: 0.2}\n"
    a, b = machines("a", model=slow, settings=cadence), machines("b", model=slow, settings=cadence)
    store = ObjectStore.from_url(s3_url)
    proc = a.start("run", "--run-id", "k1", "--max-concurrency", "2", "-q")
    try:
        deadline = time.monotonic() + 30
        while len(store.list("runs/k1/results/")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    published = _keys_in_store(store, "k1")
    assert 0 < len(published) < 40  # killed mid-run, some of its rows on the store
    manifest = json.loads(store.get("runs/k1/manifest.json").data)  # type: ignore[union-attr]
    assert manifest["status"] == "running"

    done = b.dg("run", "--resume", "k1", "--json", "--no-progress")
    assert done.returncode in (0, 1), done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "finished" and out["summary"]["results"] == 40
    assert out["resumed"] == 1
    keys = _keys_in_store(store, "k1")
    assert len(keys) == len(set(keys)) == 40  # every key exactly once on the store
    stems = {i.key.split("/")[3] for i in store.list("runs/k1/results/")}
    assert len(stems) == 2  # the resume wrote a segment of its own
    assert store.list("runs/k1/writers/") == []  # the killed writer's heartbeat, seen dead
    # Machine a, resumed again, takes the finished run from the store: nothing computed.
    again = a.dg("run", "--resume", "k1", "--json", "--no-progress")
    assert json.loads(again.stdout)["status"] == "finished", again.stderr
    assert sorted(_keys_in_store(store, "k1")) == sorted(keys)


def test_a_run_id_taken_on_another_machine_is_refused(machines: Any) -> None:
    a, b = machines("a"), machines("b")
    assert a.dg("run", "--run-id", "same", "-q").returncode in (0, 1)
    again = b.dg("run", "--run-id", "same", "-q")
    assert again.returncode == 2 and "run same exists" in again.stderr


def test_a_bad_store_url_is_a_clear_error(machines: Any, s3_server: Any) -> None:
    a = machines("a")
    a.env["DRIFTGATE_STORE"] = "ftp://somewhere/runs"
    out = a.dg("runs", "list")
    assert out.returncode == 2 and "store" in out.stderr and "not a store URL" in out.stderr
    a.env["DRIFTGATE_STORE"] = "s3://no-such-bucket-here/team"
    out = a.dg("run", "-q")
    assert out.returncode == 2 and "no-such-bucket-here" in out.stderr
    assert not list((a.root / "runs").glob("*/manifest.json"))  # no run made halfway


def test_a_finisher_that_died_is_replaced_and_a_live_one_awaited(
    tmp_path: Path, s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import driftgate
    from driftgate.engine import sharded
    from driftgate.store import shards

    monkeypatch.setenv("DRIFTGATE_STORE", s3_url)
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(shards, "MANIFEST_WAIT_S", 0.3)
    store = ObjectStore.from_url(s3_url)
    for run_id, at in (("dead", 0.0), ("live", time.time())):
        a = write_workspace(tmp_path / f"a-{run_id}", model=MODEL)
        b = write_workspace(tmp_path / f"b-{run_id}", model=MODEL)
        assert (
            driftgate.run(workspace=a, shard="1/2", run_id=run_id, progress="off").manifest.status
            == "partial"
        )
        claim = json.dumps({"shard": 1, "host": "gone", "pid": 1, "at": at}).encode()
        store.put(f"runs/{run_id}/finished-by.json", claim, create=True)
        run = driftgate.run(workspace=b, shard="2/2", run_id=run_id, progress="off")
        if run_id == "dead":  # claimed long ago, never finished: taken over
            assert run.manifest.status == "finished" and run.manifest.summary.results == 40  # type: ignore[union-attr]
            who = json.loads(store.get("runs/dead/finished-by.json").data)  # type: ignore[union-attr]
            assert who["shard"] == 2
        else:  # claimed a moment ago: left to its finisher
            assert run.manifest.status == "partial"
            assert sharded.FINISH_TAKEOVER_S > 60


def test_a_run_still_written_on_one_machine_cannot_be_resumed_on_another(
    machines: Any, s3_url: str
) -> None:
    slow = "sim/acme@v1?accuracy=0.7&latency_ms=300&latency_jitter_ms=0"
    cadence = "shared_store: {flush_rows: 1, flush_s: 0.2}\n"
    a, b = machines("a", model=slow, settings=cadence), machines("b", model=slow, settings=cadence)
    store = ObjectStore.from_url(s3_url)
    proc = a.start("run", "--run-id", "busy", "--max-concurrency", "1", "-q")
    try:
        deadline = time.monotonic() + 30
        while not store.list("runs/busy/results/") and time.monotonic() < deadline:
            time.sleep(0.05)
        refused = b.dg("run", "--resume", "busy", "--no-progress")
        assert proc.poll() is None  # still running while b tried
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert refused.returncode != 0 and "being written on another machine" in refused.stderr
    stems = {i.key.split("/")[3] for i in store.list("runs/busy/results/")}
    ours = {seg.stem for seg in (b.root / "runs" / "busy" / "results").glob("*.jsonl")}
    assert ours <= stems  # b pulled what a published, and wrote nothing of its own
    assert store.list("runs/busy/writers/")  # the killed writer's heartbeat, left behind
