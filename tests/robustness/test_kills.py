"""kill -9 at random points of real `driftgate run` processes, then `--resume` until done
(issue #16): every case ends with exactly one stored result, the manifest's summary agrees
with the stored rows, and no run is left reading `running`.

The kill points are drawn from a seeded generator over the whole life of a process: during
start-up and planning, while results stream in, and while the run is finishing. The
simulator answers with a fixed latency under a small concurrency, so a run lasts a couple of
seconds and most kills land while cases are in flight.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import write_workspace
from driftgate.store.runs import RunStore

N_CASES = 400
MODEL = "sim/acme@v1?latency_ms=20&latency_jitter_ms=0"
KILLS = 20
SEED = 1616


def driftgate(root: Path, home: Path, *argv: str) -> subprocess.Popen[bytes]:
    """`driftgate ARGV` in a process of its own (as a user's shell or CI starts it)."""
    env = {**os.environ, "DRIFTGATE_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "driftgate.cli", *argv, "-w", str(root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stored_lines(run_dir: Path) -> tuple[list[dict], int]:
    """Every whole result line of a run's segments (duplicates included), and how many torn
    tails the kills left (readers skip those)."""
    rows, torn = [], 0
    for seg in sorted((run_dir / "results").glob("*.jsonl")):
        data = seg.read_bytes()
        lines = data.split(b"\n")
        if lines[-1]:
            torn += 1  # a killed writer's unfinished last line
        rows += [json.loads(line) for line in lines[:-1] if line.strip()]
    return rows, torn


@dataclass
class KillLog:
    """What `kill_and_resume` did, and what it saw go wrong (empty lists when nothing did)."""

    kills: int = 0
    runs: list[str] = field(default_factory=list)
    # (run, status) read right after a kill that was neither interrupted nor finished
    stuck: list[tuple[str, str]] = field(default_factory=list)
    # (argv, exit code, stderr) of processes that ended on their own with an error
    failed: list[tuple[tuple[str, ...], int, str]] = field(default_factory=list)


def kill_and_resume(root: Path, home: Path, *, kills: int, seed: int) -> KillLog:
    """Start runs and resumes, SIGKILL each after a seeded random delay, until `kills`
    processes died mid-life; then resume every run to its end.

    Each new run asks the simulator for other draws (`seed=N`), so it is not served whole
    from the response cache; its resumes are, for the calls a killed process had made."""
    rng = random.Random(seed)
    store = RunStore(root / "runs")
    log = KillLog()
    current: str | None = None  # the run being killed and resumed
    while log.kills < kills:
        before = set(store.ids())
        fresh = ("run", "-m", f"{MODEL}&seed={len(log.runs)}")
        argv = ("run", "--resume", current) if current else fresh
        proc = driftgate(root, home, *argv, "--quiet", "--max-concurrency", "4")
        time.sleep(rng.uniform(0.05, 1.2))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            log.kills += 1
        _, err = proc.communicate(timeout=60)
        if proc.returncode not in (0, 1, -signal.SIGKILL):  # 1: below the pass threshold
            log.failed.append((argv, proc.returncode, err.decode()))
        if current is None:
            new = set(store.ids()) - before
            if not new:
                continue  # killed before its run existed: nothing to resume
            (current,) = new
            log.runs.append(current)
        status = store.load(current).status
        if status == "finished":
            current = None  # this run is done: kill the next one
        elif status != "interrupted":
            # The kernel drops a killed process's lock: the run must read as interrupted.
            log.stuck.append((current, status))
    for run_id in log.runs:
        if store.load(run_id).status != "finished":
            proc = driftgate(root, home, "run", "--resume", run_id, "--quiet")
            _, err = proc.communicate(timeout=120)
            if proc.returncode not in (0, 1):
                log.failed.append((("run", "--resume", run_id), proc.returncode, err.decode()))
    return log


@dataclass
class RunAudit:
    """One stored run against its plan."""

    rows: int  # distinct keys stored
    lost: int  # planned cases with no row
    duplicates: int  # whole lines beyond the first of their key
    summary_agrees: bool  # the manifest's summary counts what the rows say
    status: str

    @property
    def exactly_once(self) -> bool:
        return (
            self.lost == 0
            and self.duplicates == 0
            and self.summary_agrees
            and self.status == "finished"
        )


def audit_run(store: RunStore, run_id: str, case_ids: set[str]) -> RunAudit:
    manifest = store.load(run_id)
    lines, _torn = stored_lines(store.run_dir(run_id))
    per_key = Counter(r["key"] for r in lines)
    first = {r["key"]: r for r in reversed(lines)}  # readers keep a key's first line
    rows = list(first.values())
    summary = manifest.summary
    agrees = (
        summary is not None
        and manifest.planned == len(case_ids)
        and summary.results == len(rows)
        and summary.passed == sum(1 for r in rows if r["passed"])
        and summary.errors == sum(1 for r in rows if r["error"] is not None)
        and summary.passed + summary.failed == summary.results
    )
    return RunAudit(
        rows=len(rows),
        lost=len(case_ids - {r["case_id"] for r in rows}),
        duplicates=sum(n - 1 for n in per_key.values()),
        summary_agrees=agrees,
        status=manifest.status,
    )


def check_exactly_once(root: Path, run_id: str, cases: int) -> None:
    store = RunStore(root / "runs")
    audit = audit_run(store, run_id, {f"c{i:03d}" for i in range(cases)})
    assert audit.rows == cases, audit
    assert audit.exactly_once, audit


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_is_exactly_once(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", n_cases=N_CASES, model=MODEL)
    log = kill_and_resume(root, tmp_path / "home", kills=KILLS, seed=SEED)
    assert log.kills >= KILLS and len(log.runs) >= 2
    assert log.stuck == [] and log.failed == []
    store = RunStore(root / "runs")
    for run_id in store.ids():
        check_exactly_once(root, run_id, N_CASES)
    # `runs list`, as a user reads it: nothing stuck as running.
    out = subprocess.run(
        [sys.executable, "-m", "driftgate.cli", "runs", "list", "--json", "-w", str(root)],
        env={**os.environ, "DRIFTGATE_HOME": str(tmp_path / "home")},
        capture_output=True,
        check=True,
    )
    listed = json.loads(out.stdout)
    assert len(listed) == len(store.ids()) == len(log.runs)
    assert {r["status"] for r in listed} == {"finished"}
