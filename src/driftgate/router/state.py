"""Live weights of a route: the route file's, unless moved since (canary steps, rollbacks).

    .driftgate/routes/<route>/state.json     {"route_digest", "weights", "moved_at", "reason"}
    .driftgate/routes/<route>/history.jsonl  one line per move

A rollback is a pointer move: the state file is replaced atomically and every serving
process sees it on its next request (one `stat` per request), with no restart. The state
applies only to the route file it was made for (its digest): editing the route file
starts from the file's own weights again.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pydantic import Field

from .._strict import Strict
from ..artifacts.route import RouteSpec
from ..errors import ConfigError
from ..registry._fs import append_line, locked, whoami
from ..store._atomic import write_atomic
from ..workspace import Workspace


class WeightsState(Strict):
    route_digest: str
    weights: dict[str, float]
    moved_at: float
    reason: str
    actor: str | None = None
    previous: dict[str, float] = Field(default_factory=dict)
    shadow_arms: list[str] = Field(
        default_factory=list,
        description="Live arms at weight 0 mirrored as shadows (a candidate on trial).",
    )
    evidence: dict[str, int] = Field(
        default_factory=dict,
        description="Feedback events per arm when this move was made (a ramp step counts "
        "only the events since).",
    )


def state_dir(workspace: Workspace, route: str) -> Path:
    return workspace.state_dir / "routes" / route


def read_state(workspace: Workspace, spec: RouteSpec) -> WeightsState | None:
    """The moved weights that apply to this route file, or None (the file's own)."""
    path = state_dir(workspace, spec.name) / "state.json"
    try:
        state = WeightsState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ConfigError(
            f"route state is unreadable: {exc}",
            path=path,
            hint=f"delete it to serve the route file's weights, or `driftgate route set {spec.name} ...`",
        ) from None
    return state if state.route_digest == spec.digest else None


def current_weights(workspace: Workspace, spec: RouteSpec) -> dict[str, float]:
    state = read_state(workspace, spec)
    return dict(state.weights) if state else {a.name: a.weight for a in spec.arms}


def set_weights(
    workspace: Workspace,
    spec: RouteSpec,
    weights: dict[str, float],
    *,
    reason: str,
    evidence: dict[str, int] | None = None,
    shadow_arms: list[str] | None = None,
    actor: str | None = None,
) -> WeightsState:
    """Move live traffic: validated like the route file (known arms, sum 100), then written.

    `shadow_arms` (live arms at weight 0 to mirror as shadows) replaces the mirrored set;
    None keeps it as it is. `evidence` is the labeled answers per arm at this move (a ramp
    step counts only those since). `actor` is recorded as who moved it (default: the
    workspace's user, as in the registry's audit)."""
    folder = state_dir(workspace, spec.name)
    folder.mkdir(parents=True, exist_ok=True)
    with locked(folder / ".lock"):
        previous = current_weights(workspace, spec)
        moved = spec.with_weights({**previous, **weights})  # raises on unknown arms / bad sums
        before = read_state(workspace, spec)
        mirrored = (
            list(before.shadow_arms if before else []) if shadow_arms is None else shadow_arms
        )
        live = {a.name for a in moved.arms}
        bad = [a for a in mirrored if a not in live or next(
            x.weight for x in moved.arms if x.name == a) > 0]  # fmt: skip
        if bad:
            raise ConfigError(
                f"arm {bad[0]!r} can be mirrored as a shadow only as a live arm at weight 0",
                field="shadow_arms",
            )
        state = WeightsState(
            route_digest=spec.digest,
            weights={a.name: a.weight for a in moved.arms},
            moved_at=time.time(),
            reason=reason,
            actor=actor or whoami(workspace.root),
            previous=previous,
            shadow_arms=mirrored,
            evidence=evidence or {},
        )
        write_atomic(folder / "state.json", state.model_dump_json(indent=2))
        append_line(folder / "history.jsonl", state.model_dump_json())
    return state


def rollback_weights(
    workspace: Workspace, spec: RouteSpec, arm: str, *, reason: str, actor: str | None = None
) -> WeightsState:
    """Give `arm`'s share to the baseline arm (the canary rollback)."""
    baseline = spec.baseline_arm
    if arm == baseline:
        raise ConfigError(
            f"{arm!r} is the baseline arm of route {spec.name!r}; nothing to roll back to"
        )
    if arm not in {a.name for a in spec.arms}:
        from ..errors import UnknownNameError

        raise UnknownNameError("live arm", arm, [a.name for a in spec.arms])
    weights = current_weights(workspace, spec)
    moved = {arm: 0.0, baseline: weights.get(baseline, 0.0) + weights.get(arm, 0.0)}
    return set_weights(workspace, spec, moved, reason=reason, shadow_arms=[], actor=actor)


def mirrored_arms(workspace: Workspace, spec: RouteSpec) -> list[str]:
    """Live arms currently mirrored as shadows (a candidate on trial at weight 0)."""
    state = read_state(workspace, spec)
    return list(state.shadow_arms) if state else []


def history(workspace: Workspace, route: str) -> list[WeightsState]:
    path = state_dir(workspace, route) / "history.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(WeightsState.model_validate(json.loads(line)))
        except ValueError:
            continue  # a torn last line
    return out


def state_stamp(workspace: Workspace, route: str) -> tuple[int, int] | None:
    """Changes whenever the state file is replaced: what a serving process polls."""
    return file_stamp(state_dir(workspace, route) / "state.json")


def file_stamp(path: Path) -> tuple[int, int] | None:
    """(mtime, inode) of a file replaced atomically by its writers, or None when absent."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_ino)
