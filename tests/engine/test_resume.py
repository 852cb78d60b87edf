"""A run killed with SIGKILL resumes to exactly one result per case; parallel runs don't collide."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import driftgate
from conftest import write_workspace
from driftgate.store.runs import RunStore

SCRIPT = """
import sys, driftgate
driftgate.run(workspace=sys.argv[1], max_concurrency=4)
"""


def _start(root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(root)], env={**os.environ})


def test_sigkill_then_resume_gives_exactly_one_result_per_case(tmp_path: Path):
    root = write_workspace(tmp_path / "ws", n_cases=200, model="sim/acme@v1?latency_ms=20")
    proc = _start(root)
    store = RunStore(root / "runs")
    deadline = time.time() + 30
    while time.time() < deadline:
        ids = store.ids()
        if ids and sum(1 for _ in store.iter_raw(ids[0])) >= 40:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (run_id,) = store.ids()
    before = sum(1 for _ in store.iter_raw(run_id))
    assert 40 <= before < 200
    # Killed: never finalized; its writer process is gone, so it reads as interrupted.
    assert store.load(run_id).status == "interrupted"
    on_disk = json.loads((store.run_dir(run_id) / "manifest.json").read_text())
    assert on_disk["status"] == "running" and on_disk["writer_pid"] == proc.pid

    run = driftgate.resume(run_id, workspace=root)
    keys = [r.key for r in run.results]
    assert len(keys) == 200 and len(set(keys)) == 200
    assert run.manifest.status == "finished" and run.manifest.resumed == 1
    # Results written before the kill were kept, not recomputed.
    assert len(store.segments(run_id)) == 2


def test_two_runs_at_once_on_one_workspace(tmp_path: Path):
    root = write_workspace(tmp_path / "ws", n_cases=60, model="sim/acme@v1?latency_ms=5")
    procs = [_start(root), _start(root)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    store = RunStore(root / "runs")
    ids = store.ids()
    assert len(ids) == 2
    for i in ids:
        assert store.load(i).status == "finished"
        assert len(list(store.results(i))) == 60
