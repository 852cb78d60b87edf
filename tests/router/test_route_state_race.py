"""Two processes rolling back canaries of one route at once (issue #16 item 4): the weights
are read, changed and written under the route's lock, so both rollbacks land."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from driftgate.artifacts.route import load_route
from driftgate.router import current_weights, history, rollback_weights, set_weights
from driftgate.workspace import Workspace

ROUTE = (
    "arms:\n"
    "  - {name: production, prompt: cat@v1, weight: 80}\n"
    "  - {name: canary-a, prompt: cat@v1, weight: 10}\n"
    "  - {name: canary-b, prompt: cat@v1, weight: 10}\n"
)
TRIALS = 30


def _roll_back(root: str, arm: str, barrier: mp.synchronize.Barrier) -> None:  # type: ignore[name-defined]
    try:
        ws = Workspace.find(Path(root))
        spec = load_route(ws.root / "routes" / "cat.yaml")
        barrier.wait(timeout=10)
        rollback_weights(ws, spec, arm, reason=f"canary rollback of {arm}")
    except BaseException as exc:  # noqa: BLE001 - the parent reads the exit code
        print(f"{arm}: {exc}", flush=True)
        os._exit(1)
    os._exit(0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_two_processes_rolling_back_two_canaries_both_land(ws_root: Path) -> None:
    (ws_root / "routes").mkdir()
    (ws_root / "routes" / "cat.yaml").write_text(ROUTE)
    ws = Workspace.find(ws_root)
    spec = load_route(ws.root / "routes" / "cat.yaml")
    ctx = mp.get_context("fork")
    failures = []
    for trial in range(TRIALS):
        set_weights(
            ws, spec, {"production": 80, "canary-a": 10, "canary-b": 10}, reason=f"reset {trial}"
        )
        barrier = ctx.Barrier(2)
        procs = [
            ctx.Process(target=_roll_back, args=(str(ws_root), arm, barrier))
            for arm in ("canary-a", "canary-b")
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        codes = [p.exitcode for p in procs]
        weights = current_weights(ws, spec)
        if codes != [0, 0] or weights != {"production": 100, "canary-a": 0, "canary-b": 0}:
            failures.append((trial, codes, weights))
    assert failures == []
    moves = history(ws, "cat")
    assert len(moves) == 3 * TRIALS  # a reset and two rollbacks per trial, each recorded once
    assert all(sum(m.weights.values()) == 100 for m in moves)


def test_a_second_rollback_of_the_same_canary_moves_nothing(ws_root: Path) -> None:
    """Two routers judging at once both find one canary worse: the first rollback moves
    it, the second (deciding on weights read before the lock) records nothing."""
    (ws_root / "routes").mkdir()
    (ws_root / "routes" / "cat.yaml").write_text(ROUTE)
    ws = Workspace.find(ws_root)
    spec = load_route(ws.root / "routes" / "cat.yaml")
    first = rollback_weights(ws, spec, "canary-a", reason="canary rollback: worse")
    assert first is not None and first.weights["canary-a"] == 0
    assert rollback_weights(ws, spec, "canary-a", reason="canary rollback: worse") is None
    assert len(history(ws, "cat")) == 1
    assert current_weights(ws, spec) == {"production": 90, "canary-a": 0, "canary-b": 10}
