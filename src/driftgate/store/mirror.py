"""Folders of whole files copied between the workspace and the shared store, verified.

For state kept as one file per item (drift checks and baselines, review decisions,
registered versions): the object's key is the file's path below the folder, under a
prefix (`state/drift/<key>/checks/<id>.json`). Each copy is checked: the object (or file)
written is read back and its sha256 compared with the source's, so `driftgate store
migrate` reports a copy only when it is whole.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .._digest import sha256_hex
from ..errors import StorageError
from ._atomic import write_atomic
from .objects import ObjectStore

# The state_dir's objects are under this prefix, at their path relative to it.
STATE_PREFIX = "state"
# Never copied: locks and temp files belong to one machine's processes.
SKIPPED_SUFFIXES = (".lock", ".tmp")


def _skipped(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.endswith(SKIPPED_SUFFIXES) or name.startswith(".") or name.startswith("lock")


def push_tree(
    store: ObjectStore,
    local_dir: Path,
    prefix: str,
    *,
    skip: Callable[[str], bool] | None = None,
    replaceable: Callable[[str], bool] = lambda rel: True,
) -> int:
    """Copy every file below `local_dir` to `prefix/<relative path>` unless the object
    already holds the same bytes; files copied (each verified). A file that is never
    rewritten (`replaceable` false: one per item, named by id) is taken as the same when
    the sizes agree, without reading the object back."""
    if not local_dir.is_dir():
        return 0
    have = {o.key: o for o in store.list(prefix)}
    copied = 0
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(local_dir).as_posix()
        if _skipped(rel) or (skip is not None and skip(rel)):
            continue
        key = f"{prefix.rstrip('/')}/{rel}"
        data = path.read_bytes()
        known = have.get(key)
        if known is not None and known.size == len(data):
            if not replaceable(rel):
                continue
            blob = store.get(key)
            if blob is not None and sha256_hex(blob.data) == sha256_hex(data):
                continue
        store.put(key, data)
        verify_object(store, key, data)
        copied += 1
    return copied


def pull_tree(
    store: ObjectStore,
    prefix: str,
    local_dir: Path,
    *,
    replaceable: Callable[[str], bool] = lambda rel: True,
) -> int:
    """Copy every object below `prefix` to `local_dir/<relative key>` unless the file
    already holds the same bytes; files written (each verified). `replaceable` as in
    `push_tree`: an item file of the right size is not fetched again."""
    written = 0
    for info in store.list(prefix):
        rel = info.key[len(prefix.rstrip("/")) + 1 :]
        if not rel or _skipped(rel) or ".." in rel.split("/"):
            continue
        path = local_dir / rel
        if path.is_file() and path.stat().st_size == info.size:
            if not replaceable(rel):
                continue
            blob = store.get(info.key)
            if blob is not None and sha256_hex(blob.data) == sha256_hex(path.read_bytes()):
                continue
        else:
            blob = store.get(info.key)
        if blob is None:
            continue
        try:
            write_atomic(path, blob.data)
        except OSError as exc:
            raise StorageError.from_os_error(exc, path) from None
        if sha256_hex(path.read_bytes()) != sha256_hex(blob.data):
            raise StorageError(
                f"{path} does not match {store.where(info.key)} after copying it",
                path=path,
                hint="run the migration again",
            )
        written += 1
    return written


def verify_object(store: ObjectStore, key: str, data: bytes) -> None:
    """Read `key` back; a StorageError unless it holds exactly `data`."""
    blob = store.get(key)
    if blob is None or sha256_hex(blob.data) != sha256_hex(data):
        raise StorageError(
            f"{store.where(key)} does not match what was written to it",
            path=store.where(key),
            hint="run the migration again; if it persists, check the store",
        )
