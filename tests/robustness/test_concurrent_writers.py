"""Racing writers in one workspace (issue #16): runs, registry moves and a route's traffic.

runs      4 `driftgate run` processes at once, sharing the workspace and the response
          cache: every run finishes, every case has exactly one row
registry  4 processes racing promotes and rollbacks of one prompt (120 moves): the
          audit log is one unbroken chain, and the alias state is its last entry
routes    4 serving processes (Router.complete_sync + Router.feedback, whose canary
          checks roll back worse canaries) and a `driftgate route check` loop on one
          route: every decision and every feedback is logged once, weights always 100
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from test_kills import check_exactly_once

from conftest import LABELS, write_workspace
from driftgate.errors import AliasMoved
from driftgate.registry import Registry, promote, register_artifacts, repair, rollback
from driftgate.registry.history import verify_aliases
from driftgate.store.runs import RunStore

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
FORCE = {"force": True, "skip_gate": True, "reason": "race"}
CTX = mp.get_context("fork")


def _cli(root: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "driftgate.cli", *argv, "-w", str(root)]


# ---- runs ------------------------------------------------------------------------------------
def test_four_concurrent_runs_in_one_workspace_all_finish_exactly_once(tmp_path: Path) -> None:
    n = 300
    # ~1.5 s of calls each at 4 in flight: the four runs write side by side.
    model = "sim/acme@v1?latency_ms=20&latency_jitter_ms=0"
    root = write_workspace(tmp_path / "ws", n_cases=n, model=model)
    env = {**os.environ, "DRIFTGATE_HOME": str(tmp_path / "home")}
    # Two pairs of runs ask the same model: each pair races on the same cache entries.
    procs = [
        subprocess.Popen(
            _cli(root, "run", "--quiet", "--max-concurrency", "4", "-m", f"{model}&seed={i % 2}"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    errs = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errs
    store = RunStore(root / "runs")
    assert len(store.ids()) == 4
    for run_id in store.ids():
        check_exactly_once(root, run_id, n)


# ---- registry --------------------------------------------------------------------------------
MOVES_PER_PROCESS = 30


def _mover(root: str, seed: int, out: str) -> None:
    """Promote a random version or roll back, until MOVES_PER_PROCESS moves landed; writes the
    audit counters of the moves this process made."""
    os.environ["DRIFTGATE_USER"] = f"mover-{seed}"  # no `git config` per move
    rng = random.Random(seed)
    made: list[int] = []
    lost = 0
    try:
        for _ in range(20 * MOVES_PER_PROCESS):
            if len(made) >= MOVES_PER_PROCESS:
                break
            try:
                if rng.random() < 0.4:
                    result = rollback("prompt/cat", workspace=root, reason=f"race {seed}")
                else:
                    ref = f"prompt/cat@{rng.randint(1, 4)}"
                    result = promote(ref, workspace=root, **FORCE)  # type: ignore[arg-type]
            except AliasMoved:
                lost += 1  # the compare-and-swap lost to another process: nothing moved
                continue
            if result.moved:
                assert result.entry is not None
                made.append(result.entry.counter)
        Path(out).write_text(json.dumps({"counters": made, "lost": lost}))
    except BaseException as exc:  # noqa: BLE001 - the parent reads the exit code
        print(f"mover {seed}: {exc!r}", flush=True)
        os._exit(1)
    os._exit(0)


def _add_versions(root: Path, n: int) -> list[str]:
    digests = []
    p = root / "prompts" / "cat.yaml"
    base = p.read_text()
    for i in range(n):
        p.write_text(base.replace("sim/perfect@v1", f"sim/perfect@v1?seed={i}"))
        ((rec, _),) = register_artifacts(root, "prompt/cat")
        digests.append(rec.digest)
    return digests


def test_racing_promotes_and_rollbacks_keep_the_audit_chain_whole(
    ws_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTGATE_USER", "test")
    digests = _add_versions(ws_root, 4)
    promote("prompt/cat@1", workspace=ws_root, **FORCE)  # type: ignore[arg-type]
    promote("prompt/cat@2", workspace=ws_root, **FORCE)  # type: ignore[arg-type]
    outs = [tmp_path / f"mover-{i}.json" for i in range(4)]
    procs = [
        CTX.Process(target=_mover, args=(str(ws_root), i, str(out))) for i, out in enumerate(outs)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    reports = [json.loads(o.read_text()) for o in outs]
    made = [c for r in reports for c in r["counters"]]
    assert len(made) == 4 * MOVES_PER_PROCESS  # 120 moves landed

    reg = Registry.of(ws_root)
    log = reg.aliases.audit("prompt/cat")
    # One entry per move, numbered without a gap or a repeat, each claimed by one process.
    assert [e.counter for e in log] == list(range(1, len(log) + 1))
    assert sorted(made) == [e.counter for e in log][2:]
    # The chain: each move starts where the one before it left production.
    for before, entry in zip(log, log[1:], strict=False):
        assert entry.from_digest == before.after["production"], entry
        assert entry.after["production"] == entry.to_digest
        assert entry.after["previous"] == entry.from_digest
        assert set(entry.after.values()) <= set(digests)
    state = reg.aliases.read()
    assert state.counter == len(log) and state.last_move == log[-1]
    assert reg.aliases_of("prompt/cat") == log[-1].after
    assert verify_aliases(ws_root) == (2, len(log))
    assert repair(ws_root)[0] is None  # the state and the log agree: nothing to rebuild


# ---- routes ----------------------------------------------------------------------------------
FAST = "latency_ms=8&latency_jitter_ms=0"  # the processes serve side by side for a while
ROUTE = f"""
arms:
  - {{name: production, prompt: cat@v1, model: "sim/acme@v1?{FAST}", weight: 80}}
  - {{name: canary-a, prompt: cat@v1, model: "sim/acme@v1?{FAST}&accuracy=0.2", weight: 10}}
  - {{name: canary-b, prompt: cat@v1, model: "sim/acme@v1?{FAST}&accuracy=0.2&seed=3", weight: 10}}
shadow:
  - {{name: next, prompt: cat@v1, model: "sim/acme@v2?{FAST}", sample: 1.0}}
canary: {{min_feedback: 15, check_every: 10, auto_rollback: true}}
"""
REQUESTS_PER_PROCESS = 150


def _server(root: str, k: int) -> None:
    """One serving process: answer requests, give feedback on each (its canary checks run)."""
    from driftgate.router import Router

    os.environ["DRIFTGATE_USER"] = f"server-{k}"
    try:
        router = Router("cat", workspace=root)
        for i in range(REQUESTS_PER_PROCESS):
            expected = LABELS[(i * 7 + k) % len(LABELS)]
            d = router.complete_sync(
                {"description": f"merchant {k}-{i}"}, request_id=f"p{k}-{i}", expected=expected
            )
            ok = d.parsed == expected
            router.feedback(d.id, "accept" if ok else "edit", correction=None if ok else expected)
        router.close()
    except BaseException as exc:  # noqa: BLE001 - the parent reads the exit code
        print(f"server {k}: {exc!r}", flush=True)
        os._exit(1)
    os._exit(0)


def test_four_routers_and_route_check_count_every_decision_and_feedback_once(
    ws_root: Path,
) -> None:
    from driftgate.router import current_weights, history, read_decisions, read_feedback
    from driftgate.router.router import load_route_ref
    from driftgate.workspace import Workspace

    (ws_root / "routes").mkdir()
    (ws_root / "routes" / "cat.yaml").write_text(ROUTE)
    procs = [CTX.Process(target=_server, args=(str(ws_root), k)) for k in range(4)]
    for p in procs:
        p.start()
    checks: list[int] = []
    deadline = time.monotonic() + 90
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        done = subprocess.run(_cli(ws_root, "route", "check", "cat"), capture_output=True)
        assert done.returncode in (0, 1), done.stderr.decode()
        checks.append(done.returncode)
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0] * 4
    assert checks, "no `route check` ran while the routers served"

    ws = Workspace.find(ws_root)
    ids = {f"p{k}-{i}" for k in range(4) for i in range(REQUESTS_PER_PROCESS)}
    decisions = read_decisions(ws, "cat")
    live = Counter(d.id for d in decisions if not d.shadow)
    shadow = Counter(d.id for d in decisions if d.shadow)
    assert set(live) == ids and set(live.values()) == {1}
    assert set(shadow) == ids and set(shadow.values()) == {1}
    feedback = Counter(f.request_id for f in read_feedback(ws, "cat"))
    assert set(feedback) == ids and set(feedback.values()) == {1}
    # Weights: every move under the lock sums to 100, and both worse canaries ended at 0.
    moves = history(ws, "cat")
    assert moves and all(sum(m.weights.values()) == 100 for m in moves)
    # Each canary rolled back once, however many routers judged it worse at once.
    assert all(m.weights != m.previous for m in moves)
    assert sum(m.reason.startswith("canary rollback") for m in moves) == 2
    spec = load_route_ref(ws, "cat")
    assert current_weights(ws, spec) == {"production": 100, "canary-a": 0, "canary-b": 0}
