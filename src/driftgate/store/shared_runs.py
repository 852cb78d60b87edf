"""Runs on the shared store (store/objects.py): the store is the source of truth, the local
runs folder a working copy.

    runs/<id>/manifest.json                         replaced by its writer
    runs/<id>/results/<segment-stem>/<part>.jsonl   immutable parts, created only
    runs/<id>/shards/<I>.json                       shard I's state (sharded runs)
    runs/<id>/finished-by.json                      created once: the shard finishing the run
    runs/_parquet/suite=…/date=…/run=…/results.parquet   the finished run's export

A local segment `results/<stem>.jsonl` is the concatenation of its parts in order, so which
parts a copy holds follows from sizes alone: the parts whose cumulative end is within the
local file are there, the next ones are appended. A part is a run of whole lines, so a
reader never sees half a result, and its name can never be taken twice (each writing process
has its own stem; a part is created with If-None-Match). A writer that is killed loses the
lines it had not published yet; a resume on any machine pulls the parts and computes the rest.

`push_run` / `pull_run` copy one run either way (only what the other side lacks) and, with
`verify`, check the sha256 of every part and export both sides hold; `push_runs` and
`pull_runs_all` do every run (what `driftgate store migrate` calls). `pull_runs` brings
every manifest (for `runs list`, `latest`, prefixes); `pull_exports` every Parquet export
(for `query`). The running writer's side (publishing its lines as it goes, its heartbeat)
is store/shared_writer.py.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._digest import sha256_hex
from ..errors import StorageError
from ._atomic import write_atomic
from ._flock import flocked
from ._layout import EXPORT_DIR, export_of, manifest_fields, up_to_date
from ._runlock import LOCK_NAME, RunLock
from .objects import Blob, ObjectExists, ObjectInfo, ObjectStore
from .parts import (
    check_same,
    chunks,
    complete,
    get_bytes,
    part_name,
    pull_segment,
    put_part,
    read_range,
)

RUNS = "runs"
ETAG_FILE = ".manifest.etag"  # the store's ETag of the manifest this copy last synced
SYNC_LOCK = "sync.lock"
FINISHED_BY = "finished-by.json"


def run_key(run_id: str, *rest: str) -> str:
    return "/".join((RUNS, run_id, *rest))


def part_key(run_id: str, stem: str, part: int) -> str:
    return run_key(run_id, "results", stem, part_name(part))


def export_key(runs_dir: Path, path: Path) -> str:
    return f"{RUNS}/{path.relative_to(runs_dir).as_posix()}"


@dataclass
class Remote:
    """One run's objects in the store, from one listing."""

    manifest: ObjectInfo | None = None
    parts: dict[str, list[ObjectInfo]] = field(default_factory=dict)  # stem -> parts in order
    shards: dict[int, ObjectInfo] = field(default_factory=dict)
    finished_by: ObjectInfo | None = None


def remote_run(store: ObjectStore, run_id: str) -> Remote:
    out = Remote()
    prefix = run_key(run_id) + "/"
    for info in store.iter(prefix):
        _classify(out, info.key[len(prefix) :].split("/"), info)
    for parts in out.parts.values():
        parts.sort(key=lambda i: i.key)
    return out


def _classify(out: Remote, rel: list[str], info: ObjectInfo) -> None:
    if rel == ["manifest.json"]:
        out.manifest = info
    elif rel == [FINISHED_BY]:
        out.finished_by = info
    elif len(rel) == 3 and rel[0] == "results" and rel[2].endswith(".jsonl"):
        out.parts.setdefault(rel[1], []).append(info)
    elif len(rel) == 2 and rel[0] == "shards" and rel[1].removesuffix(".json").isdigit():
        out.shards[int(rel[1].removesuffix(".json"))] = info


# ---- local bookkeeping ------------------------------------------------------------------
@contextlib.contextmanager
def _sync_locked(run_dir: Path) -> Iterator[None]:
    """One copying process per run folder on this machine (two pulls appending the same part
    to a segment would write it twice)."""
    with flocked(run_dir / SYNC_LOCK):
        yield


def _written_here(run_dir: Path) -> bool:
    """A process on this machine holds the run's lock: its manifest is this copy's to say."""
    return RunLock(run_dir / LOCK_NAME).held_elsewhere() is True


def _rank(fields: dict[str, Any] | None) -> tuple[int, float, int]:
    """Which of two manifests of a run is further along: resumed more, finished later, then
    ended over still going."""
    if not fields:
        return (-1, 0.0, 0)
    finished = fields.get("finished_at")
    return (
        int(fields.get("resumed") or 0),
        float(finished) if isinstance(finished, int | float) else 0.0,
        int(fields.get("status") not in ("running", "partial")),
    )


def _fields(data: bytes | None) -> dict[str, Any] | None:
    try:
        value = json.loads(data) if data else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _local_etag(run_dir: Path) -> str | None:
    try:
        return (run_dir / ETAG_FILE).read_text().strip() or None
    except OSError:
        return None


def _note_etag(run_dir: Path, etag: str | None) -> None:
    with contextlib.suppress(OSError):
        write_atomic(run_dir / ETAG_FILE, etag or "")


# ---- manifests --------------------------------------------------------------------------
def publish_manifest(
    store: ObjectStore, run_dir: Path, *, create: bool = False, if_match: str | None = None
) -> str:
    """Put the local manifest (as its writer: replacing, or `create` / `if_match`); its ETag."""
    data = (run_dir / "manifest.json").read_bytes()
    etag = store.put(run_key(run_dir.name, "manifest.json"), data, create=create, if_match=if_match)
    _note_etag(run_dir, etag)
    return etag


def _pull_manifest(
    store: ObjectStore, run_dir: Path, info: ObjectInfo | None, *, force: bool = False
) -> bool:
    """Bring the store's manifest when it is further along than (or as far as) the local one;
    True when the local one was replaced. A run being written here keeps its own."""
    if info is None or (not force and info.etag and info.etag == _local_etag(run_dir)):
        return False
    if _written_here(run_dir):
        return False
    blob = store.get(info.key)
    return blob is not None and _take_manifest(run_dir, blob)


def pull_manifest(store: ObjectStore, runs_dir: Path, run_id: str) -> bool:
    """Bring one run's manifest (one request); False when the store has no such run."""
    run_dir = Path(runs_dir) / run_id
    blob = store.get(run_key(run_id, "manifest.json"))
    if blob is None:
        return False
    if not _written_here(run_dir):
        _take_manifest(run_dir, blob)
    return True


def _take_manifest(run_dir: Path, blob: Blob) -> bool:
    path = run_dir / "manifest.json"
    try:
        local = path.read_bytes()
    except FileNotFoundError:
        local = None
    if local == blob.data:
        _note_etag(run_dir, blob.etag)
        return False
    if local is not None and _rank(_fields(local)) > _rank(_fields(blob.data)):
        return False  # this copy is further along (a push failed): push_run sends it
    try:
        (run_dir / "results").mkdir(parents=True, exist_ok=True)
        write_atomic(path, blob.data)
    except OSError as exc:
        raise StorageError.from_os_error(exc, path) from None
    _note_etag(run_dir, blob.etag)
    return True


def _all_objects(store: ObjectStore) -> dict[str, Remote]:
    """Every run's objects, by run id, from one listing of `runs/`."""
    out: dict[str, Remote] = {}
    for info in store.iter(RUNS + "/"):
        rel = info.key[len(RUNS) + 1 :].split("/")
        if len(rel) < 2 or rel[0] == EXPORT_DIR:
            continue
        _classify(out.setdefault(rel[0], Remote()), rel[1:], info)
    for remote in out.values():
        for parts in remote.parts.values():
            parts.sort(key=lambda i: i.key)
    return out


def pull_runs(store: ObjectStore, runs_dir: Path) -> list[str]:
    """Bring every run's manifest (not its results): what lists, `latest` and id prefixes
    read. Returns the ids of the runs in the store."""
    runs_dir = Path(runs_dir)
    remotes = _all_objects(store)
    for run_id, remote in remotes.items():
        if remote.manifest is not None:
            _pull_manifest(store, runs_dir / run_id, remote.manifest)
    return sorted(r for r, remote in remotes.items() if remote.manifest is not None)


# ---- results ----------------------------------------------------------------------------
def _pull_parts(
    store: ObjectStore, run_dir: Path, stem: str, parts: list[ObjectInfo], verify: bool
) -> int:
    """Append the parts the local segment lacks; returns how many were copied."""
    return pull_segment(store, run_dir / "results" / f"{stem}.jsonl", parts, verify=verify)


def _pull_states(store: ObjectStore, run_dir: Path, shards: dict[int, ObjectInfo]) -> None:
    """Shard states from the store, except those of shards being written on this machine."""
    from .shards import shard_lock, state_path

    for index, info in shards.items():
        if shard_lock(run_dir, index).held_elsewhere() is True:
            continue
        blob = store.get(info.key)
        if blob is not None:
            path = state_path(run_dir, index)
            with contextlib.suppress(OSError):
                path.parent.mkdir(exist_ok=True)
                if not path.exists() or path.read_bytes() != blob.data:
                    write_atomic(path, blob.data)


def pull_run(
    store: ObjectStore,
    runs_dir: Path,
    run_id: str,
    *,
    verify: bool = False,
    exports: bool = False,
    force_manifest: bool = False,
) -> bool:
    """Bring run `run_id` from the store: its manifest, the parts its local segments lack
    (parts are immutable: those already here are skipped, or with `verify` compared by
    sha256), its shard states, and with `exports` its Parquet export. False when the store
    has no such run."""
    run_dir = Path(runs_dir) / run_id
    remote = remote_run(store, run_id)
    if remote.manifest is None:
        return False
    with _sync_locked(run_dir):
        for stem, parts in remote.parts.items():
            _pull_parts(store, run_dir, stem, parts, verify)
        _pull_states(store, run_dir, remote.shards)
        # The manifest after the results: a reader that sees a finished manifest sees rows.
        _pull_manifest(store, run_dir, remote.manifest, force=force_manifest or verify)
        if exports:
            _pull_export(store, run_dir, verify=verify)
    return True


def _pull_export(store: ObjectStore, run_dir: Path, *, verify: bool) -> bool:
    path = export_of(run_dir)
    fields = manifest_fields(run_dir)
    if path is None or not fields or fields.get("status") != "finished":
        return False
    key = export_key(run_dir.parent, path)
    if not verify and up_to_date(path, run_dir):
        return False
    blob = store.get(key)
    if blob is None:
        return False
    if path.exists() and path.read_bytes() == blob.data and up_to_date(path, run_dir):
        return False
    try:
        write_atomic(path, blob.data)  # after the manifest and segments: up to date
    except OSError as exc:
        raise StorageError.from_os_error(exc, path) from None
    return True


def pull_exports(store: ObjectStore, runs_dir: Path) -> int:
    """Bring every finished run's manifest and Parquet export (what `query` reads); returns
    how many exports were copied."""
    runs_dir = Path(runs_dir)
    pull_runs(store, runs_dir)
    copied = 0
    for info in store.iter(f"{RUNS}/{EXPORT_DIR}/"):
        path = runs_dir / info.key[len(RUNS) + 1 :]
        run_id = next((p[4:] for p in path.parts if p.startswith("run=")), None)
        if run_id is None:
            continue
        run_dir = runs_dir / run_id
        if path.exists() and path.stat().st_size == info.size and up_to_date(path, run_dir):
            continue
        data = get_bytes(store, info.key)
        try:
            write_atomic(path, data)
        except OSError as exc:
            raise StorageError.from_os_error(exc, path) from None
        copied += 1
    return copied


def pull_runs_all(store: ObjectStore, runs_dir: Path, *, verify: bool = True) -> int:
    """Copy every run of the store into `runs_dir` (manifests, parts, shard states, exports),
    checking with `verify` the sha256 of what both sides hold; returns how many runs."""
    ids = pull_runs(store, runs_dir)
    for run_id in ids:
        pull_run(store, runs_dir, run_id, verify=verify, exports=True)
    return len(ids)


# ---- pushing ----------------------------------------------------------------------------


def _keys(data: bytes) -> set[str]:
    out = set()
    for line in data.splitlines():
        with contextlib.suppress(ValueError, AttributeError):
            key = json.loads(line).get("key")
            if isinstance(key, str):
                out.add(key)
    return out


def _push_segments(store: ObjectStore, run_dir: Path, remote: Remote, verify: bool) -> int:
    """Publish what each local segment has beyond its parts in the store. Unpublished lines
    of a killed writer whose keys the store already holds (computed again by a resume on
    another machine) are moved to `replaced/` instead: a key is stored once."""
    segments = sorted((run_dir / "results").glob("*.jsonl"))
    published: dict[Path, int] = {}
    known: set[str] = set()
    for seg in segments:
        size = sum(p.size for p in remote.parts.get(seg.stem, []))
        published[seg] = size
        data = read_range(seg, 0, size)
        if verify:
            start = 0
            for info in remote.parts.get(seg.stem, []):
                check_same(store, info, data[start : start + info.size], seg)
                start += info.size
        known |= _keys(data)
    written = 0
    for seg in segments:
        start = published[seg]
        data = seg.read_bytes()
        if len(data) < start:
            continue  # shorter than its parts: pull_run rebuilds it
        tail = complete(data[start:])
        if not tail:
            continue
        if known & _keys(tail):
            tail = _take_out(seg, start, data, tail, known)
        n = len(remote.parts.get(seg.stem, []))
        for chunk in chunks(tail):
            written += put_part(store, part_key(run_dir.name, seg.stem, n), chunk)
            n += 1
        known |= _keys(tail)
    return written


def _take_out(seg: Path, start: int, data: bytes, tail: bytes, known: set[str]) -> bytes:
    """Rewrite `seg` as its published bytes and the tail lines whose keys are not `known`;
    the others go to `replaced/`. Returns the kept tail."""
    kept: list[bytes] = []
    taken: list[bytes] = []
    for line in tail.splitlines(keepends=True):
        (taken if _keys(line) & known else kept).append(line)
    target = seg.parent.parent / "replaced" / f"{time.strftime('%Y%m%dT%H%M%S')}-{seg.stem}.jsonl"
    try:
        target.parent.mkdir(exist_ok=True)
        with target.open("ab") as fh:
            fh.write(b"".join(taken))
        write_atomic(seg, data[:start] + b"".join(kept))
    except OSError as exc:
        raise StorageError.from_os_error(exc, seg) from None
    return b"".join(kept)


def push_export(store: ObjectStore, run_dir: Path, *, verify: bool = False) -> bool:
    """Put the finished run's Parquet export (replacing: a run finished again is exported
    again); True when written."""
    from ._layout import fresh_export

    path = fresh_export(run_dir)
    if path is None:
        return False
    data = path.read_bytes()
    key = export_key(run_dir.parent, path)
    # (A listing's prefix is a folder: the export's own, to read its size without a get.)
    info = next((i for i in store.iter(key.rpartition("/")[0] + "/") if i.key == key), None)
    if info is not None and info.size == len(data):
        remote = get_bytes(store, key) if verify else None
        if remote is None or sha256_hex(remote) == sha256_hex(data):
            return False
    store.put(key, data)
    return True


def push_run(store: ObjectStore, runs_dir: Path, run_id: str, *, verify: bool = False) -> int:
    """Send run `run_id` to the store: the parts its segments have beyond the store's, shard
    states the store lacks, its manifest when further along than the store's, its export.
    With `verify`, every part both sides hold is compared by sha256. Returns how many
    objects were written."""

    run_dir = Path(runs_dir) / run_id
    if not (run_dir / "manifest.json").exists():
        return 0
    remote = remote_run(store, run_id)
    with _sync_locked(run_dir):
        written = _push_segments(store, run_dir, remote, verify)
        for path in sorted((run_dir / "shards").glob("*.json")):
            index = int(path.stem) if path.stem.isdigit() else None
            if index is not None and index not in remote.shards:
                with contextlib.suppress(ObjectExists):
                    store.put(run_key(run_id, "shards", path.name), path.read_bytes(), create=True)
                    written += 1
        local = (run_dir / "manifest.json").read_bytes()
        theirs = store.get(remote.manifest.key) if remote.manifest else None
        if theirs is None:
            with contextlib.suppress(ObjectExists):
                publish_manifest(store, run_dir, create=True)
                written += 1
        elif theirs.data != local and _rank(_fields(local)) > _rank(_fields(theirs.data)):
            publish_manifest(store, run_dir, if_match=theirs.etag)
            written += 1
        else:
            _note_etag(run_dir, theirs.etag)
        written += push_export(store, run_dir, verify=verify)
    return written


def push_runs(store: ObjectStore, runs_dir: Path, *, verify: bool = True) -> int:
    """Send every local run to the store (see `push_run`); returns how many runs."""
    runs_dir = Path(runs_dir)
    ids = (
        sorted(p.name for p in runs_dir.iterdir() if (p / "manifest.json").is_file())
        if runs_dir.is_dir()
        else []
    )
    for run_id in ids:
        push_run(store, runs_dir, run_id, verify=verify)
    return len(ids)
