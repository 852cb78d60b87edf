"""Running a suite: plan it, record what it uses, execute it, and decide its verdict.

The execution itself (cache, providers, scorers, the store) is `executor.Executor`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import validated
from ..errors import (
    EXIT_BAD_INPUT,
    EXIT_BELOW_THRESHOLD,
    EXIT_OK,
    EXIT_PROVIDER_ERRORS,
    ConfigError,
    StorageError,
)
from ..providers.base import ModelConfig
from ..store.records import CaseResult, RunManifest, Summary
from ..store.runs import RunStore
from ..suite import Suite
from ..workspace import Workspace
from .executor import Executor
from .manifest import new_manifest
from .plan import Plan, RunOptions, build_plan

if TYPE_CHECKING:
    from ..summary import SummaryBuilder
    from .progress import ProgressMode


class Run:
    """A finished (or interrupted) run: its manifest, and its results read from the store."""

    def __init__(self, manifest: RunManifest, store: RunStore, plan: Plan | None = None) -> None:
        self.manifest = manifest
        self.store = store
        self.plan = plan  # the validated plan the run executed (None for a run loaded from disk)
        self._results: list[CaseResult] | None = None

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def summary(self) -> Summary | None:
        return self.manifest.summary

    @property
    def results(self) -> list[CaseResult]:
        if self._results is None:
            self._results = list(self.store.results(self.id))
        return self._results

    @property
    def passed(self) -> bool:
        return self.manifest.verdict == "passed"

    @property
    def exit_code(self) -> int:
        return {
            "passed": EXIT_OK,
            "below_threshold": EXIT_BELOW_THRESHOLD,
            "provider_errors": EXIT_PROVIDER_ERRORS,
        }.get(self.manifest.verdict or "", EXIT_BAD_INPUT)

    def __repr__(self) -> str:
        s = self.summary
        rate = f", pass_rate={s.pass_rate:.3f}" if s and s.pass_rate is not None else ""
        return f"Run({self.id!r}, verdict={self.manifest.verdict!r}{rate})"


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
) -> Run:
    """Run a suite and return the run with its results.

    `suite` is a Suite, a suite file, or None for the workspace's default suite.
    `cases` runs exactly these case ids per golden set; `metadata` is stored in the
    manifest (`settings.metadata`) for the caller's own bookkeeping.
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
    )
    plan = build_plan(suite, workspace=ws, options=options, prompts=prompts, models=models)
    from ..registry import record_run_artifacts

    # Every artifact version a run uses is kept, so editing a file never loses what was evaluated.
    record_run_artifacts(ws, plan)
    store = RunStore(ws.runs_dir)
    manifest = new_manifest(plan)
    if metadata:
        manifest.settings["metadata"] = metadata
    with store.create_locked(manifest):
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
    store = RunStore(ws.runs_dir)
    run_id = store.resolve_id(run_id)
    with store.lock(run_id):
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
    store.save(manifest)
    if retry_errors:
        store.take_out_errors(run_id, provider_error)
    return _execute(plan, store, manifest, progress=progress)


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
        with _long_lived_objects_frozen():
            aborted = asyncio.run(executor.run())
    except BaseException:
        manifest.status = "interrupted"
        # On a full disk this save fails too; the run still reads as interrupted once this
        # process ends (its lock is released), and the first error is the one to report.
        with contextlib.suppress(StorageError):
            store.save(manifest)
        raise
    ours = executor.writer.path if executor.writer else None
    if {p: n for p, n in _segment_sizes(store, manifest.id).items() if p != ours} != others:
        # Rows this process did not write appeared (a writer without the run lock, such as
        # an older driftgate): the summary is rebuilt from the stored rows (one per key), so
        # the manifest and the rows never disagree.
        summary = _summary_of_rows(plan, store, manifest.id)
    return _finalize(plan, store, manifest, aborted, summary)


def _segment_sizes(store: RunStore, run_id: str) -> dict[Path, int]:
    sizes = {}
    for seg in store.segments(run_id):
        with contextlib.suppress(FileNotFoundError):
            sizes[seg] = seg.stat().st_size
    return sizes


def _summary_of_rows(plan: Plan, store: RunStore, run_id: str) -> SummaryBuilder:
    from ..summary import SummaryBuilder

    labels = {a.prompt.ref: a.prompt.output.labels for a in plan.arms if a.prompt.output.labels}
    summary = SummaryBuilder(list(plan.suite.metrics), labels=labels)
    for rec in store.iter_raw(run_id):
        summary.add(rec)
    return summary


@contextlib.contextmanager
def _long_lived_objects_frozen() -> Iterator[None]:
    """Keep the cyclic garbage collector off the objects alive before the run.

    Modules, validators and the plan live as long as the process, yet the first full
    collection in a fresh process (it falls during the run) walks them all (`first_gc_ms` in
    docs/architecture.md, Measured figures). Frozen, they are skipped; afterwards they return to the
    oldest generation. A process that froze objects itself is left as it is.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _finalize(
    plan: Plan, store: RunStore, manifest: RunManifest, aborted: bool, builder: SummaryBuilder
) -> Run:
    summary = builder.build()
    manifest.summary = summary
    manifest.stopped_early = aborted
    manifest.finished_at = time.time()
    max_err = manifest.max_error_rate if manifest.max_error_rate is not None else 0.0
    if aborted or (summary.error_rate or 0.0) > max_err:
        manifest.verdict = "provider_errors"
        manifest.status = "failed"
    else:
        manifest.status = (
            "finished" if summary.results >= (manifest.planned or 0) else "interrupted"
        )
        if manifest.status != "finished":
            manifest.verdict = "incomplete"
        elif (summary.pass_rate or 0.0) + 1e-12 >= (manifest.pass_threshold or 0.0):
            manifest.verdict = "passed"
        else:
            manifest.verdict = "below_threshold"
    store.save(manifest)
    if manifest.status == "finished":
        _export(store, manifest.id)
    return Run(manifest, store, plan)


def _export(store: RunStore, run_id: str) -> None:
    """Write the finished run's Parquet export (store/export.py). The run is stored and
    finished either way: a failed export is a warning, redone by `driftgate runs export`."""
    import warnings

    import duckdb

    from ..store.export import export_run

    try:
        export_run(store.run_dir(run_id))
    except (StorageError, duckdb.Error) as exc:
        warnings.warn(
            f"run {run_id} finished, but its Parquet export failed ({exc}); "
            "`driftgate runs export` writes it again",
            stacklevel=2,
        )
