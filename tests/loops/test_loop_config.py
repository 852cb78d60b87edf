"""`driftgate loop`: the route's loop policy is checked before anything moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftgate.errors import ConfigError
from driftgate.loops import loop_history, read_loop_state, run_loop
from driftgate.loops.state import LoopEvent, LoopState, record_event, write_loop_state
from driftgate.workspace import Workspace

ARMS = """
arms:
  - {{name: production, prompt: cat@production, model: sim/acme@v1, weight: 100}}
  - {{name: {name}, prompt: {prompt}, weight: 0}}
canary: {{ramp: [50, 100]}}
"""


def _ws(tmp_path: Path, route: str) -> Path:
    root = tmp_path / "ws"
    (root / "routes").mkdir(parents=True)
    (root / "driftgate.yaml").write_text("suite: evalsets/main.suite.yaml\n")
    (root / "routes" / "cat.yaml").write_text(route)
    return root


@pytest.mark.parametrize(
    ("name", "prompt", "policy", "message"),
    [
        ("next", "cat@candidate", "", "no live arm 'candidate'"),
        ("candidate", "cat@3", "", "through the 'candidate' alias"),
        ("candidate", "cat@candidate", "loop: {candidate_arm: production}\n", "baseline arm"),
    ],
)
def test_a_route_the_loop_cannot_drive_is_refused_naming_the_field(
    tmp_path: Path, name: str, prompt: str, policy: str, message: str
) -> None:
    root = _ws(tmp_path, ARMS.format(name=name, prompt=prompt) + policy)
    with pytest.raises(ConfigError, match=message) as info:
        run_loop("cat", workspace=root)
    assert "loop.candidate_arm" in str(info.value) or "prompt" in str(info.value)
    assert not (root / ".driftgate" / "routes" / "cat" / "loop.json").exists()


def test_a_typo_in_the_policy_is_an_error(tmp_path: Path) -> None:
    root = _ws(
        tmp_path, ARMS.format(name="candidate", prompt="cat@candidate") + "loop: {sufite: x}\n"
    )
    with pytest.raises(ConfigError, match="sufite"):
        run_loop("cat", workspace=root)


def test_state_and_history_round_trip_and_skip_a_torn_line(tmp_path: Path) -> None:
    ws = Workspace(_ws(tmp_path, ARMS.format(name="candidate", prompt="cat@candidate")))
    assert read_loop_state(ws, "cat") == LoopState(route="cat")
    state = LoopState(route="cat", phase="shadow", candidate="prompt/cat@4", candidate_digest="ab")
    write_loop_state(ws, state)
    assert read_loop_state(ws, "cat").candidate == "prompt/cat@4"
    for i in range(3):
        record_event(ws, LoopEvent(ts=i, route="cat", phase="idle", action="watch", detail=str(i)))
    log = ws.state_dir / "routes" / "cat" / "loop.jsonl"
    with log.open("a") as fh:
        fh.write('{"ts": 9, "route": "cat", "pha')  # a writer killed mid-line
    assert [e.detail for e in loop_history(ws, "cat")] == ["0", "1", "2"]
    assert [e.detail for e in loop_history(ws, "cat", limit=2)] == ["1", "2"]


def test_an_unreadable_state_file_names_the_file_and_the_way_out(tmp_path: Path) -> None:
    ws = Workspace(_ws(tmp_path, ARMS.format(name="candidate", prompt="cat@candidate")))
    path = ws.state_dir / "routes" / "cat" / "loop.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="loop state is unreadable") as info:
        read_loop_state(ws, "cat")
    assert "loop.json" in str(info.value) and "loop.jsonl" in str(info.value)


def test_a_route_without_a_ramp_to_100_is_refused(tmp_path: Path) -> None:
    route = ARMS.format(name="candidate", prompt="cat@candidate").replace("[50, 100]", "[50]")
    with pytest.raises(ConfigError, match="ramp") as info:
        run_loop("cat", workspace=_ws(tmp_path, route))
    assert "canary.ramp" in str(info.value)


def test_the_public_api_is_the_same_function() -> None:
    import driftgate

    assert driftgate.loop is run_loop and "loop" in driftgate.__all__


def test_a_promotion_with_no_candidate_in_flight_names_the_state_file(tmp_path: Path) -> None:
    """A hand-edited loop.json in the canary phase without a version: a ConfigError that
    says which file and field, not a crash inside the registry."""
    from driftgate.loops.actions import promote_candidate
    from driftgate.loops.cycle import _Turn
    from driftgate.router.router import load_route_ref

    ws = Workspace(_ws(tmp_path, ARMS.format(name="candidate", prompt="cat@candidate")))
    write_loop_state(ws, LoopState(route="cat", phase="canary"))
    turn = _Turn(ws, load_route_ref(ws, "cat"), dry_run=False, progress=False, now=0.0)
    with pytest.raises(ConfigError, match="no candidate version to promote") as info:
        promote_candidate(turn, "canary as good as the baseline")
    assert "loop.json" in str(info.value) and "[candidate]" in str(info.value)
