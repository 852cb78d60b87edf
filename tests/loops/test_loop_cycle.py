"""The closed loop on the simulator, through the real router, registry, retrain and guard:
a provider drifts on the new bank format → alarm → retrain from feedback → shadow →
canary → promoted; then a worse candidate → reverted, production untouched byte for byte."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from driftgate.loops import loop_history, read_loop_state, run_loop
from driftgate.providers.simulator import profiles, register_profile
from driftgate.registry import promote, register_artifacts, resolve
from driftgate.registry.binding import render_messages
from driftgate.registry.core import Registry
from driftgate.router import Router, current_weights
from driftgate.router.replay import ReplayRequest, read_requests, replay
from driftgate.router.state import read_state
from driftgate.workspace import Workspace
from test_retrain import TrigramEmbedder  # noqa: F401 - registers the fake/ embedder

REPO = Path(__file__).resolve().parents[2]
MODEL = "sim/looptest@prod"
ROUTE = f"""
prompt: categorize
sticky_key: user
arms:
  - {{name: production, prompt: categorize@production, model: "{MODEL}", weight: 100}}
  - {{name: candidate, prompt: categorize@candidate, model: "{MODEL}", weight: 0}}
canary: {{min_feedback: 60, check_every: 100000, ramp: [50, 100]}}
loop: {{suite: evalsets/loop.suite.yaml, model: "{MODEL}", drift_sample: 480, shadow_min_labeled: 150}}
"""
SUITE = f"""
prompts: [categorize@rag]
models: ["{MODEL}"]
evalsets: [transactions]
scorers: [{{type: label-match, metric: category}}]
pass_threshold: 0
max_concurrency: 64
"""


def provider(version: str) -> None:
    """`sim/looptest@prod` behaves like acme@VERSION, instantly: the provider's silent update."""
    base = profiles()[f"acme@{version}"]
    register_profile(
        "looptest@prod", base.model_copy(update={"latency_ms": 0.0, "latency_jitter_ms": 0.0})
    )


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    root = tmp_path / "ws"
    (root / "prompts" / "fewshot").mkdir(parents=True)
    (root / "evalsets").mkdir()
    (root / "routes").mkdir()
    (root / "prompts" / "indexes").mkdir()
    for rel in (
        "prompts/categorize.few-shot.yaml",
        "prompts/categorize.rag.yaml",
        "prompts/categorize.zero-shot.yaml",
        "prompts/fewshot/categorize.yaml",
        "evalsets/transactions.jsonl",
        "evalsets/traffic.jsonl",
        "evalsets/merchants.jsonl",
    ):
        shutil.copy(REPO / rel, root / rel)
    index = (REPO / "prompts" / "indexes" / "merchants.yaml").read_text()
    (root / "prompts" / "indexes" / "merchants.yaml").write_text(
        index.replace("embedder: all-MiniLM-L6-v2", "embedder: fake/trigram")
    )  # a hashed-trigram embedder (tests/test_retrain.py): no model to load
    (root / "driftgate.yaml").write_text("suite: evalsets/loop.suite.yaml\n")
    (root / "evalsets" / "loop.suite.yaml").write_text(SUITE)
    (root / "routes" / "categorize.yaml").write_text(ROUTE)
    provider("v1")
    register_artifacts(root)
    promote("prompt/categorize@2", to="production", workspace=root)  # the RAG version
    return Workspace.find(root)


def traffic(ws: Workspace, rounds: int, tag: str) -> list[ReplayRequest]:
    """The example traffic file, `rounds` times over, each request with a fresh id."""
    base = read_requests(ws.root / "evalsets" / "traffic.jsonl")
    return [
        ReplayRequest(f"{r.id}-{tag}{i}", {**r.vars, "user": f"u{j % 97}"}, r.expected, None)
        for i in range(rounds)
        for j, r in enumerate(base)
    ]


def serve(ws: Workspace, rounds: int, tag: str) -> None:
    router = Router("categorize", workspace=ws.root)
    result = asyncio.run(replay(router, traffic(ws, rounds, tag), concurrency=16, feedback=True))
    assert not result.errors


def production_messages(ws: Workspace) -> list[list[dict[str, str]]]:
    prompt = resolve("prompt/categorize", workspace=ws).definition
    cases = read_requests(ws.root / "evalsets" / "traffic.jsonl")[:20]
    return [render_messages(ws, prompt, c.vars) for c in cases]


def test_drift_to_promotion_then_a_worse_candidate_is_reverted(ws: Workspace) -> None:
    reg = Registry(ws)
    first_production = reg.aliases_of("prompt/categorize")["production"]

    # 1. The first turn records the provider-drift baseline; nothing else happens.
    turn = run_loop("categorize", workspace=ws)
    assert turn.phase == "idle" and turn.exit_code == 0
    assert [e.action for e in turn.events] == ["drift-baseline", "watch"]

    # 2. The provider silently degrades on the new bank format while users label answers.
    provider("v2")
    serve(ws, 1, "a")
    dry = run_loop("categorize", workspace=ws, dry_run=True)
    assert dry.phase == "idle" and any(e.action == "plan" for e in dry.events)
    assert read_loop_state(ws, "categorize").phase == "idle"  # a dry run changes nothing

    # 3. Alarm → retrain from the feedback → gated offline → shadow.
    turn = run_loop("categorize", workspace=ws)
    actions = [e.action for e in turn.events]
    assert "alarm" in actions and actions[-2:] == ["retrained", "shadow"], turn.events
    state = read_loop_state(ws, "categorize")
    assert state.phase == "shadow" and state.candidate is not None
    aliases = reg.aliases_of("prompt/categorize")
    assert aliases["candidate"] == state.candidate_digest
    assert aliases["production"] == first_production  # a retrain never serves by itself
    spec = Router("categorize", workspace=ws.root).spec
    assert current_weights(ws, spec)["candidate"] == 0
    assert read_state(ws, spec).shadow_arms == ["candidate"]

    # 4. Shadow evidence (paired, on labeled requests) → canary; canary evidence → ramp,
    #    then promotion. Each turn takes one step.
    for i in range(12):
        if read_loop_state(ws, "categorize").phase == "idle":
            break
        serve(ws, 2, f"b{i}")
        run_loop("categorize", workspace=ws)
    history = [e.action for e in loop_history(ws, "categorize")]
    assert history[:2] == ["drift-baseline", "watch"] and history[-1] == "promote", history
    assert history.index("retrained") < history.index("shadow") < history.index("canary")
    aliases = reg.aliases_of("prompt/categorize")
    assert aliases["production"] == state.candidate_digest
    assert current_weights(ws, spec) == {"production": 100.0, "candidate": 0.0}

    # 5. A worse candidate, put on the candidate alias by hand (the zero-shot version sees
    #    no example of the new format), is shadowed, found worse, and reverted.
    before = production_messages(ws)
    promote(
        "prompt/categorize@3", to="candidate", force=True, skip_gate=True,
        reason="test: a worse candidate", workspace=ws.root,
    )  # fmt: skip
    for i in range(8):
        turn = run_loop("categorize", workspace=ws)
        if turn.events and turn.events[-1].action == "revert":
            break
        serve(ws, 2, f"c{i}")
    assert turn.events[-1].action == "revert" and turn.exit_code == 1, turn.events
    state = read_loop_state(ws, "categorize")
    assert state.phase == "idle" and len(state.rejected) == 1
    assert "candidate" not in reg.aliases_of("prompt/categorize")
    assert production_messages(ws) == before  # production renders byte for byte as before
    assert current_weights(ws, spec) == {"production": 100.0, "candidate": 0.0}


def test_a_turn_killed_between_its_moves_and_its_state_is_finished_without_double_moves(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftgate.loops import cycle
    from driftgate.registry.core import Registry as Reg
    from driftgate.router.state import history

    run_loop("categorize", workspace=ws)  # the drift baseline
    provider("v2")
    serve(ws, 1, "a")

    def killed(*_args: object) -> None:
        raise KeyboardInterrupt("killed after its moves, before its state")

    monkeypatch.setattr(cycle, "write_loop_state", killed)
    with pytest.raises(KeyboardInterrupt):
        run_loop("categorize", workspace=ws)  # retrained, candidate aliased, shadow moved
    assert read_loop_state(ws, "categorize").phase == "idle"  # the state was never written
    monkeypatch.undo()

    turn = run_loop("categorize", workspace=ws)  # the next turn finishes it: no new retrain
    assert [e.action for e in turn.events] == ["shadow"] and turn.phase == "shadow"
    moves = [h.reason for h in history(ws, "categorize")]
    assert len([m for m in moves if m.startswith("loop: shadow")]) == 1, moves
    audit = [e for e in Reg(ws).aliases.audit() if e.alias == "candidate"]
    assert len(audit) == 1


def test_cli_loop_dry_run_json_and_route_status(
    ws: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import run_main

    root = str(ws.root)
    code, out, err = run_main(capsys, monkeypatch, "loop", "categorize", "--dry-run", "-w", root)
    assert code == 0, err
    assert "[dry run: nothing changed]" in out and "would check provider drift" in out
    assert not (ws.state_dir / "routes" / "categorize" / "loop.json").exists()
    code, out, err = run_main(capsys, monkeypatch, "loop", "categorize", "--json", "-w", root)
    data = __import__("json").loads(out)
    assert code == 0 and data["phase"] == "idle"
    assert [e["action"] for e in data["events"]] == ["drift-baseline", "watch"]
    code, out, err = run_main(capsys, monkeypatch, "route", "status", "categorize", "-w", root)
    assert code == 0, err
    assert "loop: idle" in out and "drift-baseline" in out
