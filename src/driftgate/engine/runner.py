"""Running a suite: plan it, record what it uses, execute it, and decide its verdict.

The execution itself (cache, providers, scorers, the store) is `executor.Executor`.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import validated
from ..errors import (
    ConfigError,
    RunLocked,
    StorageError,
)
from ..providers.base import ModelConfig
from ..store.records import RunManifest
from ..store.runs import RunStore
from ..suite import Suite
from ..workspace import Workspace
from .executor import Executor
from .manifest import new_manifest
from .options import Shard
from .outcome import Run as Run  # re-exported: its home for callers
from .outcome import finalize, long_lived_objects_frozen, summary_of_rows
from .outcome import long_lived_objects_frozen as _long_lived_objects_frozen  # noqa: F401
from .plan import Plan, RunOptions, build_plan

if TYPE_CHECKING:
    from .progress import ProgressMode


def run(
    suite: Suite | Path | str | None = None,
    *,
    workspace: Workspace | Path | str | None = None,
    prompts: list[str] | None = None,
    models: list[str | ModelConfig] | None = None,
    repeat: int | None = None,
    max_concurrency: int | None = None,
    limit: int | None = None,
    sample: int | None = None,
    filter: list[str] | str | None = None,
    no_cache: bool = False,
    max_error_rate: float | None = None,
    seed: int | None = None,
    cases: dict[str, list[str]] | None = None,
    metadata: dict[str, Any] | None = None,
    progress: ProgressMode = "auto",
    force: bool = False,
    shard: Shard | str | None = None,
    run_id: str | None = None,
) -> Run:
    """Run a suite and return the run with its results.

    `suite` is a Suite, a suite file, or None for the workspace's default suite.
    `cases` runs exactly these case ids per golden set; `metadata` is stored in the
    manifest (`settings.metadata`) for the caller's own bookkeeping. `shard` ("I/N") runs
    this runner's part of a run written by N (engine/sharded.py): all of them write into
    `run_id` (default: an id derived from the git commit and the plan), and the last to
    end finishes it; until then the returned run is `partial`.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    options = RunOptions(
        repeat=repeat,
        max_concurrency=max_concurrency,
        limit=limit,
        sample=sample,
        filter=[filter] if isinstance(filter, str) else list(filter or []),
        no_cache=no_cache,
        max_error_rate=max_error_rate,
        seed=seed,
        cases=cases,
        force=force,
        shard=Shard.parse(shard) if isinstance(shard, str) else shard,
    )
    plan = build_plan(suite, workspace=ws, options=options, prompts=prompts, models=models)
    from ..registry import record_run_artifacts

    # Every artifact version a run uses is kept, so editing a file never loses what was evaluated.
    record_run_artifacts(ws, plan)
    store = RunStore.of(ws)
    manifest = new_manifest(plan)
    if metadata:
        manifest.settings["metadata"] = metadata
    if options.shard is not None:
        from .sharded import run_shard

        return run_shard(plan, store, manifest, run_id=run_id, progress=progress)
    if run_id is not None:
        from .sharded import check_run_id

        manifest.id = check_run_id(run_id)
    # A run of that id made elsewhere exists; and a store that cannot be read fails the run
    # here, before its folder is made.
    store.pull(manifest.id, results=False)
    exists = ConfigError(
        f"run {manifest.id} exists",
        field="--run-id",
        hint=f"`driftgate run --resume {manifest.id}` finishes it; or give another id",
    )
    try:
        lock = store.create_locked(manifest)
    except FileExistsError:
        raise exists from None
    with lock:
        if store.shared is not None:
            from ..store.objects import ObjectExists

            try:  # the store is the source of truth: the run exists once it is there
                store.publish(manifest, create=True)
            except (ObjectExists, StorageError) as exc:
                import shutil

                # Not on the store: no run (a folder here would read as one interrupted).
                lock.release()
                shutil.rmtree(store.run_dir(manifest.id), ignore_errors=True)
                if isinstance(exc, ObjectExists):
                    raise exists from None
                raise
        return _execute(plan, store, manifest, progress=progress)


def resume(
    run_id: str,
    *,
    workspace: Workspace | Path | str | None = None,
    progress: ProgressMode = "auto",
    retry_errors: bool = False,
) -> Run:
    """Finish an interrupted run: only the missing results are computed.

    `retry_errors` also re-runs the results that ended in a provider error (the provider
    has recovered): they are moved out of the results (kept under `replaced/`) and computed
    again; every other result stays. One process resumes a run at a time: another raises
    `RunLocked` naming the process that holds it.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    store = RunStore.of(ws)
    if retry_errors and store.shared is not None:
        # Its parts are immutable: a row taken out here would stay in the store, and the key
        # would be stored twice.
        raise ConfigError(
            "--retry-errors rewrites a run's stored rows, and on a shared store they are "
            "immutable parts",
            field="--retry-errors",
            hint="start a new run of the cases that failed (e.g. with --filter), or resume "
            "without --retry-errors",
        )
    run_id = store.resolve_id(run_id)
    # On a shared store, the run as the store has it (written on any machine): its manifest
    # and every published part; only what is missing from them is computed again.
    store.pull(run_id)
    with store.lock(run_id):
        if store.shared is not None:
            from ..store.shared_runs import push_run
            from ..store.shared_writer import live_writers

            live = live_writers(store.shared, run_id, store.flush_s)
            if live:
                who = ", ".join(f"pid {w.get('pid')} on {w.get('host')}" for w in live)
                raise RunLocked(
                    f"run {run_id} is being written on another machine ({who}); "
                    "one process runs or resumes a run at a time",
                    hint=f"wait for it to finish, then `driftgate show {run_id}`",
                )

            # Lines a writer killed here never published: sent now (or set aside when
            # another machine computed their keys since), so the store has every row.
            push_run(store.shared, ws.runs_dir, run_id)
        return _resume_locked(store, ws, run_id, progress=progress, retry_errors=retry_errors)


def _resume_locked(
    store: RunStore, ws: Workspace, run_id: str, *, progress: ProgressMode, retry_errors: bool
) -> Run:
    manifest = store.load(run_id)  # read under the lock: what the last writer left
    if manifest.status == "finished" and not (retry_errors and store.has_errors(run_id)):
        return Run(manifest, store)
    s = manifest.settings
    stored: dict[str, Any] = {k: s.get(k) for k in RunOptions().__dict__ if k in s}
    options = RunOptions(**stored)
    manifest_path = store.run_dir(manifest.id) / "manifest.json"
    suite = validated(Suite, s["suite"], manifest_path) if "suite" in s else manifest.suite
    plan = build_plan(suite, workspace=ws, options=options)
    then = {p.ref: p.digest for p in manifest.prompts}
    for arm in plan.arms:
        if then.get(arm.prompt.ref) not in (None, arm.prompt.digest):
            raise ConfigError(
                f"prompt {arm.prompt.ref} changed since run {manifest.id} started "
                f"({then[arm.prompt.ref]} → {arm.prompt.digest}); a resumed run must use the same prompts",
                path=arm.prompt.source,
                hint="restore the prompt file, or start a new run",
            )
    manifest.resumed += 1
    manifest.status = "running"
    manifest.verdict = None
    manifest.stopped_early = False
    _claim(store, manifest)
    if retry_errors:
        store.take_out_errors(run_id, provider_error)
    return _execute(plan, store, manifest, progress=progress)


def _claim(store: RunStore, manifest: RunManifest) -> None:
    """Save the resumed run's manifest; on a shared store, replace the store's only if it is
    still the one this copy pulled: two machines resuming one run at once, one is refused."""
    if store.shared is None:
        store.save(manifest)
        return
    from ..store.objects import ObjectChanged
    from ..store.shared_runs import ETAG_FILE

    try:
        etag = (store.run_dir(manifest.id) / ETAG_FILE).read_text().strip() or None
    except OSError:
        etag = None
    try:
        store.publish(manifest, if_match=etag) if etag else store.publish(manifest)
    except ObjectChanged:
        raise ConfigError(
            f"run {manifest.id} changed on the shared store while this resume started: "
            "another machine is resuming it",
            hint=f"wait for it, then `driftgate show {manifest.id}`",
        ) from None


def provider_error(record: dict[str, Any]) -> bool:
    """A result that a call could change: a provider error (not a template's, which
    renders the same way every time)."""
    return record.get("error") is not None and record.get("error_kind") != "template"


def _execute(plan: Plan, store: RunStore, manifest: RunManifest, *, progress: ProgressMode) -> Run:
    from ..summary import SummaryBuilder

    labels = {a.prompt.ref: a.prompt.output.labels for a in plan.arms if a.prompt.output.labels}
    # The summary is built as results complete (no re-read of the run at the end); a resumed
    # run starts it from the results stored before.
    summary = SummaryBuilder(list(plan.suite.metrics), labels=labels)
    done: set[str] = set()
    for rec in store.iter_raw(manifest.id):
        done.add(rec["key"])
        summary.add(rec)
    others = _segment_sizes(store, manifest.id)
    executor = Executor(plan, store, manifest, done, progress, summary)
    try:
        with long_lived_objects_frozen():
            aborted = asyncio.run(executor.run())
    except BaseException:
        manifest.status = "interrupted"
        # On a full disk this save fails too; the run still reads as interrupted once this
        # process ends (its lock is released), and the first error is the one to report.
        with contextlib.suppress(StorageError):
            store.save(manifest)
            if store.shared is not None:
                store.publish(manifest)
        raise
    ours = executor.writer.path if executor.writer else None
    if {p: n for p, n in _segment_sizes(store, manifest.id).items() if p != ours} != others:
        # Rows this process did not write appeared (a writer without the run lock, such as
        # an older driftgate): the summary is rebuilt from the stored rows (one per key), so
        # the manifest and the rows never disagree.
        summary = summary_of_rows(plan, store, manifest.id)
    return finalize(plan, store, manifest, aborted, summary)


def _segment_sizes(store: RunStore, run_id: str) -> dict[Path, int]:
    sizes = {}
    for seg in store.segments(run_id):
        with contextlib.suppress(FileNotFoundError):
            sizes[seg] = seg.stat().st_size
    return sizes
