"""A running run's writer on the shared store (store/shared_runs.py has the layout).

`Publisher` publishes one growing segment's new complete lines as immutable parts every
`flush_rows` rows or `flush_s` seconds (a thread), and at the end: a writer that is killed
loses only what it had not published. It also keeps a heartbeat,
`runs/<id>/writers/<stem>.json`, replaced every flush and removed at its end; `live_writers`
tells from it whether a run is still being written on some machine (a resume elsewhere is
then refused).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

from ..errors import StorageError
from .objects import ObjectStore
from .parts import SegmentPublisher
from .shared_runs import _fields, part_key, run_key

WRITERS = "writers"  # runs/<id>/writers/<stem>.json: a running writer's heartbeat


class Publisher(SegmentPublisher):
    """A run's result segment published as parts (store/parts.py), with the writer's
    heartbeat kept beside it."""

    def __init__(
        self, store: ObjectStore, segment: Path, *, flush_rows: int, flush_s: float
    ) -> None:
        self.run_id = segment.parent.parent.name
        self._beat_key = run_key(self.run_id, WRITERS, f"{segment.stem}.json")
        super().__init__(
            store,
            segment,
            lambda part: part_key(self.run_id, segment.stem, part),
            flush_rows=flush_rows,
            flush_s=flush_s,
        )

    def tick(self) -> None:
        """Replace this writer's heartbeat (at least every `flush_s`): a resume elsewhere
        sees it change and refuses to compute the same rows (`live_writers`)."""
        import socket

        who = {"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()}
        with contextlib.suppress(StorageError):
            self.store.put(self._beat_key, json.dumps(who).encode())

    def close(self) -> None:
        """Stop the thread and publish what is left; a store that fails here is a warning
        (the lines are in the local segment: a resume or `push_run` publishes them)."""
        try:
            self.stop()
            self.store.delete(self._beat_key)  # ended: no longer a live writer
        except StorageError as exc:
            warnings.warn(
                f"run {self.run_id}: results not yet on the shared store ({exc}); "
                f"`driftgate run --resume {self.run_id}` here publishes them",
                stacklevel=2,
            )


def live_writers(store: ObjectStore, run_id: str, flush_s: float) -> list[dict[str, Any]]:
    """The writers of run `run_id` still running on some machine: those whose heartbeat
    changes within two flush periods. A killed writer leaves its heartbeat behind, unchanged
    (removed here once seen dead); comparing ETags, not times, needs no agreement between
    machines' clocks. Waits only when a heartbeat is there."""
    prefix = run_key(run_id, WRITERS) + "/"
    before = {i.key: i.etag for i in store.iter(prefix)}
    if not before:
        return []
    time.sleep(2 * flush_s + 0.2)
    after = {i.key: i.etag for i in store.iter(prefix)}
    live = []
    for key, etag in after.items():
        if before.get(key) != etag:
            blob = store.get(key)
            live.append(_fields(blob.data if blob else None) or {"key": key})
    for key in before.keys() & after.keys():
        if before[key] == after[key]:
            store.delete(key)
    return live
