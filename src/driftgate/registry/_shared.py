"""The registry's and routes' plumbing on the shared store (see shared.py for the layout):
one workspace state_dir mirrored under `state/`, compare-and-swap and create-only writes,
the freshness of local copies."""

from __future__ import annotations

import json
import logging
import os
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..store._atomic import write_atomic
from ..store.objects import Blob, ObjectChanged, ObjectExists, ObjectStore, open_store

if TYPE_CHECKING:
    from ..workspace import Workspace

PREFIX = "state"
# Compare-and-swap attempts before a move gives up (each lost one means another machine
# moved this object meanwhile: under real contention a person re-runs the command).
CAS_ATTEMPTS = 8
LOG = logging.getLogger("driftgate.shared")

# Local path → time.monotonic() of its last copy from the store, in this process.
_PULLED: dict[Path, float] = {}


class SharedState:
    """One workspace's state_dir and its mirror under `state/` on the shared store."""

    def __init__(self, store: ObjectStore, state_dir: Path, staleness_s: float = 2.0) -> None:
        self.store = store
        self.state_dir = Path(state_dir)
        self.staleness_s = staleness_s

    def __repr__(self) -> str:
        return f"SharedState({self.store.url!r}, {str(self.state_dir)!r})"

    def key(self, path: Path) -> str:
        return f"{PREFIX}/{Path(path).relative_to(self.state_dir).as_posix()}"

    def path_of(self, key: str) -> Path:
        return self.state_dir / key.removeprefix(PREFIX + "/")

    # ---- objects --------------------------------------------------------------------
    def get(self, path: Path) -> Blob | None:
        return self.store.get(self.key(path))

    def create(self, path: Path, data: bytes | str) -> bool:
        """Create the object of a local path unless it exists; False when it did."""
        raw = data.encode() if isinstance(data, str) else data
        try:
            self.store.put(self.key(path), raw, create=True)
        except ObjectExists:
            return False
        return True

    def replace(self, path: Path, data: bytes | str, etag: str | None) -> str:
        """Compare-and-swap: replace the object read at `etag` (None: read as absent).
        Raises ObjectChanged when another writer moved it since."""
        raw = data.encode() if isinstance(data, str) else data
        key = self.key(path)
        if etag is not None:
            return self.store.put(key, raw, if_match=etag)
        try:
            return self.store.put(key, raw, create=True)
        except ObjectExists:
            raise ObjectChanged(
                f"{self.store.where(key)} was created since it was read", path=self.store.where(key)
            ) from None

    def list(self, folder: Path) -> list[str]:
        return [o.key for o in self.store.iter(self.key(folder) + "/")]

    # ---- freshness ------------------------------------------------------------------
    def fresh(self, path: Path) -> bool:
        """Copied from the store less than `staleness_s` ago by this process."""
        at = _PULLED.get(Path(path))
        return at is not None and time.monotonic() - at < self.staleness_s

    def pulled(self, path: Path) -> None:
        _PULLED[Path(path)] = time.monotonic()


def shared_state(ws: Workspace) -> SharedState | None:
    """The workspace's shared state, or None when it has no shared store."""
    store = open_store(ws.settings.store)
    if store is None:
        return None
    return SharedState(store, ws.state_dir, ws.settings.shared_store.staleness_s)


def mirror(path: Path, data: bytes) -> bool:
    """Write `data` to the local copy (atomically) unless it holds it already: an unchanged
    file keeps its stamp, so serving does not re-read what did not change."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, data)
    return True


def backoff(attempt: int) -> None:
    """A short random wait after a lost compare-and-swap, so racing writers spread out."""
    time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))


def counter_key(folder_key: str, counter: int) -> str:
    return f"{folder_key}/{counter:012d}.json"


def last_counter(lines_path: Path) -> int:
    """Counter of the last whole line of a JSON-lines chain (audit.jsonl, history.jsonl)."""
    try:
        with lines_path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 65536))
            tail = fh.read()
    except FileNotFoundError:
        return 0
    for line in reversed(tail.split(b"\n")[:-1]):
        try:
            return int(json.loads(line)["counter"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


def chain_entries(shared: SharedState, folder: Path, after: int, upto: int | None) -> list[bytes]:
    """The store's chain entries (`<counter:012d>.json` under the local `folder`) numbered
    after `after` (and up to `upto`), in order."""
    found: list[tuple[int, str]] = []
    for key in shared.list(folder):
        stem = key.rpartition("/")[2].removesuffix(".json")
        if not stem.isdigit():
            continue
        n = int(stem)
        if n > after and (upto is None or n <= upto):
            found.append((n, key))
    out = []
    for _, key in sorted(found):
        blob = shared.store.get(key)
        if blob is not None:
            out.append(blob.data.rstrip(b"\n"))
    return out
