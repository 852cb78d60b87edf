"""bench/routing.py, run small: traffic through the real router and its log, rules trained
and measured on newer traffic, every figure printed."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from driftgate.embedding import Embedder, register_embedder

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


class Trigrams(Embedder):
    """Hashed character trigrams: a torch-free stand-in for the local embedder."""

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 64))
        for i, t in enumerate(texts):
            for k in range(len(t) - 2):
                out[i, hashlib.blake2b(t[k : k + 3].encode(), digest_size=1).digest()[0] % 64] += 1
        return out


register_embedder("benchfake", lambda rest: Trigrams(f"benchfake/{rest}"))
TEXT_FIGURES = ("router_overhead_with_embedding_ms", "routellm_quality_vs_best",
                "routellm_cost_vs_best", "routellm_overhead_ms")  # fmt: skip


def check_text_figures(figures: dict[str, float], out: str) -> None:
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert all(name in lines for name in TEXT_FIGURES)
    # A router on text alone still sends part of the traffic to the cheap model and keeps
    # most of the strong one's quality (the targets are for the full run).
    assert 0.85 < figures["routellm_quality_vs_best"] <= 1.1
    assert 0.0 < figures["routellm_cost_vs_best"] < 1.0
    assert 0 < figures["routellm_overhead_ms"] < figures["router_overhead_with_embedding_ms"]


def test_quick_run_with_a_fake_embedder(bench, capsys: pytest.CaptureFixture[str]) -> None:
    figures = bench.main(["--quick", "--embedder", "benchfake/v1"])
    check_text_figures(figures, capsys.readouterr().out)
    assert 0.9 < figures["router_quality_vs_best"] and figures["router_cost_vs_best"] < 0.8


@pytest.mark.slow
def test_quick_run_with_the_local_embedder(bench, capsys: pytest.CaptureFixture[str]) -> None:
    figures = bench.main(["--quick"])
    check_text_figures(figures, capsys.readouterr().out)


def test_traffic_drifts_toward_the_new_format(bench) -> None:
    rows = bench.traffic(2000)
    first = sum(r["segment"] == bench.NEW for r in rows[:500]) / 500
    last = sum(r["segment"] == bench.NEW for r in rows[-500:]) / 500
    assert first < 0.25 < 0.3 < last and len({r["id"] for r in rows}) == 2000
    # Each request is a new transaction: few descriptions repeat, none differ in format.
    descriptions = [r["vars"]["description"] for r in rows]
    assert len(set(descriptions)) > 1500
    source = (bench.ROOT / "evalsets" / "transactions.jsonl").read_text().splitlines()
    shapes = {re.sub(r"\d", "", json.loads(line)["vars"]["description"]) for line in source}
    assert all(re.sub(r"\d", "", d) in shapes for d in descriptions)
