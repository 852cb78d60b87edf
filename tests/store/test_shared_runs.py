"""store/shared_runs.py: copying runs to and from the shared store (moto on loopback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import driftgate
from conftest import write_workspace
from driftgate.errors import ConfigError, StorageError
from driftgate.store.objects import ObjectStore
from driftgate.store.runs import RunStore
from driftgate.store.shared_runs import (
    part_key,
    pull_run,
    pull_runs,
    pull_runs_all,
    push_run,
    push_runs,
)
from driftgate.store.shared_writer import Publisher

MODEL = "sim/acme@v1?accuracy=0.7"


@pytest.fixture
def store(s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ObjectStore:
    monkeypatch.delenv("DRIFTGATE_STORE", raising=False)  # the runs are made locally first
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    return ObjectStore.from_url(s3_url)


def _files(runs: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(runs)): p.read_bytes()
        for p in sorted(runs.rglob("*"))
        if p.is_file() and (p.suffix in (".jsonl", ".parquet") or p.name == "manifest.json")
    }


def test_every_local_run_goes_to_the_store_and_back_checked_by_digest(
    store: ObjectStore, tmp_path: Path
) -> None:
    a = write_workspace(tmp_path / "a", model=MODEL)
    driftgate.run(workspace=a, run_id="one", progress="off")
    for part in ("1/2", "2/2"):
        driftgate.run(workspace=a, shard=part, run_id="two", progress="off")
    assert push_runs(store, a / "runs") == 2
    assert push_run(store, a / "runs", "one", verify=True) == 0  # all there: nothing written
    keys = {i.key for i in store.list("runs/")}
    assert "runs/two/shards/2.json" in keys and "runs/one/manifest.json" in keys
    assert sum("/_parquet/" in k for k in keys) == 2

    b = tmp_path / "b" / "runs"
    assert pull_runs_all(store, b) == 2
    assert _files(b) == _files(a / "runs")  # segments, manifests and exports, byte for byte
    assert pull_runs_all(store, b) == 2  # again: verified, nothing changes
    assert _files(b) == _files(a / "runs")
    assert [r.key for r in RunStore(b).results("two")] == [
        r.key for r in RunStore(a / "runs").results("two")
    ]

    # A part altered in the store is found by either direction's check.
    key = next(i.key for i in store.list("runs/one/results/"))
    store.put(key, b'{"key": "forged"}\n')
    with pytest.raises(StorageError, match="differs"):
        pull_run(store, b, "one", verify=True)
    with pytest.raises(StorageError, match="differs"):
        push_run(store, a / "runs", "one", verify=True)


def test_a_copy_gets_only_the_parts_it_lacks(store: ObjectStore, tmp_path: Path) -> None:
    runs = tmp_path / "a" / "runs"
    (runs / "r1" / "results").mkdir(parents=True)
    (runs / "r1" / "manifest.json").write_text(json.dumps({"id": "r1", "status": "running"}))
    push_run(store, runs, "r1")
    seg = runs / "r1" / "results" / "w1.jsonl"
    publisher = Publisher(store, seg, flush_rows=1000, flush_s=60)
    try:
        with seg.open("ab") as fh:
            fh.write(b'{"key": "k1"}\n{"key": "k2"}\n{"key": "k3"')  # a torn last line
            fh.flush()
            publisher.flush()
            assert store.get(part_key("r1", "w1", 0)).data == b'{"key": "k1"}\n{"key": "k2"}\n'  # type: ignore[union-attr]
            other = tmp_path / "b" / "runs"
            assert pull_run(store, other, "r1")
            fh.write(b'}\n{"key": "k4"}\n')
    finally:
        publisher.close()
    assert store.get(part_key("r1", "w1", 1)).data == b'{"key": "k3"}\n{"key": "k4"}\n'  # type: ignore[union-attr]
    pull_run(store, other, "r1")
    pull_run(store, other, "r1")  # known parts are skipped: nothing twice
    assert (other / "r1" / "results" / "w1.jsonl").read_bytes() == seg.read_bytes()
    assert pull_run(store, other, "nope") is False


def test_lines_a_killed_writer_never_published_are_kept_once(
    store: ObjectStore, tmp_path: Path
) -> None:
    """Machine a's writer was killed with k3, k4 unpublished; machine b resumed and computed
    k3 again. a's next push sends k4 and sets its own k3 aside: every key once."""
    runs = tmp_path / "a" / "runs"
    (runs / "r2" / "results").mkdir(parents=True)
    (runs / "r2" / "manifest.json").write_text(json.dumps({"id": "r2", "status": "running"}))
    seg = runs / "r2" / "results" / "w1.jsonl"
    seg.write_bytes(b'{"key": "k1"}\n{"key": "k2"}\n')
    push_run(store, runs, "r2")
    with seg.open("ab") as fh:
        fh.write(b'{"key": "k3", "by": "a"}\n{"key": "k4"}\n')
    store.put(part_key("r2", "w2", 0), b'{"key": "k3", "by": "b"}\n', create=True)
    pull_run(store, runs, "r2")
    push_run(store, runs, "r2")
    stored = [
        json.loads(line)
        for i in store.list("runs/r2/results/")
        for line in store.get(i.key).data.splitlines()  # type: ignore[union-attr]
    ]
    assert sorted(r["key"] for r in stored) == ["k1", "k2", "k3", "k4"]
    assert next(r for r in stored if r["key"] == "k3")["by"] == "b"
    assert [r["key"] for r in RunStore(runs).iter_raw("r2")] == ["k1", "k2", "k4", "k3"]
    assert b'"by": "a"' in next((runs / "r2" / "replaced").glob("*.jsonl")).read_bytes()


def test_a_manifest_further_along_here_is_not_replaced_by_an_older_one(
    store: ObjectStore, tmp_path: Path
) -> None:
    runs = tmp_path / "a" / "runs"
    (runs / "r3").mkdir(parents=True)
    running = {"id": "r3", "status": "running", "resumed": 0}
    (runs / "r3" / "manifest.json").write_text(json.dumps(running))
    push_run(store, runs, "r3")
    done = {**running, "status": "finished", "finished_at": 5.0}
    (runs / "r3" / "manifest.json").write_text(json.dumps(done))  # its publish failed
    assert pull_runs(store, runs) == ["r3"]
    assert json.loads((runs / "r3" / "manifest.json").read_text())["status"] == "finished"
    push_run(store, runs, "r3")  # and the next push sends it
    assert json.loads(store.get("runs/r3/manifest.json").data)["status"] == "finished"  # type: ignore[union-attr]
    other = tmp_path / "b" / "runs"
    pull_runs(store, other)
    assert json.loads((other / "r3" / "manifest.json").read_text())["status"] == "finished"


def test_a_run_made_through_the_library_on_a_shared_store_is_seen_elsewhere(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTGATE_STORE", store.url)
    a = write_workspace(tmp_path / "a", model=MODEL)
    b = write_workspace(tmp_path / "b", model=MODEL)
    run = driftgate.run(workspace=a, progress="off")
    from driftgate.workspace import Workspace

    there = RunStore.of(Workspace.find(b))
    assert there.resolve_id("latest") == run.id
    assert [r.key for r in there.results(run.id)] == [r.key for r in run.results]
    assert there.load(run.id).status == "finished"
    # Stored parts are immutable: rows cannot be taken out to be computed again.
    with pytest.raises(ConfigError, match="--retry-errors"):
        driftgate.resume(run.id, workspace=b, retry_errors=True, progress="off")


def test_a_writer_publishes_every_flush_rows_rows_and_every_flush_s_seconds(
    store: ObjectStore, tmp_path: Path
) -> None:
    import time

    from driftgate.store.runs import ResultWriter

    def parts_within(n: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(store.list("runs/r5/results/")) >= n:
                return True
            time.sleep(0.02)
        return False

    by_rows = ResultWriter(tmp_path / "runs" / "r5" / "results")
    by_rows.publisher = Publisher(store, by_rows.path, flush_rows=3, flush_s=60)
    by_rows.write_many([{"key": "k1"}, {"key": "k2"}])
    assert not parts_within(1, 0.3)  # 2 rows of 3, long before 60 s: nothing yet
    by_rows.write({"key": "k3"})
    assert parts_within(1, 5)
    by_time = ResultWriter(tmp_path / "runs" / "r5" / "results")
    by_time.publisher = Publisher(store, by_time.path, flush_rows=1000, flush_s=0.2)
    by_time.write({"key": "k4"})
    assert parts_within(2, 5)
    by_rows.write({"key": "k5"})
    by_rows.close()  # the rest at the end
    by_time.close()
    assert parts_within(3, 1)
    rows = [
        line for i in store.list("runs/r5/results/") for line in store.get(i.key).data.splitlines()
    ]  # type: ignore[union-attr]
    assert sorted(json.loads(r)["key"] for r in rows) == ["k1", "k2", "k3", "k4", "k5"]
