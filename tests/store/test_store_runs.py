"""Result segments: one line per result, several lines in one write, torn tails skipped."""

from __future__ import annotations

import json
from pathlib import Path

from driftgate.store.runs import ResultWriter, RunStore


def test_write_many_appends_whole_lines_like_write(tmp_path: Path):
    recs = [
        {"key": f"k{i}", "output": 'é\n"x"', "value": i / 3, "path": Path("/p")} for i in range(5)
    ]
    with ResultWriter(tmp_path / "one") as w1:
        for r in recs:
            w1.write(r)
    with ResultWriter(tmp_path / "many") as w2:
        w2.write_many(recs[:3])
        w2.write_many([])
        w2.write_many(recs[3:])
        assert w2.count == 5
    assert w1.path.read_bytes() == w2.path.read_bytes()
    rows = [json.loads(x) for x in w2.path.read_text().splitlines()]
    assert [r["key"] for r in rows] == [f"k{i}" for i in range(5)] and rows[0]["path"] == "/p"


def test_iter_raw_reads_batches_and_skips_a_torn_tail(tmp_path: Path):
    store = RunStore(tmp_path)
    (tmp_path / "r1" / "results").mkdir(parents=True)
    w = store.writer("r1")
    w.write_many([{"key": "a"}, {"key": "b"}])
    w.close()
    with w.path.open("ab") as fh:
        fh.write(b'{"key": "c", "tor')
    assert [r["key"] for r in store.iter_raw("r1")] == ["a", "b"]


def test_running_run_whose_writer_died_reads_as_interrupted(tmp_path: Path):
    import socket
    import subprocess
    import sys

    from driftgate.store.records import RunManifest

    store = RunStore(tmp_path)
    m = RunManifest(id="20260101-000000-aaaaaa", created_at=0.0, driftgate_version="0")
    store.create(m)
    assert store.load(m.id).status == "running"  # this process writes it: alive
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    path = store.run_dir(m.id) / "manifest.json"
    data = json.loads(path.read_text())
    assert data["writer_host"] == socket.gethostname()
    data["writer_pid"] = int(dead.stdout)
    path.write_text(json.dumps(data))
    assert store.load(m.id).status == "interrupted"
    assert [x.status for x in store.list()] == ["interrupted"]
    data["writer_host"] = "another-host"  # cannot check a process elsewhere
    path.write_text(json.dumps(data))
    assert store.load(m.id).status == "running"
