"""RunStore pieces of a run's lifecycle: the writer lock, error rows taken out for a retry,
and a disk that refuses a write (#16 items 1, 3, 13)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from driftgate.errors import RunLocked, StorageError
from driftgate.store.records import RunManifest
from driftgate.store.runs import RunLock, RunStore


def _manifest(run_id: str = "20260101-000000-aaaaaa") -> RunManifest:
    return RunManifest(id=run_id, created_at=0.0, driftgate_version="0")


def test_the_lock_is_one_writer_and_tells_a_live_run_from_a_dead_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    store = RunStore(tmp_path)
    m = _manifest()
    lock = store.create_locked(m)
    probe = RunLock(store.run_dir(m.id) / "lock")
    assert probe.held_elsewhere() is True
    assert store.load(m.id).status == "running"
    monkeypatch.setattr(RunLock, "WAIT_S", 0.1)
    with pytest.raises(RunLocked, match=rf"run {m.id} is being written .*pid {os.getpid()} on"):
        store.lock(m.id)
    lock.release()
    assert probe.held_elsewhere() is False
    assert store.load(m.id).status == "interrupted"  # nobody holds it: its writer is gone
    with store.lock(m.id):
        assert probe.held_elsewhere() is True
    assert RunLock(tmp_path / "nowhere" / "lock").held_elsewhere() is None


def test_take_out_errors_moves_only_the_selected_lines(tmp_path: Path):
    store = RunStore(tmp_path)
    m = _manifest()
    store.create(m)
    rows = [{"key": f"k{i}", "error": "boom" if i % 3 == 0 else None, "ts": i} for i in range(9)]
    with store.writer(m.id) as w:
        w.write_many(rows)
    clean = store.writer(m.id)
    clean.write({"key": "k9", "error": None, "ts": 9})
    clean.close()
    with clean.path.open("ab") as fh:
        fh.write(b'{"key": "k10", "err')  # a torn tail stays for readers to skip
    untouched = clean.path.stat().st_mtime_ns
    moved = store.take_out_errors(m.id, lambda r: r["error"] is not None)
    assert moved == 3
    # Segments are read in name order, which is not the order they were made in.
    kept = sorted((r["key"] for r in store.iter_raw(m.id)), key=lambda k: int(k[1:]))
    assert kept == ["k1", "k2", "k4", "k5", "k7", "k8", "k9"]
    (side,) = (store.run_dir(m.id) / "replaced").glob("*.jsonl")
    assert [json.loads(x)["key"] for x in side.read_text().splitlines()] == ["k0", "k3", "k6"]
    assert clean.path.stat().st_mtime_ns == untouched  # a segment without errors is not rewritten
    assert store.take_out_errors(m.id, lambda r: r["error"] is not None) == 0


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.ENOSPC, "no space left on "),
        (errno.EROFS, "read-only file system: "),
        (errno.EDQUOT, "disk quota exceeded on "),
        (errno.EIO, "cannot write "),
    ],
)
def test_a_refused_write_names_the_segment_and_the_resume(tmp_path: Path, code: int, says: str):
    store = RunStore(tmp_path)
    m = _manifest()
    store.create(m)
    w = store.writer(m.id)
    w.write({"key": "a"})

    class Refusing:
        def write(self, data: Any) -> int:
            raise OSError(code, os.strerror(code))

    real, w._fh = w._fh, Refusing()  # type: ignore[assignment]
    with pytest.raises(StorageError) as caught:
        w.write({"key": "b"})
    w._fh = real
    w.close()
    assert str(caught.value).startswith(f"{says}{w.path}")
    assert f"driftgate run --resume {m.id}" in str(caught.value)
    assert [r["key"] for r in store.iter_raw(m.id)] == ["a"]


def test_a_short_write_is_finished_not_lost(tmp_path: Path):
    store = RunStore(tmp_path)
    m = _manifest()
    store.create(m)
    w = store.writer(m.id)
    real = w._fh

    class Short:  # the kernel may take part of a write on a filling disk
        def write(self, data: Any) -> int:
            return real.write(bytes(data)[:7])  # type: ignore[union-attr]

    w._fh = Short()  # type: ignore[assignment]
    w.write_many([{"key": "a", "x": 1}, {"key": "b", "x": 2}])
    w._fh = real
    w.close()
    assert [r["key"] for r in store.iter_raw(m.id)] == ["a", "b"]
