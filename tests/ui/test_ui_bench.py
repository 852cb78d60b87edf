"""bench/ui.py, run small: its pages are served by the real app over its generated runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ui.py"


def test_ui_bench_runs_small() -> None:
    spec = importlib.util.spec_from_file_location("bench_ui", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = bench.main(n_runs=30, n_cases=2_000, repeat=1)
    assert set(figures) == {
        "runs_page_ms", "runs_page_filtered_ms", "run_page_100k_ms", "run_page_100k_failed_ms",
        "runs_page_first_ms", "run_page_100k_first_ms",
    }  # fmt: skip
    assert all(v > 0 for v in figures.values())
