"""A run's lifecycle under trouble: a disk that fills up or is read-only, two resumers at
once, provider errors retried after recovery, a killed owner (#16 items 1, 3, 11, 13, 15)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import driftgate
from conftest import write_workspace
from driftgate.errors import RunLocked, StorageError
from driftgate.store import runs as runs_module
from driftgate.store.runs import RunStore


def _in_thread(fn: Callable[[], Any], timeout: float = 60) -> Any:
    """Call `fn` in a thread; fail (rather than hang the suite) when it does not return."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"hung: no return within {timeout} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


class _FillingDisk:
    """A segment's file handle on a disk that is full after `room` bytes."""

    def __init__(self, fh: Any, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, data: bytes | memoryview) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.fh.write(data)

    def fileno(self) -> int:
        return self.fh.fileno()

    def close(self) -> None:
        self.fh.close()


def _disk_fills_after(monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    real = RunStore.writer

    def writer(self: RunStore, run_id: str) -> Any:
        w = real(self, run_id)
        w._fh = _FillingDisk(w._fh, room)
        return w

    monkeypatch.setattr(RunStore, "writer", writer)


# ---- 1. a full disk ------------------------------------------------------------------------
@pytest.mark.parametrize("cached", [False, True], ids=["calls", "cache-hits"])
def test_a_disk_that_fills_mid_run_stops_it_interrupted_and_resume_completes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached: bool
):
    root = write_workspace(tmp_path / "ws", n_cases=300, model="sim/acme@v1?latency_ms=1")
    store = RunStore(root / "runs")
    if cached:  # answers served by the producer itself, from the response cache
        driftgate.run(workspace=root, progress="off")
    before = set(store.ids())
    _disk_fills_after(monkeypatch, room=20_000)
    with pytest.raises(StorageError) as caught:
        _in_thread(lambda: driftgate.run(workspace=root, progress="off", max_concurrency=2))
    (run_id,) = set(store.ids()) - before
    segment = store.segments(run_id)[0]
    assert str(caught.value).startswith(f"no space left on {segment}")
    assert f"driftgate run --resume {run_id}" in str(caught.value)
    on_disk = json.loads((store.run_dir(run_id) / "manifest.json").read_text())
    assert on_disk["status"] == "interrupted"
    kept = sum(1 for _ in store.iter_raw(run_id))
    assert kept < 300 and (kept > 0 or cached)  # a cached batch is one write of 128 lines

    monkeypatch.undo()  # space again
    run = driftgate.resume(run_id, workspace=root, progress="off")
    keys = [r.key for r in run.results]
    assert run.manifest.status == "finished" and len(keys) == len(set(keys)) == 300
    assert run.manifest.summary is not None and run.manifest.summary.results == 300


def test_a_full_disk_at_start_is_a_message_and_leaves_no_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root = write_workspace(tmp_path / "ws", n_cases=5)

    def full(path: Path, data: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(runs_module, "write_atomic", full)
    with pytest.raises(StorageError, match=r"^no space left on .*manifest\.json"):
        driftgate.run(workspace=root, progress="off")
    assert list((root / "runs").iterdir()) == []  # no folder without a manifest


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_runs_folder_exits_2_with_a_message(tmp_path: Path):
    root = write_workspace(tmp_path / "ws", n_cases=5)
    (root / "runs").mkdir()
    (root / "runs").chmod(0o555)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "driftgate.cli", "run", "--no-progress"],
            cwd=root,
            capture_output=True,
            text=True,
        )
    finally:
        (root / "runs").chmod(0o755)
    assert out.returncode == 2, out.stderr
    assert "permission denied:" in out.stderr and "Traceback" not in out.stderr
    assert list((root / "runs").iterdir()) == []


def test_the_cli_reports_a_full_disk_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from driftgate.cli import main

    root = write_workspace(tmp_path / "ws", n_cases=50, model="sim/acme@v1")
    _disk_fills_after(monkeypatch, room=5_000)
    monkeypatch.setattr(sys, "argv", ["driftgate", "run", "--no-progress", "-w", str(root)])
    with pytest.raises(SystemExit) as ended:
        _in_thread(main)
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no space left on ") and "Traceback" not in err
    assert "--resume" in err


# ---- 3. one resumer per run ------------------------------------------------------------------
def _killed_run(root: Path, n_cases: int, min_rows: int) -> str:
    """A run killed (SIGKILL) after `min_rows` results: its id."""
    script = "import sys, driftgate; driftgate.run(workspace=sys.argv[1], max_concurrency=4)"
    proc = subprocess.Popen([sys.executable, "-c", script, str(root)])
    store = RunStore(root / "runs")
    deadline = time.time() + 30
    while time.time() < deadline:
        ids = store.ids()
        if ids and sum(1 for _ in store.iter_raw(ids[0])) >= min_rows:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (run_id,) = store.ids()
    return run_id


def _cli(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "driftgate.cli", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_resumes_at_once_compute_each_missing_case_once(tmp_path: Path):
    root = write_workspace(tmp_path / "ws", n_cases=120, model="sim/acme@v1?latency_ms=60")
    run_id = _killed_run(root, 120, min_rows=10)
    store = RunStore(root / "runs")
    procs = [_cli(root, "run", "--resume", run_id, "--no-progress") for _ in range(2)]
    outs = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in outs)
    assert codes[1] == 2 and codes[0] in (0, 1), outs
    refused = next(err for code, err in outs if code == 2)
    assert f"run {run_id} is being written by another process (pid " in refused
    lines = [json.loads(line)["key"] for seg in store.segments(run_id) for line in seg.open("rb")]
    assert len(lines) == len(set(lines)) == 120  # no case computed twice
    manifest = store.load(run_id)
    assert manifest.status == "finished" and manifest.summary is not None
    assert manifest.summary.results == 120


def test_resume_of_a_run_another_process_holds_names_that_process(tmp_path: Path):
    root = write_workspace(tmp_path / "ws", n_cases=5)
    run = driftgate.run(workspace=root, progress="off", limit=2)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from driftgate.store.runs import RunStore; "
            "lock = RunStore(sys.argv[1]).lock(sys.argv[2]); print('held', flush=True); "
            "time.sleep(30)",
            str(root / "runs"),
            run.id,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        with pytest.raises(RunLocked, match=rf"pid {holder.pid} on "):
            driftgate.resume(run.id, workspace=root, progress="off")
        assert time.monotonic() - started < 5  # fails fast, does not wait for the holder
    finally:
        holder.kill()
        holder.wait()
    assert driftgate.resume(run.id, workspace=root, progress="off").manifest.resumed == 0


def test_the_summary_agrees_with_the_stored_rows_when_another_writer_added_some(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from driftgate.engine import executor

    root = write_workspace(tmp_path / "ws", n_cases=20)
    real_run = executor.Executor.run

    async def with_a_lockless_writer(self: executor.Executor) -> bool:
        aborted = await real_run(self)
        # What a writer without the lock (an older driftgate) leaves: the same keys, in a
        # segment that sorts first, so its rows are the ones readers keep.
        ours = self.store.segments(self.manifest.id)[0]
        rows = [json.loads(line) for line in ours.open("rb")]
        for r in rows:
            r.update(error="server: 503", error_kind="server", passed=False)
        (ours.parent / "0-older-writer.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows)
        )
        return aborted

    monkeypatch.setattr(executor.Executor, "run", with_a_lockless_writer)
    run = driftgate.run(workspace=root, progress="off")
    assert run.manifest.summary is not None
    assert run.manifest.summary.errors == sum(r.error is not None for r in run.results) == 20


# ---- 13. --retry-errors ----------------------------------------------------------------------
COUNTS = "select count(*) as n, count(error) as errors from results"


def _served_by(root: Path, url: str, max_error_rate: float) -> None:
    (root / "evalsets" / "main.suite.yaml").write_text(
        "prompts: [cat@v1]\nevalsets: [tx]\n"
        f"models:\n  - {{id: openai/sim/perfect@v1, api_base: '{url}', timeout_s: 2, "
        "max_retries: 0}\n"
        "scorers:\n  - {type: label-match, metric: category}\n"
        f"pass_threshold: 0.9\nmax_error_rate: {max_error_rate}\n"
    )


def test_retry_errors_reruns_the_error_rows_once_the_provider_recovered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    from fault_server import FaultServer

    from conftest import run_main

    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    root = write_workspace(tmp_path / "ws", n_cases=40)
    store = RunStore(root / "runs")
    with FaultServer(rate=0.3, seed=3, kinds=("server",)) as server:
        _served_by(root, server.url, max_error_rate=1.0)
        code, _, err = run_main(capsys, monkeypatch, "run", "--quiet", "-w", str(root))
        (run_id,) = store.ids()
        first = {r.key: r for r in store.results(run_id)}
        failed = {k for k, r in first.items() if r.error is not None}
        assert 0 < len(failed) < 40 and code == 1, err  # errors within budget; below threshold
        calls = server.requests
        code, out, _ = run_main(capsys, monkeypatch, "query", "--json", "-w", str(root), COUNTS)
        assert json.loads(out) == [{"n": 40, "errors": len(failed)}]  # its columnar copy made

        server.rate = 0.0  # the provider recovered
        code, out, err = run_main(
            capsys,
            monkeypatch,
            "run",
            "--resume",
            run_id,
            "--retry-errors",
            "--quiet",
            "-w",
            str(root),
        )
        assert code == 0, err
        assert server.requests - calls == len(failed)  # only the error rows were called again
    rows = {r.key: r for r in store.results(run_id)}
    assert len(rows) == 40 and all(r.error is None and r.passed for r in rows.values())
    assert all(rows[k].ts == first[k].ts for k in first if k not in failed)  # kept as they were
    replaced = [
        json.loads(x)
        for f in (store.run_dir(run_id) / "replaced").glob("*.jsonl")
        for x in f.read_text().splitlines()
    ]
    assert {r["key"] for r in replaced} == failed  # the old error rows are kept aside
    manifest = store.load(run_id)
    assert manifest.status == "finished" and manifest.verdict == "passed"
    assert manifest.summary is not None and manifest.summary.errors == 0
    assert manifest.summary.results == 40 and manifest.resumed == 1
    # The SQL views read the same rows.
    code, out, _ = run_main(capsys, monkeypatch, "query", "--json", "-w", str(root), COUNTS)
    assert code == 0 and json.loads(out) == [{"n": 40, "errors": 0}]


def test_retry_errors_needs_resume_and_leaves_a_clean_run_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    from conftest import run_main

    root = write_workspace(tmp_path / "ws", n_cases=5)
    code, _, err = run_main(capsys, monkeypatch, "run", "--retry-errors", "-w", str(root))
    assert code == 2 and "[--retry-errors]" in err and "--resume RUN" in err
    run = driftgate.run(workspace=root, progress="off")
    again = driftgate.resume(run.id, workspace=root, progress="off", retry_errors=True)
    assert again.manifest.resumed == 0 and len(RunStore(root / "runs").segments(run.id)) == 1


# ---- 11. exit 3 says why -----------------------------------------------------------------------
def test_exit_3_names_max_error_rate_the_early_stop_and_the_error_kinds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    from conftest import run_main
    from driftgate.report.run_exit import explain_exit

    flaky = "sim/flaky@v1?error_rate=1&retry_after_s=0"
    once = f"models:\n  - {{id: '{flaky}', max_retries: 0}}\n"  # no retries: a fast test
    root = write_workspace(tmp_path / "ws", n_cases=300, model=flaky, suite_extra=once)
    args = ("run", "--quiet", "-w", str(root), "--max-concurrency", "2")
    code, _, err = run_main(capsys, monkeypatch, *args, "--max-error-rate", "0.05")
    assert code == 3
    store = RunStore(root / "runs")
    (run_id,) = store.ids()
    manifest = store.load(run_id)
    results = list(store.results(run_id))
    n = len(results)
    assert manifest.stopped_early and n < 300
    kinds = {r.error_kind for r in results}
    assert kinds == {"rate_limit", "server"}
    assert err.startswith(f"error: {n} provider error(s); the first, ")
    assert f"error rate 100.0% ({n} of {n} results) is over max_error_rate 5.0%" in err
    assert "(at most 15 of 300 planned)" in err
    assert "early stop: yes, once the errors exceeded" in err
    assert f"{300 - n} of 300 planned results not run" in err
    counts = {
        "rate_limit": sum(r.error_kind == "rate_limit" for r in results),
        "server": sum(r.error_kind == "server" for r in results),
    }
    assert f"429 rate limit × {counts['rate_limit']}" in err
    assert f"server error (5xx) × {counts['server']}" in err
    assert f"driftgate run --resume {run_id} --retry-errors" in err
    # The Python API gives the same text.
    assert err == f"error: {explain_exit(manifest, results)}\n"

    code, _, err = run_main(capsys, monkeypatch, *args[:-1], "3", "--limit", "3")  # all at once
    assert code == 3 and "early stop: no, every planned result ran" in err
    assert "is over max_error_rate 5.0% (at most 0 of 3 planned)" in err  # the default
    passed = driftgate.run(workspace=root, progress="off", models=["sim/perfect@v1"], limit=3)
    assert explain_exit(passed.manifest, passed.results) is None


# ---- 15. a killed owner ------------------------------------------------------------------------
def test_a_sigkilled_run_lists_as_interrupted_even_when_its_pid_is_reused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    from conftest import run_main

    root = write_workspace(tmp_path / "ws", n_cases=200, model="sim/acme@v1?latency_ms=30")
    script = "import sys, driftgate; driftgate.run(workspace=sys.argv[1], max_concurrency=2)"
    proc = subprocess.Popen([sys.executable, "-c", script, str(root)])
    store = RunStore(root / "runs")
    deadline = time.time() + 30
    while time.time() < deadline and not (store.ids() and store.segments(store.ids()[0])):
        time.sleep(0.02)
    (run_id,) = store.ids()
    code, out, _ = run_main(capsys, monkeypatch, "runs", "list", "--json", "-w", str(root))
    assert [r["status"] for r in json.loads(out)] == ["running"]  # alive: its lock is held
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    path = store.run_dir(run_id) / "manifest.json"
    assert json.loads(path.read_text())["status"] == "running"  # never finalized
    # Its pid now belongs to a live process (this one): the free lock still tells.
    path.write_text(
        path.read_text().replace(f'"writer_pid": {proc.pid}', f'"writer_pid": {os.getpid()}')
    )
    code, out, _ = run_main(capsys, monkeypatch, "runs", "list", "--json", "-w", str(root))
    assert code == 0 and [r["status"] for r in json.loads(out)] == ["interrupted"]
    code, out, _ = run_main(capsys, monkeypatch, "show", run_id, "--json", "-w", str(root))
    assert code == 0 and json.loads(out)["status"] == "interrupted"
    run = driftgate.resume(run_id, workspace=root, progress="off")
    assert run.manifest.status == "finished" and len(run.results) == 200
