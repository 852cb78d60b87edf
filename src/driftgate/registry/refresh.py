"""Serving replicas on a shared store: a `Refresher` thread per process copies the watched
objects (the alias state, a route's state) from the store to their local files when they
changed, at least every `shared_store.staleness_s / 2`, so a rollback made on one machine
reaches every replica within the staleness bound. Serving itself never waits on the store:
it keeps polling the local files (one `stat` per request), as without one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import RegistryLocked, StorageError
from ..store._atomic import write_atomic
from ._fs import locked
from ._shared import LOG, SharedState, mirror
from .aliases import parse_state

# How long a new serving process waits for its first copy from the store (at least its
# staleness bound) before it serves its local copy and lets the thread catch up.
FIRST_COPY_S = 5.0


class Refresher:
    """Copies watched objects (aliases.json, routes' state.json) from the store to their local
    files, from a daemon thread: at start, then every `staleness_s / 2`. One per store and
    state_dir in a process, shared by its routers and resolvers."""

    _instances: dict[tuple[str, Path], Refresher] = {}
    _instances_lock = threading.Lock()

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared
        self.interval_s = max(shared.staleness_s / 2, 0.05)
        self._watched: dict[Path, int] = {}
        self._etags: dict[Path, str | None] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self.refreshed_at: float | None = None  # time.monotonic() of the last full pass

    @classmethod
    def watch(cls, shared: SharedState, paths: Iterable[Path]) -> Refresher:
        """Keep `paths` fresh (copied once now, before this returns) until `unwatch`."""
        key = (shared.store.url, shared.state_dir)
        with cls._instances_lock:
            self = cls._instances.get(key)
            if self is None:
                self = cls._instances[key] = cls(shared)
        paths = [Path(p) for p in paths]
        with self._lock:
            for p in paths:
                self._watched[p] = self._watched.get(p, 0) + 1
        # A new replica starts from the store's state, but a store that does not answer
        # (obstore retries for minutes) must not keep it from serving its local copy.
        first = threading.Thread(target=self._first_copy, args=(paths,), daemon=True)
        first.start()
        first.join(max(FIRST_COPY_S, shared.staleness_s))
        if first.is_alive():
            LOG.warning(
                "the shared store %s did not answer within %.0f s: serving the local copy "
                "until it does",
                shared.store.url,
                max(FIRST_COPY_S, shared.staleness_s),
            )
        with self._lock:
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="driftgate-store-refresh", daemon=True
                )
                self._thread.start()
        return self

    def _first_copy(self, paths: list[Path]) -> None:
        for p in paths:
            try:
                self._refresh(p)
            except StorageError as exc:
                LOG.warning("cannot reach the shared store (serving the local copy): %s", exc)
                return

    def unwatch(self, paths: Iterable[Path]) -> None:
        with self._lock:
            for p in paths:
                left = self._watched.get(Path(p), 0) - 1
                if left > 0:
                    self._watched[Path(p)] = left
                else:
                    self._watched.pop(Path(p), None)
                    self._etags.pop(Path(p), None)
            idle = not self._watched
            thread = self._thread if idle else None
            if idle:
                self._stop.set()
                self._thread = None
        if thread is not None:
            with Refresher._instances_lock:
                key = (self.shared.store.url, self.shared.state_dir)
                if Refresher._instances.get(key) is self:
                    del Refresher._instances[key]
            # Not joined: it ends after its pass in flight, and closing a router (on its
            # event loop) must not wait for a slow store.

    def refresh(self) -> None:
        """One pass over every watched object (what the thread does each interval)."""
        with self._lock:
            paths = list(self._watched)
        for p in paths:
            self._refresh(p)
        self.refreshed_at = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.refresh()
                if self._failing:
                    LOG.warning("shared store %s reachable again", self.shared.store.url)
                self._failing = False
            except Exception as exc:  # noqa: BLE001 - serving goes on from the local copy
                if not self._failing:
                    LOG.warning(
                        "cannot refresh from the shared store (serving the local copy): %s", exc
                    )
                self._failing = True

    def _refresh(self, path: Path) -> None:
        blob = self.shared.get(path)  # raises StorageError: the caller decides
        if blob is None or (blob.etag is not None and self._etags.get(path) == blob.etag):
            self.shared.pulled(path)
            return
        lock = _lock_of(path)
        try:
            with locked(lock, timeout_s=1.0):
                # Under the lock a writer on this machine is not between its store write and
                # its local one, so this cannot put back an older state over a newer one.
                # A corrupt object is not copied: serving goes on from the last good copy.
                if _is_alias_state(path):
                    parse_state(blob.data, path)
                    _prefetch_versions(self.shared, blob.data)
                elif not isinstance(json.loads(blob.data).get("weights"), dict):
                    raise ValueError("a route state without weights")
                mirror(path, blob.data)
        except RegistryLocked:
            return  # a writer here is moving it; the next pass copies what it made
        except Exception as exc:  # noqa: BLE001 - keep serving the last good copy
            LOG.warning("not copying %s from the shared store: %s", self.shared.key(path), exc)
            return
        self._etags[path] = blob.etag
        self.shared.pulled(path)


def _is_alias_state(path: Path) -> bool:
    return path.name == "aliases.json" and path.parent.name == "registry"


def _lock_of(path: Path) -> Path:
    """The lock its writers hold: the registry's alias lock, or the route's lock."""
    if _is_alias_state(path):
        return path.parent / ".aliases.lock"
    return path.parent / ".lock"


def _prefetch_versions(shared: SharedState, raw: bytes) -> None:
    """Copy the versions an alias state points to before the state itself, so serving never
    finds an alias whose version file is missing here."""
    from urllib.parse import quote

    data = json.loads(raw)
    root = shared.state_dir / "registry"
    for target, aliases in data.get("aliases", {}).items():
        kind, _, name = target.partition("/")
        for digest in set(aliases.values()):
            path = root / kind / quote(name, safe="") / f"{digest}.json"
            if path.is_file():
                continue
            blob = shared.get(path)
            if blob is not None:
                write_atomic(path, blob.data)
