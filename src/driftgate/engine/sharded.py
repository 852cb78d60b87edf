"""One shard of a run split across runners (`driftgate run --shard I/N`; store/shards.py).

Every runner plans the whole suite (so all agree on what the run is: its manifest, planned
count and digests), runs the cases its shard owns (`Shard.owns`: a stable hash of golden
set and case id) into its own segment, and the last to end finishes the run for all.
Running a shard again (a killed runner, a CI job re-run) computes only its missing results.

On a shared store (store/shared_runs.py) the shards may run on different machines: the
first creates the run's manifest there (create-only; the others pull it and are checked as
joiners), each publishes its rows as parts and its state as `runs/<id>/shards/<I>.json`, and
the finish is decided through the store: a shard that ends writes its state, lists every
shard's, and when all have ended tries to create `finished-by.json`; the one that does pulls
every part and finishes the run for all, the others wait for its manifest. The local
manifest lock still orders the shards of one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..store.records import RunManifest
from ..store.runs import RunStore
from ..store.shards import (
    ShardState,
    all_ended,
    check_joinable,
    load_states,
    manifest_locked,
    save_state,
    shard_lock,
)
from .executor import Executor
from .options import Shard
from .outcome import Run, finalize, long_lived_objects_frozen, summary_of_rows
from .plan import Plan

if TYPE_CHECKING:
    from .progress import ProgressMode

# How old a shard's claim to finish a run on a shared store (finished-by.json) must be, with
# the run still not ended, before another shard finishes it instead (its finisher died).
FINISH_TAKEOVER_S = 600.0
# A run id is a folder name: no separators, no leading dot or underscore (`runs/_parquet`).
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# CI systems' id of one pipeline run, shared by its parallel jobs: part of a derived run id,
# so two pipelines on the same commit make two runs. (Not the attempt number: jobs re-run
# after a failure join the run their first attempt started.)
CI_RUN_VARS = ("GITHUB_RUN_ID", "CI_PIPELINE_ID", "BUILDKITE_BUILD_ID", "CIRCLE_WORKFLOW_ID")


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.fullmatch(run_id):
        raise ConfigError(
            f"bad run id {run_id!r}: letters, digits, '.', '_' and '-', at most 100, "
            "starting with a letter or digit",
            field="--run-id",
            hint="e.g. --run-id ci-$GITHUB_RUN_ID",
        )
    return run_id


def derived_run_id(plan: Plan, manifest: RunManifest, shard: Shard) -> str:
    """The id N runners of one commit agree on without being told: the commit's time (so
    ids still sort by time) and a digest of the commit, the plan and the CI pipeline's id."""
    root = plan.workspace.root
    when = _commit_time(root) if manifest.git_revision else None
    if when is None:
        raise ConfigError(
            f"--shard without --run-id names the run after the git commit, and {root} is "
            "not in a git checkout",
            field="--run-id",
            hint="give every shard the same --run-id, e.g. --run-id ci-$GITHUB_RUN_ID",
        )
    key = json.dumps(
        [
            manifest.git_revision,
            manifest.suite_digest,
            sorted((p.ref, p.digest) for p in manifest.prompts),
            sorted((e.name, e.digest) for e in manifest.evalsets),
            manifest.planned,
            shard.count,
            [os.environ.get(v) for v in CI_RUN_VARS],
        ],
        default=str,
    )
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(when))
    return f"{stamp}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"


def _commit_time(root: os.PathLike[str]) -> int | None:
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%ct", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return int(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def run_shard(
    plan: Plan,
    store: RunStore,
    manifest: RunManifest,
    *,
    run_id: str | None,
    progress: ProgressMode,
) -> Run:
    """Create or join the run, run this shard's cases, and finish the run if it is the last."""
    shard = plan.options.shard
    assert shard is not None
    manifest.id = check_run_id(run_id) if run_id else derived_run_id(plan, manifest, shard)
    manifest.shards = shard.count
    run_dir = store.run_dir(manifest.id)
    with manifest_locked(run_dir):
        if store.shared is not None:
            _create_or_pull(store, manifest)
        if (run_dir / "manifest.json").exists():
            existing = store.load(manifest.id)
            check_joinable(existing, manifest)
            if existing.status == "finished":
                return Run(existing, store, plan)
            manifest = existing
            if manifest.status != "partial":
                manifest.status = "running"
        (run_dir / "results").mkdir(exist_ok=True)
        store.save(manifest)
        lock = shard_lock(run_dir, shard.index)
        lock.acquire(f"{manifest.id} (shard {shard})")
    with lock:
        state = ShardState(
            index=shard.index,
            count=shard.count,
            writer_pid=os.getpid(),
            writer_host=socket.gethostname(),
            started_at=time.time(),
        )
        _save_state(store, run_dir, state)
        aborted, written = _execute(plan, store, manifest, progress)
        state.status = "failed" if aborted else "finished"
        state.finished_at, state.written = time.time(), written
        _save_state(store, run_dir, state)
        if store.shared is not None:
            run = _end_shared(plan, store, manifest.id, shard)
        else:
            run = _end(plan, store, manifest.id, shard)
    run.shard = state
    return run


def _execute(
    plan: Plan, store: RunStore, manifest: RunManifest, progress: ProgressMode
) -> tuple[bool, int]:
    """Run this shard's missing results; (stopped early, results written). A shard that
    raises leaves its state `running`: once its lock is free the run reads `interrupted`."""
    from ..summary import SummaryBuilder

    labels = {a.prompt.ref: a.prompt.output.labels for a in plan.arms if a.prompt.output.labels}
    summary = SummaryBuilder(list(plan.suite.metrics), labels=labels)  # the executor's tally
    done: set[str] = {rec["key"] for rec in store.iter_raw(manifest.id)}
    executor = Executor(plan, store, manifest, done, progress, summary)
    with long_lived_objects_frozen():
        aborted = asyncio.run(executor.run())
    return aborted, executor.writer.count if executor.writer else 0


def _end(plan: Plan, store: RunStore, run_id: str, shard: Shard) -> Run:
    """Under the manifest lock: the last shard to end finishes the run (its summary from
    every stored row: the other shards' too); an earlier one leaves it `partial`."""
    run_dir = store.run_dir(run_id)
    with manifest_locked(run_dir):
        manifest = store.load(run_id)
        if manifest.status == "finished":
            return Run(manifest, store, plan)
        if not all_ended(run_dir, shard.count):
            manifest.status = "partial"
            manifest.verdict = None
            store.save(manifest)
            return Run(manifest, store, plan)
        failed = any(s.status == "failed" for s in load_states(run_dir).values())
        return finalize(plan, store, manifest, failed, summary_of_rows(plan, store, run_id))


# ---- across machines: a shared store (store/shared_runs.py) -------------------------------
def _create_or_pull(store: RunStore, manifest: RunManifest) -> None:
    """Make the run on the shared store (its manifest created only if absent), or bring the
    one another runner made there: the caller then joins it as a local one."""
    from ..store.objects import ObjectExists

    assert store.shared is not None
    if store.pull(manifest.id, force=True):
        return
    if (store.run_dir(manifest.id) / "manifest.json").exists():
        from ..store.shared_runs import push_run

        # Begun here before the workspace had a store: this copy's run becomes the store's.
        push_run(store.shared, store.runs_dir, manifest.id)
        return
    try:
        store.publish(manifest, create=True)
    except ObjectExists:  # another runner made it a moment ago
        store.pull(manifest.id, force=True)


def _save_state(store: RunStore, run_dir: Path, state: ShardState) -> None:
    save_state(run_dir, state)
    if store.shared is not None:
        from ..store.shared_runs import run_key

        store.shared.put(
            run_key(run_dir.name, "shards", f"{state.index}.json"),
            state.model_dump_json(indent=2).encode(),
        )


def _remote_states(store: RunStore, run_id: str) -> dict[int, ShardState]:
    """Every shard's state on the shared store (also written to the local copy)."""
    from ..store.shared_runs import _pull_states, remote_run

    assert store.shared is not None
    remote = remote_run(store.shared, run_id)
    out: dict[int, ShardState] = {}
    for index, info in remote.shards.items():
        blob = store.shared.get(info.key)
        if blob is not None:
            with contextlib.suppress(ValueError):
                out[index] = ShardState.model_validate_json(blob.data)
    _pull_states(store.shared, store.run_dir(run_id), remote.shards)
    return out


def _end_shared(plan: Plan, store: RunStore, run_id: str, shard: Shard) -> Run:
    """The finish decided through the store: this shard's final state is there; if every
    shard's has ended, the shard that creates `finished-by.json` (create-only: one does)
    pulls every part and finishes the run; the others wait for it to be published. An
    earlier shard marks the run partial (only over the manifest it read: never over a
    finished one)."""
    from ..store.objects import ObjectExists
    from ..store.shared_runs import FINISHED_BY, run_key

    shared = store.shared
    assert shared is not None
    states = _remote_states(store, run_id)
    ended = all(i in states and states[i].status != "running" for i in range(1, shard.count + 1))
    if not ended:
        return _mark_partial(store, run_id)
    who = {
        "shard": shard.index,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "at": time.time(),
    }
    try:
        shared.put(run_key(run_id, FINISHED_BY), json.dumps(who).encode(), create=True)
    except ObjectExists:
        if not _take_over(store, run_id, who):
            return _await_finish(plan, store, run_id)
    run_dir = store.run_dir(run_id)
    with manifest_locked(run_dir):
        store.pull(run_id, force=True)  # every shard's parts
        manifest = store.load(run_id)
        if manifest.status == "finished":
            return Run(manifest, store, plan)
        failed = any(s.status == "failed" for s in states.values())
        return finalize(plan, store, manifest, failed, summary_of_rows(plan, store, run_id))


def _take_over(store: RunStore, run_id: str, who: dict[str, object]) -> bool:
    """The finish another shard claimed is `FINISH_TAKEOVER_S` old and the run still not
    ended (its finisher died): claim it in its place, with If-Match on the claim read, so
    one shard does. True when this one now finishes the run."""
    from ..store.objects import ObjectChanged
    from ..store.shared_runs import FINISHED_BY, run_key

    assert store.shared is not None
    claim = store.shared.get(run_key(run_id, FINISHED_BY))
    manifest = store.shared.get(run_key(run_id, "manifest.json"))
    if claim is None or manifest is None:
        return False
    if json.loads(manifest.data).get("status") in ("finished", "failed", "interrupted"):
        return False
    try:
        at = float(json.loads(claim.data).get("at", 0))
    except (ValueError, TypeError, AttributeError):
        at = 0.0
    if time.time() - at < FINISH_TAKEOVER_S:
        return False
    try:
        store.shared.put(
            run_key(run_id, FINISHED_BY), json.dumps(who).encode(), if_match=claim.etag
        )
    except ObjectChanged:
        return False
    return True


def _mark_partial(store: RunStore, run_id: str) -> Run:
    from ..store.objects import ObjectChanged
    from ..store.shared_runs import run_key

    assert store.shared is not None
    key = run_key(run_id, "manifest.json")
    with manifest_locked(store.run_dir(run_id)):
        blob = store.shared.get(key)
        if blob is not None:
            manifest = RunManifest.model_validate_json(blob.data)
            if manifest.status not in ("finished", "failed", "partial"):
                manifest.status, manifest.verdict = "partial", None
                # If-Match: a shard that finished the run meanwhile is never undone.
                with contextlib.suppress(ObjectChanged):
                    store.shared.put(
                        key, manifest.model_dump_json(indent=2).encode(), if_match=blob.etag
                    )
        store.pull(run_id, results=False, force=True)
        return Run(store.load(run_id), store)


def _await_finish(plan: Plan, store: RunStore, run_id: str) -> Run:
    """Another shard is finishing the run: wait (a moment) for its finished manifest."""
    from ..store.shards import MANIFEST_WAIT_S
    from ..store.shared_runs import run_key

    assert store.shared is not None
    deadline = time.monotonic() + MANIFEST_WAIT_S
    while time.monotonic() < deadline:
        blob = store.shared.get(run_key(run_id, "manifest.json"))
        status = json.loads(blob.data).get("status") if blob is not None else None
        if status in ("finished", "failed", "interrupted"):
            break
        time.sleep(0.1)
    with manifest_locked(store.run_dir(run_id)):
        store.pull(run_id, force=True)
        return Run(store.load(run_id), store, plan)
