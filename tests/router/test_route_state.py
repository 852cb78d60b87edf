"""Moved weights: validated, atomic, audited, and tied to the route file they were made for."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from driftgate.artifacts.route import load_route
from driftgate.errors import ConfigError, DriftgateError
from driftgate.router import (
    current_weights,
    history,
    mirrored_arms,
    rollback_weights,
    set_weights,
)
from driftgate.router.log import Decision, TrafficLog, read_decisions
from driftgate.workspace import Workspace

ROUTE = (
    "arms:\n"
    "  - {name: production, prompt: cat@v1, weight: 90}\n"
    "  - {name: candidate, prompt: cat@v1, weight: 10}\n"
)


@pytest.fixture
def ws(ws_root: Path) -> Workspace:
    (ws_root / "routes").mkdir()
    (ws_root / "routes" / "cat.yaml").write_text(ROUTE)
    return Workspace.find(ws_root)


def spec(ws: Workspace):  # noqa: ANN201
    return load_route(ws.root / "routes" / "cat.yaml")


def test_weights_move_and_roll_back(ws: Workspace) -> None:
    assert current_weights(ws, spec(ws)) == {"production": 90, "candidate": 10}
    set_weights(ws, spec(ws), {"production": 50, "candidate": 50}, reason="canary step")
    assert current_weights(ws, spec(ws)) == {"production": 50, "candidate": 50}
    state = rollback_weights(ws, spec(ws), "candidate", reason="worse")
    assert state.weights == {"production": 100, "candidate": 0}
    assert state.previous == {"production": 50, "candidate": 50}
    assert [h.reason for h in history(ws, "cat")] == ["canary step", "worse"]
    with pytest.raises(ConfigError, match="baseline"):
        rollback_weights(ws, spec(ws), "production", reason="x")


def test_bad_moves_are_refused_and_change_nothing(ws: Workspace) -> None:
    with pytest.raises(DriftgateError, match="canary"):  # unknown arm, with a suggestion
        set_weights(ws, spec(ws), {"canary": 10}, reason="x")
    with pytest.raises(ConfigError, match="sum to 100"):
        set_weights(ws, spec(ws), {"candidate": 30}, reason="x")
    assert current_weights(ws, spec(ws)) == {"production": 90, "candidate": 10}
    assert history(ws, "cat") == []


def test_editing_the_route_file_starts_from_its_weights(ws: Workspace) -> None:
    rollback_weights(ws, spec(ws), "candidate", reason="worse")
    (ws.root / "routes" / "cat.yaml").write_text(
        ROUTE.replace("cat@v1, weight: 10", "cat@v2, weight: 10")
    )
    assert current_weights(ws, spec(ws)) == {"production": 90, "candidate": 10}


def test_a_corrupt_state_file_is_a_clear_error(ws: Workspace) -> None:
    set_weights(ws, spec(ws), {"production": 80, "candidate": 20}, reason="step")
    path = ws.state_dir / "routes" / "cat" / "state.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="route state is unreadable") as err:
        current_weights(ws, spec(ws))
    assert str(path) in str(err.value)


def test_log_lines_stay_whole_under_threads_and_torn_lines_are_skipped(ws: Workspace) -> None:
    log = TrafficLog(ws, "cat")

    def write(t: int) -> None:
        for i in range(200):
            log.decision(
                Decision(
                    id=f"{t}-{i}", ts=0, route="cat", route_digest="d", arm="a", prompt="p",
                    prompt_digest="x", model="m", vars={"text": "x" * 500},
                )
            )  # fmt: skip

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    (segment,) = (ws.state_dir / "traffic" / "cat").glob("decisions-*.jsonl")
    with segment.open("ab") as fh:
        fh.write(b'{"id": "torn", "ts"')  # a writer killed mid-line
    assert len(read_decisions(ws, "cat")) == 800


def test_shadow_arms_have_no_weight_to_move(ws: Workspace) -> None:
    (ws.root / "routes" / "cat.yaml").write_text(
        ROUTE + "shadow:\n  - {name: next, prompt: cat@v1}\n"
    )
    with pytest.raises(DriftgateError, match="unknown live arm 'next'"):
        set_weights(ws, spec(ws), {"next": 10}, reason="x")
    with pytest.raises(DriftgateError, match="unknown live arm 'next'"):
        rollback_weights(ws, spec(ws), "next", reason="x")
    assert history(ws, "cat") == []


def test_live_arms_at_weight_0_can_be_mirrored_as_shadows(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match="only as a live arm at weight 0"):
        set_weights(ws, spec(ws), {}, shadow_arms=["candidate"], reason="x")  # weight 10
    with pytest.raises(ConfigError, match="only as a live arm at weight 0"):
        set_weights(ws, spec(ws), {"candidate": 0, "production": 100}, shadow_arms=["nope"],
                    reason="x")  # fmt: skip
    state = set_weights(
        ws, spec(ws), {"candidate": 0, "production": 100}, shadow_arms=["candidate"],
        reason="trial", actor="loop",
    )  # fmt: skip
    assert state.shadow_arms == ["candidate"] and state.actor == "loop"
    assert mirrored_arms(ws, spec(ws)) == ["candidate"]
    # None keeps the mirrored set; a rollback (or an explicit []) ends it.
    set_weights(ws, spec(ws), {"production": 100}, reason="same")
    assert mirrored_arms(ws, spec(ws)) == ["candidate"]
    set_weights(ws, spec(ws), {"candidate": 0}, shadow_arms=[], reason="off")
    assert mirrored_arms(ws, spec(ws)) == []
    assert [h.actor for h in history(ws, "cat")][0] == "loop"
