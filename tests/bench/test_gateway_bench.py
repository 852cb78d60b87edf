"""bench/gateway.py, run small without LiteLLM: the stub, `driftgate serve` and the load
generator are real processes; the figures' arithmetic is checked on given measurements."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gateway.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_gateway", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_bench_runs_end_to_end_and_says_litellm_was_skipped(
    bench, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LITELLM_PROXY_BIN", raising=False)
    missing = str(tmp_path / "no-litellm")
    figures = bench.main(["--requests", "12", "--clients", "4,2", "--litellm-proxy", missing])
    out = capsys.readouterr().out
    assert "litellm_proxy: skipped" in out and "pip install 'litellm[proxy]'" in out
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert lines["clients"] == "2,4" and lines["requests"] == "12"
    assert figures["errors"] == 0
    assert not any(name.startswith("litellm") or "litellm" in name for name in figures)
    for target in ("direct", "gateway", "gateway_passthrough"):
        for c in (2, 4):
            # Every answer waited on the stub's 50 ms; p99 is never below p50.
            assert 50 <= figures[f"{target}_p50_ms_{c}"] <= figures[f"{target}_p99_ms_{c}"]
            assert figures[f"{target}_rps_{c}"] > 0
            assert f"{target}_p50_ms_{c}: " in out
    assert figures["direct_p50_ms"] == figures["direct_p50_ms_2"]
    assert figures["gateway_overhead_p50_ms"] == pytest.approx(
        figures["gateway_p50_ms_2"] - figures["direct_p50_ms_2"]
    )
    assert 0 < figures["gateway_rps_ratio_to_direct_4"] <= 1.5
    assert "gateway_rps_ratio_to_direct_4: " in out  # a ratio keeps its decimals
    assert not lines["gateway_rps_ratio_to_direct_4"].isdigit()


def _level(p50: float, p99: float, rps: float, errors: int = 0) -> dict:
    return {"p50_ms": p50, "p99_ms": p99, "rps": rps, "errors": errors}


def test_overheads_and_ratios_are_taken_against_the_same_runs(bench) -> None:
    results = {
        "direct": {8: _level(52, 57, 150), 64: _level(55, 80, 1000)},
        "gateway": {8: _level(54, 60, 145), 64: _level(60, 90, 900)},
        "litellm_proxy": {8: _level(118, 137, 68), 64: _level(580, 1100, 100, errors=3)},
    }
    f = bench.figures(results, [8, 64])
    assert f["gateway_overhead_p50_ms"] == 2 and f["gateway_overhead_p99_ms"] == 3
    assert f["litellm_proxy_overhead_p50_ms"] == 66
    assert f["overhead_ratio_vs_litellm_proxy"] == 33
    assert f["gateway_rps_ratio_to_litellm_64"] == 9 == f["rps_ratio_vs_litellm_proxy"]
    assert f["gateway_overhead_p50_ms_64"] == 5 and f["gateway_overhead_p99_ms_64"] == 10
    assert f["gateway_rps_ratio_to_direct_64"] == 0.9
    assert math.isclose(f["gateway_p50_ratio_to_litellm_64"], 60 / 580)
    assert f["errors"] == 3
    assert "gateway_rps_ratio_to_litellm_8" not in f  # the unloaded level is the floor


def test_a_litellm_command_is_found_only_where_named(
    bench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = tmp_path / "litellm"
    command.write_text("#!/bin/sh\n")
    monkeypatch.delenv("LITELLM_PROXY_BIN", raising=False)
    assert bench.find_litellm_proxy(None) is None
    assert bench.find_litellm_proxy(str(command)) is None  # not executable
    command.chmod(0o755)
    assert bench.find_litellm_proxy(str(command)) == str(command)
    monkeypatch.setenv("LITELLM_PROXY_BIN", str(command))
    assert bench.find_litellm_proxy(None) == str(command)
