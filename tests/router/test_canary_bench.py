"""bench/canary.py, run small: its canaries go through the real router and guard."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "canary.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_canary", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_the_guard_ramps_equal_canaries_and_rolls_back_much_worse_ones(
    bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTGATE_USER", "test")
    # A loose margin and small batches: an equal canary is shown non-inferior in a few
    # hundred events; one at 30% against a 90% baseline is worse at the first look.
    policy = bench.Policy(margin=0.2, min_feedback=30, check_every=30, max_events=3000)
    outcomes = bench.run_canaries(
        {"equal": 4, "bad": 4}, policy, accuracies={"equal": 0.9, "bad": 0.3}
    )
    assert [o.scenario for o in outcomes] == ["equal"] * 4 + ["bad"] * 4
    assert len({o.seed for o in outcomes}) == 8
    bad = [o for o in outcomes if o.scenario == "bad"]
    assert all(o.result == "rollback" for o in bad)
    assert all(o.events <= 300 for o in bad)
    assert all(len(o.moves) == 1 and o.moves[0].startswith("canary rollback") for o in bad)
    equal = [o for o in outcomes if o.scenario == "equal"]
    assert all(o.result == "full" for o in equal)
    for o in equal:  # 25 → 50 → 100, one guard step each
        assert [m.rsplit("→ ", 1)[-1] for m in o.moves] == ["50%", "100%"]

    figures = bench.figures(outcomes, policy)
    assert figures["equal_full_ramp_rate"] == 1.0
    assert figures["equal_false_rollback_rate"] == 0.0
    assert 0 < figures["equal_median_events_to_full"] <= 3000
    assert figures["canaries"] == 8 and figures["margin"] == 0.2


def test_an_unknown_scenario_is_refused(bench) -> None:
    with pytest.raises(ValueError, match="unknown scenario 'typo'"):
        bench.run_canaries({"typo": 1}, bench.Policy())


def test_split_is_two_two_one(bench) -> None:
    assert bench.split(500) == {"equal": 200, "worse5": 200, "worse10": 100}
    assert sum(bench.split(61).values()) == 61


@pytest.mark.slow
def test_the_default_policy_keeps_its_error_rates_on_a_small_bench(
    bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's figures, small: 60 canaries at the default margin (3 points) and alpha.
    Loose bounds (a handful of canaries per scenario), so a regression in the sequential
    test or the guard — a worse canary ramped, an equal one rolled back — shows."""
    monkeypatch.setenv("DRIFTGATE_USER", "test")
    policy = bench.Policy()
    outcomes = bench.run_canaries(bench.split(60), policy, jobs=1)
    figures = bench.figures(outcomes, policy)
    assert figures["worse5_full_ramp_rate"] <= 0.1
    assert figures["equal_false_rollback_rate"] <= 0.1
    assert figures["equal_full_ramp_rate"] >= 0.6
    assert figures["worse10_median_events_to_rollback"] <= 3000
