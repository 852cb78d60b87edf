"""bench/routing.py, run small: traffic through the real router and its log, rules trained
and measured on newer traffic, every figure printed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "routing.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_routing", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_quick_run_without_embeddings(bench, capsys: pytest.CaptureFixture[str]) -> None:
    figures = bench.main(["--quick", "--no-text"])
    out = capsys.readouterr().out
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    for name in ("router_quality_vs_best", "router_cost_vs_best", "router_overhead_ms",
                 "labeled", "train_size", "test_size"):  # fmt: skip
        assert name in lines
    assert figures["labeled"] == 600 and figures["train_size"] + figures["test_size"] == 600
    # The cheap model is weak on the new format; the best single model is the strong one,
    # and a rule reading the segment's bank keeps most of its quality at a fraction of it.
    assert figures["strong_quality"] > figures["cheap_quality"]
    assert 0.9 < figures["router_quality_vs_best"] and figures["router_cost_vs_best"] < 0.8
    assert figures["new_format_share_test"] > 0.3  # the share rises over time


def test_traffic_drifts_toward_the_new_format(bench) -> None:
    rows = bench.traffic(2000)
    first = sum(r["segment"] == bench.NEW for r in rows[:500]) / 500
    last = sum(r["segment"] == bench.NEW for r in rows[-500:]) / 500
    assert first < 0.25 < 0.3 < last and len({r["id"] for r in rows}) == 2000
