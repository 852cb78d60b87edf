"""A run written by N runners (`driftgate run --shard I/N`): one run folder, one manifest,
one result segment per runner, and each shard's own state.

    runs/<run-id>/manifest.json      the whole run's (planned = every shard's results)
    runs/<run-id>/manifest.lock      flock'ed for a moment by whoever creates or updates it
    runs/<run-id>/shards/<I>.json    shard I's state: running / finished / failed, who, when
    runs/<run-id>/lock.shard-<I>     flock'ed by the one process writing shard I

The first shard to arrive creates the run; the others join it, and are refused if their plan
differs (suite, prompts, golden sets, planned results, shard count). A shard that ends writes
its state, then, under the manifest lock, reads every shard's: when all have ended it is the
last, and finishes the run (summary from every stored row, verdict, Parquet export); until
then the run reads `partial`. The manifest lock makes "am I the last?" exact however the
shards interleave: each writes its own state before it looks at the others'.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from .._strict import Strict
from ..errors import ConfigError, StorageError
from ._atomic import write_atomic
from ._flock import flocked
from ._runlock import RunLock
from .records import RunManifest

ShardStatus = Literal["running", "finished", "failed"]
MANIFEST_LOCK = "manifest.lock"
# How long a shard waits for another to finish creating or updating the manifest (a
# moment's work; longer means a stuck process, named in the error).
MANIFEST_WAIT_S = 30.0


class ShardState(Strict):
    index: int
    count: int
    status: ShardStatus = "running"
    writer_pid: int | None = None
    writer_host: str | None = None
    started_at: float
    finished_at: float | None = None
    written: int = 0


def state_path(run_dir: Path, index: int) -> Path:
    return run_dir / "shards" / f"{index}.json"


def shard_lock(run_dir: Path, index: int) -> RunLock:
    return RunLock(run_dir / f"lock.shard-{index}")


def save_state(run_dir: Path, state: ShardState) -> None:
    path = state_path(run_dir, state.index)
    try:
        path.parent.mkdir(exist_ok=True)
        write_atomic(path, state.model_dump_json(indent=2))
    except OSError as exc:
        raise StorageError.from_os_error(exc, path, run_id=run_dir.name) from None


def load_states(run_dir: Path) -> dict[int, ShardState]:
    """Every shard's state that can be read (a shard not started yet has none)."""
    out: dict[int, ShardState] = {}
    folder = run_dir / "shards"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            state = ShardState.model_validate_json(path.read_bytes())
            out[state.index] = state
    return out


def all_ended(run_dir: Path, count: int) -> bool:
    states = load_states(run_dir)
    return all(i in states and states[i].status != "running" for i in range(1, count + 1))


@contextlib.contextmanager
def manifest_locked(run_dir: Path) -> Iterator[None]:
    """Hold the run's manifest lock (creating the run folder if needed) for a read-modify-write
    of its manifest by one of several shards."""

    def stuck() -> StorageError:
        return StorageError(
            f"run {run_dir.name}: its manifest lock has been held for over "
            f"{MANIFEST_WAIT_S:.0f} s ({run_dir / MANIFEST_LOCK})",
            hint="a shard's process is stuck: end it, then run the shard again",
        )

    with flocked(run_dir / MANIFEST_LOCK, timeout_s=MANIFEST_WAIT_S, on_timeout=stuck):
        yield


def check_joinable(existing: RunManifest, ours: RunManifest) -> None:
    """A shard joins a run only if it would run the same plan; else a ConfigError."""
    why = None
    if existing.shards is None:
        why = "it is not a sharded run"
    elif existing.shards != ours.shards:
        why = f"it has {existing.shards} shards, this runner was given {ours.shards}"
    elif existing.suite_digest != ours.suite_digest:
        why = f"its suite differs (digest {existing.suite_digest} ≠ {ours.suite_digest})"
    elif {p.ref: p.digest for p in existing.prompts} != {p.ref: p.digest for p in ours.prompts}:
        why = "its prompts differ"
    elif {e.name: e.digest for e in existing.evalsets} != {e.name: e.digest for e in ours.evalsets}:
        why = "its golden sets differ"
    elif existing.planned != ours.planned:
        why = f"it plans {existing.planned} results, this runner {ours.planned}"
    if why:
        raise ConfigError(
            f"run {existing.id} exists and this shard cannot join it: {why}",
            field="--run-id",
            hint="every shard of a run needs the same suite, files and options; "
            "give a new --run-id for a new run",
        )


def orphaned(run_dir: Path, manifest: RunManifest) -> bool:
    """A sharded run still `running` none of whose shards is being written: each state
    still running belongs to a process on this host whose shard lock is free (killed).
    A shard written on another host cannot be checked from here: the run stays running."""
    states = load_states(run_dir)
    running = [s for s in states.values() if s.status == "running"]
    if not running:
        return False
    here = socket.gethostname()
    return all(s.writer_host == here and _dead(run_dir, s) for s in running)


def _dead(run_dir: Path, state: ShardState) -> bool:
    """The shard's lock is free (its process ended: the kernel dropped it); without a lock
    file, its pid is gone."""
    held = shard_lock(run_dir, state.index).held_elsewhere()
    if held is not None:
        return not held
    if not state.writer_pid:
        return False  # cannot tell: never call a live shard dead
    try:
        os.kill(state.writer_pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False
