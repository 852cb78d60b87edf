"""Where a route's retraining loop is, and what it did: a small state file and an audit log.

    .driftgate/routes/<route>/loop.json     the phase and the candidate in flight (atomic)
    .driftgate/routes/<route>/loop.jsonl    one line per step taken, never rewritten
    .driftgate/routes/<route>/.loop.lock    one `driftgate loop` per route at a time

The state is written last in every step, after the moves it records (alias moves, weight
moves) have happened; every move is idempotent (a move to where things already are is
skipped), so a process killed between a move and the state write is finished by the next
run without a double move.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from .._strict import Strict
from ..errors import ConfigError
from ..registry._fs import append_line, whoami
from ..store._atomic import write_atomic
from ..workspace import Workspace

Phase = Literal["idle", "shadow", "canary"]


class LoopState(Strict):
    route: str
    phase: Phase = "idle"
    candidate: str | None = Field(None, description="Prompt version in flight: prompt/NAME@N.")
    candidate_digest: str | None = None
    base: str | None = Field(None, description="The version the candidate was evaluated against.")
    phase_since: float | None = Field(None, description="When the current phase began.")
    labels_since: float = Field(
        0.0, description="Feedback after this time counts as new labels (the last version's time)."
    )
    labels_tried: float = Field(
        0.0, description="Newest label time a retrain has already used: no retry without newer."
    )
    last_drift_check_at: float | None = None
    rebaseline: bool = Field(
        False, description="Production moved: the next provider-drift check records a baseline."
    )
    rejected: list[str] = Field(
        default_factory=list, description="Candidate digests reverted or refused: never retried."
    )
    updated_at: float | None = None


class LoopEvent(Strict):
    ts: float
    route: str
    phase: Phase = Field(description="The phase the step started in.")
    action: str
    detail: str
    candidate: str | None = None
    actor: str | None = None
    dry_run: bool = False


def loop_dir(workspace: Workspace, route: str) -> Path:
    return workspace.state_dir / "routes" / route


def read_loop_state(workspace: Workspace, route: str) -> LoopState:
    path = loop_dir(workspace, route) / "loop.json"
    try:
        return LoopState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return LoopState(route=route)
    except ValueError as exc:
        raise ConfigError(
            f"loop state is unreadable: {exc}",
            path=path,
            hint="the audit log loop.jsonl beside it says what happened; delete the file to "
            "start the loop from idle (aliases and route weights are kept)",
        ) from None


def write_loop_state(workspace: Workspace, state: LoopState) -> None:
    state.updated_at = time.time()
    write_atomic(loop_dir(workspace, state.route) / "loop.json", state.model_dump_json(indent=2))


def record_event(workspace: Workspace, event: LoopEvent) -> None:
    event.actor = event.actor or whoami(workspace.root)
    append_line(loop_dir(workspace, event.route) / "loop.jsonl", event.model_dump_json())


def loop_history(workspace: Workspace, route: str, limit: int | None = None) -> list[LoopEvent]:
    """The route's loop steps, oldest first (the last `limit` when given)."""
    path = loop_dir(workspace, route) / "loop.jsonl"
    if not path.is_file():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(LoopEvent.model_validate(json.loads(line)))
        except ValueError:
            continue  # a torn last line of a killed writer
    return events[-limit:] if limit else events
