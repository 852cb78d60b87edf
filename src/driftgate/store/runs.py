"""Runs on disk: one folder per run, a manifest, and append-only result segments.

    runs/<run-id>/manifest.json            rewritten atomically (temp file + rename)
    runs/<run-id>/results/<writer>.jsonl   one segment per writing process, appended
    runs/<run-id>/lock                     flock'ed by the one process writing the run
    runs/<run-id>/replaced/<time>.jsonl    rows a `--retry-errors` resume took out

Every process that writes results opens its own segment, so parallel runs, resumed runs and
CI jobs never interleave bytes in one file. A result line is flushed as soon as the case
completes; a process killed mid-write leaves at most one torn last line, which readers
skip. DuckDB reads all segments of all runs through a glob (see `store/query.py`).

With a shared store (`RunStore.of(workspace)`, store/shared_runs.py) the folder is a working
copy of the store's runs: segments are published as immutable parts while they grow, and
reads bring what other machines wrote first.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import ConfigError, StorageError
from ..errors import RunNotFound as RunNotFound  # defined there, re-exported
from ._atomic import atomic_writer, write_atomic
from ._runlock import LOCK_NAME, RunLock
from .records import CaseResult, RunManifest
from .shards import orphaned

if TYPE_CHECKING:
    from ..workspace import Workspace
    from .objects import ObjectStore
    from .shared_writer import Publisher


# What can name a run in the store (a prefix or `latest` is resolved from the listing).
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def new_run_id(now: float | None = None) -> str:
    """Sortable by time, unique across processes: 20261121-223100-1a2b3c."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now or time.time()))
    return f"{stamp}-{secrets.token_hex(3)}"


def _interrupted_if_orphaned(manifest: RunManifest, run_dir: Path) -> RunManifest:
    """A run still `running` whose writing process on this host is gone was killed: it reads
    as `interrupted` (resumable with `run --resume`). The run's lock tells first (a killed
    process's flock is released by the kernel, and a reused pid cannot fake it); a run
    without one falls back to its writer's pid. A run written elsewhere keeps its status:
    its process cannot be checked from here."""
    if manifest.shards:  # several writers: each shard's own state and lock tell
        if manifest.status == "running" and orphaned(run_dir, manifest):
            manifest.status = "interrupted"
        return manifest
    pid, host = manifest.writer_pid, manifest.writer_host
    if manifest.status != "running" or not pid or host != socket.gethostname():
        return manifest
    held = RunLock(run_dir / LOCK_NAME).held_elsewhere()
    if held is False or (held is None and not _alive(pid)):
        manifest.status = "interrupted"
    return manifest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OSError:
        return True  # cannot tell: do not call a live run interrupted
    return True


class RunStore:
    """The runs folder; with `shared` (a workspace's shared store, store/shared_runs.py) a
    working copy of the store's runs: reads bring what other machines wrote first (every
    manifest once per RunStore for lists, `latest` and prefixes; a run's results when they
    are read), and result writers publish their lines as they go."""

    def __init__(
        self,
        runs_dir: Path,
        shared: ObjectStore | None = None,
        *,
        flush_rows: int = 200,
        flush_s: float = 5.0,
    ) -> None:
        self.runs_dir = Path(runs_dir)
        self.shared = shared
        self.flush_rows, self.flush_s = flush_rows, flush_s
        self._pulled_all = False
        self._pulled_manifests: set[str] = set()
        self._pulled_results: set[str] = set()

    @classmethod
    def of(cls, ws: Workspace) -> RunStore:
        """The workspace's runs: its runs folder, over its shared store when it has one."""
        from .objects import open_store

        cadence = ws.settings.shared_store
        return cls(
            ws.runs_dir,
            open_store(ws.settings.store),
            flush_rows=cadence.flush_rows,
            flush_s=cadence.flush_s,
        )

    # ---- the shared store ------------------------------------------------------------
    def pull_all(self) -> None:
        """Bring every run's manifest from the shared store (once per RunStore)."""
        if self.shared is not None and not self._pulled_all:
            from .shared_runs import pull_runs

            self._pulled_manifests.update(pull_runs(self.shared, self.runs_dir))
            self._pulled_all = True

    def pull(self, run_id: str, *, results: bool = True, force: bool = False) -> bool:
        """Bring run `run_id` from the shared store (its manifest; with `results` its parts
        and shard states too), once per RunStore unless `force`. False without one."""
        if self.shared is None or not _RUN_ID.fullmatch(run_id):
            return False
        done = self._pulled_results if results else self._pulled_manifests
        if run_id in done and not force:
            return (self.run_dir(run_id) / "manifest.json").exists()
        from .shared_runs import pull_manifest, pull_run

        if results:
            found = pull_run(self.shared, self.runs_dir, run_id, force_manifest=force)
            self._pulled_results.add(run_id)
        else:
            found = pull_manifest(self.shared, self.runs_dir, run_id)
        self._pulled_manifests.add(run_id)
        return found

    def pull_exports(self) -> None:
        """Bring every run's manifest and Parquet export from the shared store (what `query`
        reads: finished runs made on any machine)."""
        if self.shared is not None:
            from .shared_runs import pull_exports

            pull_exports(self.shared, self.runs_dir)
            self._pulled_all = True

    def publish(self, manifest: RunManifest, **mode: Any) -> str | None:
        """Save the manifest and put it on the shared store (`create=True`, `if_match=ETAG`
        as `ObjectStore.put`); its ETag there, None without a shared store."""
        self.save(manifest)
        if self.shared is None:
            return None
        from .shared_runs import publish_manifest

        return publish_manifest(self.shared, self.run_dir(manifest.id), **mode)

    # ---- manifests -------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def create(self, manifest: RunManifest) -> Path:
        """Make the run's folder and write its manifest (no lock: see `create_locked`)."""
        self._create(manifest, locked=False)
        return self.run_dir(manifest.id)

    def create_locked(self, manifest: RunManifest) -> RunLock:
        """Make the run's folder, take its lock and write its manifest; returns the held lock.

        A disk that cannot take them (full, read-only) raises `StorageError` and leaves no
        folder behind: a run folder always has a manifest."""
        lock = self._create(manifest, locked=True)
        assert lock is not None
        return lock

    def _create(self, manifest: RunManifest, *, locked: bool) -> RunLock | None:
        d = self.run_dir(manifest.id)
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            d.mkdir(exist_ok=False)  # a collision is a bug: fail
        except FileExistsError:
            raise
        except OSError as exc:
            raise StorageError.from_os_error(exc, d) from None
        lock: RunLock | None = None
        try:
            (d / "results").mkdir()
            if locked:
                lock = self.lock(manifest.id)
            self.save(manifest)
        except BaseException as exc:
            if lock is not None:
                lock.release()
            import shutil

            shutil.rmtree(d, ignore_errors=True)
            if isinstance(exc, OSError):
                raise StorageError.from_os_error(exc, d, run_id=None) from None
            raise
        return lock

    def lock(self, run_id: str) -> RunLock:
        """Take the run's writer lock (held until released or the process ends); raises
        `RunLocked` naming the holder when another process writes the run."""
        lock = RunLock(self.run_dir(run_id) / LOCK_NAME)
        lock.acquire(run_id)
        return lock

    def save(self, manifest: RunManifest) -> None:
        if manifest.status == "running":
            # Whoever saves a running run is writing it: a reader on this host can then tell
            # a run whose process died (killed, crashed) from one still going.
            manifest.writer_pid, manifest.writer_host = os.getpid(), socket.gethostname()
        path = self.run_dir(manifest.id) / "manifest.json"
        try:
            write_atomic(path, manifest.model_dump_json(indent=2))
        except OSError as exc:
            raise StorageError.from_os_error(exc, path, run_id=manifest.id) from None

    def load(self, run_id: str) -> RunManifest:
        run_id = self.resolve_id(run_id)
        if run_id not in self._pulled_manifests:
            self.pull(run_id, results=False)
        run_dir = self.run_dir(run_id)
        path = run_dir / "manifest.json"
        try:
            manifest = RunManifest.model_validate_json(path.read_bytes())
            return _interrupted_if_orphaned(manifest, run_dir)
        except FileNotFoundError:
            raise RunNotFound(f"run {run_id!r} not found in {self.runs_dir}") from None
        except ValueError as exc:
            raise ConfigError(f"corrupt run manifest: {exc}", path=path) from None

    def resolve_id(self, run_id: str) -> str:
        """Accept a full id, a unique prefix, or `latest`."""
        if (self.runs_dir / run_id / "manifest.json").exists():
            return run_id
        if self.shared is not None and run_id != "latest" and self.pull(run_id, results=False):
            return run_id  # a full id of a run made elsewhere: one request, not a listing
        ids = self.ids()
        if run_id == "latest" and ids:
            return ids[-1]
        matches = [i for i in ids if i.startswith(run_id) or i.endswith(run_id)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunNotFound(
                f"run {run_id!r} not found in {self.runs_dir}",
                hint="`driftgate runs list` shows the runs",
            )
        raise ConfigError(f"run id {run_id!r} is ambiguous: {', '.join(matches[:5])}")

    def ids(self) -> list[str]:
        self.pull_all()
        if not self.runs_dir.is_dir():
            return []
        return sorted(
            e.name
            for e in os.scandir(self.runs_dir)
            if e.is_dir() and os.path.exists(os.path.join(e.path, "manifest.json"))
        )

    def list(self, limit: int | None = None) -> list[RunManifest]:
        ids = self.ids()
        if limit:
            ids = ids[-limit:]
        out = []
        for i in ids:
            try:
                out.append(self.load(i))
            except ConfigError:
                continue  # a corrupt manifest does not hide the other runs
        return out

    # ---- results ---------------------------------------------------------------------
    def writer(self, run_id: str) -> ResultWriter:
        """A new segment of the run; on a shared store its lines are published as they come."""
        writer = ResultWriter(self.run_dir(run_id) / "results")
        if self.shared is not None:
            from .shared_writer import Publisher

            writer.publisher = Publisher(
                self.shared, writer.path, flush_rows=self.flush_rows, flush_s=self.flush_s
            )
        return writer

    # `builtins.list`: inside the class body `list` is the method above.
    def segments(self, run_id: str) -> builtins.list[Path]:
        if self.shared is not None and run_id not in self._pulled_results:
            self.pull(run_id)
        d = self.run_dir(run_id) / "results"
        return sorted(d.glob("*.jsonl")) if d.is_dir() else []

    def iter_raw(self, run_id: str) -> Iterator[dict[str, Any]]:
        """Every stored result of a run as a dict, first occurrence per key, torn lines skipped."""
        seen: set[str] = set()
        for seg in self.segments(run_id):
            with seg.open("rb") as fh:
                for line in fh:
                    if not line.endswith(b"\n"):
                        break  # torn last line of a killed writer
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    key = rec.get("key")
                    if key in seen:
                        continue
                    seen.add(key)
                    yield rec

    def results(self, run_id: str) -> Iterator[CaseResult]:
        from .._files import validated

        run_id = self.resolve_id(run_id)
        for rec in self.iter_raw(run_id):
            yield validated(CaseResult, rec, self.run_dir(run_id) / "results")

    def completed_keys(self, run_id: str) -> set[str]:
        return {r["key"] for r in self.iter_raw(run_id)}

    def has_errors(self, run_id: str) -> bool:
        return any(r.get("error") is not None for r in self.iter_raw(run_id))

    def take_out_errors(self, run_id: str, which: Callable[[dict[str, Any]], bool]) -> int:
        """Move the result lines `which` selects out of the run's segments (into
        `replaced/`), so that a resume computes their keys again; returns how many.

        Each segment is replaced atomically after the lines it loses are stored, so a kill
        at any point leaves every line in the segment, in `replaced/`, or in both; never
        in neither. The caller holds the run's lock (no writer appends meanwhile)."""
        moved = 0
        out = self.run_dir(run_id) / "replaced"
        target = out / f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}.jsonl"
        try:
            for seg in self.segments(run_id):
                moved += _split_segment(seg, which, target)
        except OSError as exc:
            raise StorageError.from_os_error(exc, out, run_id=run_id) from None
        return moved


def _split_segment(seg: Path, which: Callable[[dict[str, Any]], bool], target: Path) -> int:
    """Rewrite `seg` without the lines `which` selects, appended to `target` first."""
    taken: list[bytes] = []
    try:
        _rewrite(seg, which, target, taken)
    except _Unchanged:
        return 0
    return len(taken)


def _rewrite(
    seg: Path, which: Callable[[dict[str, Any]], bool], target: Path, taken: list[bytes]
) -> None:
    with seg.open("rb") as fh, atomic_writer(seg, binary=True, fsync=True) as kept:
        for line in fh:
            rec = None
            if line.endswith(b"\n"):
                with contextlib.suppress(ValueError):
                    rec = json.loads(line)
            if isinstance(rec, dict) and which(rec):
                taken.append(line)
            else:
                kept.write(line)  # torn or unreadable lines are left for readers to skip
        if not taken:
            raise _Unchanged
        target.parent.mkdir(exist_ok=True)
        with target.open("ab") as side:
            side.write(b"".join(taken))
            side.flush()
            os.fsync(side.fileno())


class _Unchanged(Exception):
    """Aborts a segment's rewrite when it loses no line (its file and mtime stay)."""


# json.dumps(record, ensure_ascii=False, default=str), without building an encoder per line.
_RECORD_JSON = json.JSONEncoder(ensure_ascii=False, default=str).encode


class ResultWriter:
    """Appends result lines to this process's own segment; each line is flushed at once.

    A write the disk refuses (full, quota, read-only) raises `StorageError` naming the
    segment; the lines before it stay whole."""

    def __init__(self, folder: Path) -> None:
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{secrets.token_hex(2)}.jsonl"
        self.path = folder / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._fh: IO[bytes] | None = self.path.open("ab", buffering=0)
        except OSError as exc:
            raise StorageError.from_os_error(exc, self.path, run_id=folder.parent.name) from None
        self.count = 0
        self.publisher: Publisher | None = None  # set on a shared store (RunStore.writer)

    def write(self, record: dict[str, Any]) -> None:
        # One write() of a whole line: a kill leaves whole lines plus at most one torn tail.
        self._write((_RECORD_JSON(record) + "\n").encode())
        self.count += 1
        if self.publisher is not None:
            self.publisher.note(1)

    def write_many(self, records: list[dict[str, Any]]) -> None:
        """Append several lines in one write() (still whole lines only, as `write`): for
        results that are cheap to recompute, such as answers served from the cache."""
        if records:
            self._write("".join([_RECORD_JSON(r) + "\n" for r in records]).encode())
            self.count += len(records)
            if self.publisher is not None:
                self.publisher.note(len(records))

    def _write(self, data: bytes) -> None:
        assert self._fh is not None, "writer is closed"
        view = memoryview(data)
        try:
            # An unbuffered write may take part of the bytes (a disk filling up): finish
            # them, so the error that follows is raised rather than a line lost silently.
            while view:
                n = self._fh.write(view)
                view = view[n or 0 :]
        except OSError as exc:
            raise StorageError.from_os_error(
                exc, self.path, run_id=self.path.parent.parent.name
            ) from None

    def close(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fh.fileno())
            with contextlib.suppress(OSError):  # a full disk fails here too: nothing to add
                self._fh.close()
            self._fh = None
        if self.publisher is not None:
            publisher, self.publisher = self.publisher, None
            publisher.close()  # the last lines to the shared store

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
