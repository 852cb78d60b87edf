"""Progress off a terminal: periodic one-line status, silent when short or quiet."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from driftgate.engine.progress import StatusLines, make_progress, quiet, resolve


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_lines_every_interval_with_rate_errors_eta_and_a_last_line():
    out, clock = io.StringIO(), _Clock()
    p = StatusLines(100, 0, interval=10, stream=out, clock=clock)
    for i in range(40):
        clock.t = (i + 1) * 0.5  # 2 items a second
        p.advance(errors=1 if i > 30 else 0)
    p.close()
    lines = out.getvalue().splitlines()
    # 40 items over 20 s: a line at 10 s and at 20 s, then the last one.
    assert len(lines) == 3, lines
    assert lines[0].startswith("running: 20/100 (20%)")
    assert "2.0/s" in lines[0] and "errors 0" in lines[0] and "eta 0:40" in lines[0]
    assert "errors 1" in lines[1]
    assert lines[-1].startswith("done: 40/100") and "eta" not in lines[-1]


def test_label_starts_each_line():
    out, clock = io.StringIO(), _Clock()
    p = StatusLines(2, 0, interval=0, stream=out, clock=clock, label="run 2026-x")
    clock.t = 1.0
    p.advance(errors=0)
    assert out.getvalue().startswith("run 2026-x running: 1/2 (50%)  1.0/s")


def test_short_run_prints_nothing():
    out, clock = io.StringIO(), _Clock()
    p = StatusLines(5, 0, interval=10, stream=out, clock=clock)
    for _ in range(5):
        clock.t += 0.1
        p.advance(errors=0)
    p.close()
    assert out.getvalue() == ""


def test_resumed_run_counts_done_but_rate_is_this_process():
    out, clock = io.StringIO(), _Clock()
    p = StatusLines(10, 6, interval=1, stream=out, clock=clock)
    clock.t = 2.0
    p.advance(errors=0)
    assert out.getvalue().startswith("running: 7/10 (70%)  0.5/s")


def test_resolve_modes():
    assert resolve(True, _Tty()) == "bar" and resolve("auto", _Tty()) == "bar"
    assert resolve(True, io.StringIO()) == "lines" and resolve("auto", io.StringIO()) == "lines"
    assert resolve(False) == "off" and resolve("off") == "off" and resolve("lines") == "lines"
    with quiet():
        assert resolve("auto", _Tty()) == "off" and make_progress("lines", 3, 0) is None
    assert resolve("lines") == "lines"
    with pytest.raises(ValueError):
        resolve("loud")  # type: ignore[arg-type]


def _dg(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRIFTGATE_HOME": str(root / ".home"), "DRIFTGATE_PROGRESS_EVERY": "0"}
    return subprocess.run(
        [sys.executable, "-m", "driftgate.cli", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
    )


def test_run_off_a_terminal_prints_status_lines_and_quiet_silences_them(tmp_path: Path):
    assert _dg(tmp_path, "init", ".").returncode == 0
    out = _dg(tmp_path, "run", "--no-cache")
    assert out.returncode == 0, out.stderr
    # Each line names the run and its suite: a default suite is never a silent choice.
    status = [
        ln
        for ln in out.stderr.splitlines()
        if re.match(r"run \S+ of evalsets/example\.suite\.yaml (running|done): ", ln)
    ]
    assert status and re.search(r" done: 5/5 \(100%\)", status[-1]), out.stderr
    assert "errors 0" in status[-1]
    quiet_out = _dg(tmp_path, "run", "--no-cache", "--quiet")
    assert quiet_out.returncode == 0 and "running:" not in quiet_out.stderr
    assert "done:" not in quiet_out.stderr
