"""The route commands' library functions (router/feedback.py, router/operations.py,
router/replay.replay_file): what the CLI, the loop and a gateway share, called directly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from driftgate.errors import ConfigError, UnknownNameError
from driftgate.router import current_weights, load_route_ref, read_feedback, set_weights
from driftgate.router.feedback import check_due, record_feedback
from driftgate.router.operations import (
    check_route,
    parse_weights,
    rollback_arm,
    route_status,
    write_labels,
)
from driftgate.router.replay import replay_file
from driftgate.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
FAST = "latency_ms=0&latency_jitter_ms=0"
ROUTE = f"""\
arms:
  - {{name: production, prompt: categorize@zero-shot, model: "sim/acme@v1?{FAST}", weight: 80}}
  - {{name: candidate, prompt: categorize@zero-shot, model: "sim/acme@v1?accuracy=0.3&{FAST}",
     weight: 20}}
shadow:
  - {{name: next, prompt: categorize@zero-shot, model: "sim/acme@v2?{FAST}"}}
canary: {{min_feedback: 20, check_every: 3}}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    shutil.copytree(REPO / "evalsets", tmp_path / "evalsets")
    (tmp_path / "driftgate.yaml").write_text("suite: evalsets/categorize-sim.suite.yaml\n")
    (tmp_path / "routes").mkdir()
    (tmp_path / "routes" / "cat.yaml").write_text(ROUTE)
    return Workspace.find(tmp_path)


def test_feedback_checks_the_canaries_every_check_every_events_of_the_log(ws):
    spec = load_route_ref(ws, "cat")
    assert [check_due(n, spec) for n in (1, 2, 3, 6)] == [False, False, True, True]
    first = record_feedback(ws, spec, "r1", "accept")
    assert first.verdict is None and not first.request_logged
    record_feedback(ws, spec, "r2", "edit", correction={"category": "x"}, note="typo")
    third = record_feedback(ws, spec, "r3", "reject")
    assert third.verdict is not None  # the 3rd event of the route's log, however many writers
    assert third.weights_before == third.weights_after == {"production": 80.0, "candidate": 20.0}
    logged = read_feedback(ws, "cat")
    assert [f.verdict for f in logged] == ["accept", "edit", "reject"]
    assert logged[1].correction == {"category": "x"} and logged[1].note == "typo"


def test_weights_by_hand_refuse_shadows_and_unknown_arms_and_skip_an_arm_at_zero(ws):
    spec = load_route_ref(ws, "cat")
    assert parse_weights(["production=90", " candidate =10"], spec) == {
        "production": 90.0,
        "candidate": 10.0,
    }
    with pytest.raises(ConfigError, match="shadow arm"):
        parse_weights(["next=5"], spec)
    with pytest.raises(UnknownNameError):
        parse_weights(["candidat=5"], spec)
    with pytest.raises(ConfigError, match="given twice"):
        parse_weights(["production=50", "production=50"], spec)
    with pytest.raises(ConfigError, match="ARM=WEIGHT"):
        parse_weights(["production=lots"], spec)
    state = rollback_arm(ws, spec, "candidate", reason="test")
    assert state is not None and state.weights == {"production": 100.0, "candidate": 0.0}
    assert rollback_arm(ws, spec, "candidate") is None  # already at 0: nothing moved
    status = route_status(ws, spec)
    assert status.last_move is not None and status.last_move.reason == "test"
    set_weights(ws, spec, {"production": 80, "candidate": 20}, reason="back")
    assert current_weights(ws, spec)["candidate"] == 20


def test_replay_then_check_rolls_the_worse_canary_back_and_exits_1(ws, tmp_path):
    spec = load_route_ref(ws, "cat")
    report = replay_file(ws, spec, ws.root / "evalsets" / "transactions.jsonl", limit=200)
    rows = {(r.arm, r.shadow): r for r in report.rows}
    assert set(rows) == {("production", False), ("candidate", False), ("next", True)}
    assert rows[("production", False)].requests + rows[("candidate", False)].requests == 200
    assert rows[("next", True)].requests == 200
    assert rows[("next", True)].acceptance is None  # no feedback without feedback=True
    prod = rows[("production", False)]
    assert prod.labeled == prod.requests and prod.match_rate is not None
    assert prod.match_rate > rows[("candidate", False)].match_rate  # accuracy 0.3 vs the default
    # Labels come from feedback: none given in this replay.
    with pytest.raises(ConfigError, match="JSONL"):
        write_labels(ws, "cat", tmp_path / "labels.csv")
    assert write_labels(ws, "cat", tmp_path / "labels.jsonl") == []
    result = check_route(ws, spec, rollback=False)  # no feedback: nothing to judge on yet
    assert result.moves == [] and result.exit_code == 0


def test_a_worse_canary_rolled_back_by_feedback_is_already_out_for_the_next_check(ws):
    spec = load_route_ref(ws, "cat")
    inputs = ws.root / "evalsets" / "transactions.jsonl"
    report = replay_file(ws, spec, inputs, limit=300, feedback=True)
    assert [m.reason.split(":")[0] for m in report.moves] == ["canary rollback"]
    assert report.last_canary is not None
    assert sum(r.feedback for r in report.rows) == 300
    result = check_route(ws, spec, rollback=False)
    assert result.verdict.rollback_arms == ["candidate"]
    assert result.already_out == ["candidate"] and result.left_live == []
    assert result.rolled_back == [] and result.exit_code == 0
    set_weights(ws, spec, {"production": 80, "candidate": 20}, reason="live again")
    result = check_route(ws, spec, rollback=False)  # worse and live, rollback off: act
    assert result.left_live == ["candidate"] and result.exit_code == 1
    result = check_route(ws, spec, rollback=True)
    assert result.rolled_back == ["candidate"] and result.exit_code == 1
    assert current_weights(ws, spec)["candidate"] == 0
