"""How a run ends: the `Run` a caller gets, its verdict and status decided from its
summary (`finalize`), and its Parquet export when it finished. Shared by whole runs
(runner.py) and shards (sharded.py)."""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import (
    EXIT_BAD_INPUT,
    EXIT_BELOW_THRESHOLD,
    EXIT_OK,
    EXIT_PROVIDER_ERRORS,
    StorageError,
)
from ..store.records import CaseResult, RunManifest, Summary
from ..store.runs import RunStore
from .plan import Plan

if TYPE_CHECKING:
    from ..store.shards import ShardState
    from ..summary import SummaryBuilder


class Run:
    """A finished (or interrupted) run: its manifest, and its results read from the store."""

    def __init__(self, manifest: RunManifest, store: RunStore, plan: Plan | None = None) -> None:
        self.manifest = manifest
        self.store = store
        self.plan = plan  # the validated plan the run executed (None for a run loaded from disk)
        self._results: list[CaseResult] | None = None
        # The shard this process ran, for a sharded run (`run --shard I/N`).
        self.shard: ShardState | None = None

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
        if self.manifest.status == "partial":
            # A shard ended before the others: no verdict yet (the last shard gives it);
            # its own provider errors over the budget still fail its job.
            failed = self.shard is not None and self.shard.status == "failed"
            return EXIT_PROVIDER_ERRORS if failed else EXIT_OK
        return {
            "passed": EXIT_OK,
            "below_threshold": EXIT_BELOW_THRESHOLD,
            "provider_errors": EXIT_PROVIDER_ERRORS,
        }.get(self.manifest.verdict or "", EXIT_BAD_INPUT)

    def __repr__(self) -> str:
        s = self.summary
        rate = f", pass_rate={s.pass_rate:.3f}" if s and s.pass_rate is not None else ""
        return f"Run({self.id!r}, verdict={self.manifest.verdict!r}{rate})"


def summary_of_rows(plan: Plan, store: RunStore, run_id: str) -> SummaryBuilder:
    from ..summary import SummaryBuilder

    labels = {a.prompt.ref: a.prompt.output.labels for a in plan.arms if a.prompt.output.labels}
    summary = SummaryBuilder(list(plan.suite.metrics), labels=labels)
    for rec in store.iter_raw(run_id):
        summary.add(rec)
    return summary


@contextlib.contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
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


def finalize(
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
    if store.shared is not None:
        _publish_end(store, manifest)
    return Run(manifest, store, plan)


def _publish_end(store: RunStore, manifest: RunManifest) -> None:
    """Put the ended run's export, then its manifest, on the shared store (a reader that
    sees it finished finds its export). A store that fails here is a warning: the run is
    whole here, and `driftgate run --resume ID` on this machine publishes it."""
    import warnings

    from ..store.shared_runs import publish_manifest, push_export

    assert store.shared is not None
    try:
        push_export(store.shared, store.run_dir(manifest.id))
        publish_manifest(store.shared, store.run_dir(manifest.id))
    except StorageError as exc:
        warnings.warn(
            f"run {manifest.id} ended, but the shared store did not take it ({exc}); "
            f"`driftgate run --resume {manifest.id}` here publishes it",
            stacklevel=3,
        )


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
