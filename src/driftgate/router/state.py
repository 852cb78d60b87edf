"""Live weights of a route: the route file's, unless moved since (canary steps, rollbacks).

    .driftgate/routes/<route>/state.json     {"route_digest", "weights", "moved_at", "reason"}
    .driftgate/routes/<route>/history.jsonl  one line per move

A rollback is a pointer move: the state file is replaced atomically and every serving
process sees it on its next request (one `stat` per request), with no restart. The state
applies only to the route file it was made for (its digest): editing the route file
starts from the file's own weights again.

With a shared store (registry/shared.py) the store's `state/routes/<route>/state.json` is
the truth: a move reads it with its ETag, decides on the weights there (under this
machine's lock), and replaces it only if no other machine moved it since (else it decides
again on what is there now); each move is also `history/<counter:012d>.json`, created
once under the state's counter. Serving processes keep polling the local file, which a
refresher thread copies from the store within `shared_store.staleness_s`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from .._strict import Strict
from ..artifacts.route import RouteSpec
from ..errors import ConfigError, StorageError
from ..registry._fs import append_line, locked, pause, whoami
from ..registry._shared import (
    CAS_ATTEMPTS,
    SharedState,
    backoff,
    chain_entries,
    last_counter,
    mirror,
    shared_state,
)
from ..store._atomic import write_atomic
from ..store.objects import ObjectChanged
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
    counter: int = Field(
        0,
        description="Moves of this route's state on the shared store so far: this move's "
        "history entry (0: a state made without a store).",
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
    state = update_weights(
        workspace,
        spec,
        lambda _current: weights,
        reason=reason,
        evidence=evidence,
        shadow_arms=shadow_arms,
        actor=actor,
    )
    assert state is not None  # a constant change always moves
    return state


def update_weights(
    workspace: Workspace,
    spec: RouteSpec,
    change: Callable[[dict[str, float]], dict[str, float] | None],
    *,
    reason: str,
    evidence: dict[str, int] | None = None,
    shadow_arms: list[str] | None = None,
    actor: str | None = None,
) -> WeightsState | None:
    """A read-modify-write of the live weights, entirely under the route's lock.

    `change` gets the weights live now (read under the lock) and returns the arms to
    change, or None to move nothing (what it was decided on no longer holds). A move
    computed from weights read before the lock would overwrite a concurrent move with
    stale numbers: two rollbacks of two canaries of one route then sum to less than 100
    (issue #16 item 4)."""
    folder = state_dir(workspace, spec.name)
    folder.mkdir(parents=True, exist_ok=True)
    shared = shared_state(workspace)
    with locked(folder / ".lock"):
        for attempt in range(CAS_ATTEMPTS):
            etag, counter = _pull(shared, folder) if shared is not None else (None, 0)
            before = read_state(workspace, spec)
            previous = dict(before.weights) if before else {a.name: a.weight for a in spec.arms}
            weights = change(dict(previous))
            if weights is None:
                return None
            moved = spec.with_weights({**previous, **weights})  # raises on unknown arms / bad sums
            mirrored = (
                list(before.shadow_arms if before else []) if shadow_arms is None else shadow_arms
            )
            _check_mirrored(moved, mirrored)
            state = WeightsState(
                route_digest=spec.digest,
                weights={a.name: a.weight for a in moved.arms},
                moved_at=time.time(),
                reason=reason,
                actor=actor or whoami(workspace.root),
                previous=previous,
                shadow_arms=mirrored,
                evidence=evidence or {},
                counter=counter + 1 if shared is not None else 0,
            )
            # Without a store the files stay as they were (no counter).
            plain = {"counter"} if shared is None else None
            data = state.model_dump_json(indent=2, exclude=plain)
            pause("route-write")  # test hook: lets two machines' moves overlap here
            if shared is not None:
                try:
                    shared.replace(folder / "state.json", data, etag)
                except ObjectChanged:  # another machine moved it: decide again on that
                    backoff(attempt)
                    continue
            write_atomic(folder / "state.json", data)
            _record(shared, folder, state)
            return state
    raise StorageError(
        f"the weights of route {spec.name!r} kept changing on the shared store under this "
        f"move ({CAS_ATTEMPTS} attempts); nothing moved",
        hint="other machines are moving this route's weights right now; run again",
    )


def _pull(shared: SharedState, folder: Path) -> tuple[str | None, int]:
    """Copy the store's state of a route here (under its lock) and bring the local history
    up to it; its ETag and counter (None, 0: no state in the store yet)."""
    path = folder / "state.json"
    blob = shared.get(path)
    if blob is None:
        shared.pulled(path)
        return None, 0
    try:
        stored = WeightsState.model_validate_json(blob.data)
    except ValueError as exc:
        raise ConfigError(
            f"route state on the shared store is unreadable: {exc}",
            path=shared.store.where(shared.key(path)),
            hint="`driftgate route set ROUTE ...` after deleting it serves the route file's weights",
        ) from None
    mirror(path, blob.data)
    shared.pulled(path)
    _sync_history(shared, folder, stored.counter)
    if last_counter(folder / "history.jsonl") < stored.counter:
        _record(shared, folder, stored)  # its writer died between the commit and the entry
    return blob.etag, stored.counter


def _record(shared: SharedState | None, folder: Path, state: WeightsState) -> None:
    """A committed move's history entry: in the store's chain (create-only under its
    counter), then in the local history."""
    line = state.model_dump_json(exclude={"counter"} if shared is None else None)
    if shared is not None:
        shared.create(folder / "history" / f"{state.counter:012d}.json", line)
    append_line(folder / "history.jsonl", line)


def _sync_history(shared: SharedState, folder: Path, upto: int | None) -> None:
    """Append to the local history the store's entries it lacks (up to `upto`)."""
    last = last_counter(folder / "history.jsonl")
    if upto is not None and last >= upto:
        return
    for raw in chain_entries(shared, folder / "history", last, upto):
        append_line(folder / "history.jsonl", raw.decode())


def _check_mirrored(moved: RouteSpec, mirrored: list[str]) -> None:
    weight = {a.name: a.weight for a in moved.arms}
    bad = [a for a in mirrored if weight.get(a, 1.0) > 0]  # not live, or live with traffic
    if bad:
        raise ConfigError(
            f"arm {bad[0]!r} can be mirrored as a shadow only as a live arm at weight 0",
            field="shadow_arms",
        )


def rollback_weights(
    workspace: Workspace, spec: RouteSpec, arm: str, *, reason: str, actor: str | None = None
) -> WeightsState | None:
    """Give `arm`'s share to the baseline arm (the canary rollback). The shares are those
    live under the lock, so concurrent rollbacks of several canaries all land; None when
    `arm` already has weight 0 under the lock (another process rolled it back first: one
    move, one history entry)."""
    baseline = spec.baseline_arm
    if arm == baseline:
        raise ConfigError(
            f"{arm!r} is the baseline arm of route {spec.name!r}; nothing to roll back to"
        )
    if arm not in {a.name for a in spec.arms}:
        from ..errors import UnknownNameError

        raise UnknownNameError("live arm", arm, [a.name for a in spec.arms])

    def give_back(live: dict[str, float]) -> dict[str, float] | None:
        if live.get(arm, 0.0) == 0:
            return None
        return {arm: 0.0, baseline: live.get(baseline, 0.0) + live.get(arm, 0.0)}

    return update_weights(workspace, spec, give_back, reason=reason, shadow_arms=[], actor=actor)


def mirrored_arms(workspace: Workspace, spec: RouteSpec) -> list[str]:
    """Live arms currently mirrored as shadows (a candidate on trial at weight 0)."""
    state = read_state(workspace, spec)
    return list(state.shadow_arms) if state else []


def sync_state(workspace: Workspace, route: str) -> None:
    """With a shared store: copy the route's live state and history here now (serving does
    it in the background; a command that reports them, such as `route status`, first)."""
    shared = shared_state(workspace)
    if shared is not None:
        folder = state_dir(workspace, route)
        with locked(folder / ".lock"):
            _pull(shared, folder)


def history(workspace: Workspace, route: str) -> list[WeightsState]:
    folder = state_dir(workspace, route)
    shared = shared_state(workspace)
    if shared is not None:
        with locked(folder / ".lock"):
            _sync_history(shared, folder, None)
    path = folder / "history.jsonl"
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
