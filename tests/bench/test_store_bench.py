"""bench/store.py, run small: every figure printed, the runs and the history it measures
complete (it asserts them itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "store.py"

pytestmark = pytest.mark.slow


def test_a_small_run_prints_every_figure(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--cases", "300", "--history-runs", "5"]
        + ["--shard-latency-ms", "5"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "DRIFTGATE_STORE": ""},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    figures = dict(line.split(": ", 1) for line in out.stdout.strip().splitlines())
    for name in ("s3_run_ratio_to_local", "s3_query_1m_s", "shard4_ratio_to_ideal",
                 "small_ops_obstore_s", "migrate_s"):  # fmt: skip
        assert float(figures[name]) > 0, name
    assert int(figures["history_results"]) == 300 * 5
