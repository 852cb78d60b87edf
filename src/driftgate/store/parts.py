"""Append-only segments on the shared store as immutable parts: the generic half of
runs' results (store/shared_runs.py) and routes' traffic logs (router/log.py).

    <prefix>/<segment-stem>/<part:06d>.jsonl    a run of whole lines, created only

A local segment is the concatenation of its parts in order, so which parts a copy holds
follows from sizes alone: parts whose cumulative end is within the local file are there, the
next ones are appended (`pull_segment`). A writer publishes its segment's new complete lines
(`SegmentPublisher`: every `flush_rows` rows or `flush_s` seconds, from a thread, and at its
end); each writing process has its own stem, and a part is created with If-None-Match, so two
writers can never replace each other's lines.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from .._digest import sha256_hex
from ..errors import StorageError
from ._atomic import write_atomic
from .objects import ObjectExists, ObjectInfo, ObjectStore

# Largest part a push makes from an existing segment (whole lines: a longer line is one part).
PART_MAX = 8 * 1024 * 1024


def part_name(part: int) -> str:
    return f"{part:06d}.jsonl"


def segment_parts(store: ObjectStore, prefix: str) -> dict[str, list[ObjectInfo]]:
    """The parts below `prefix`, by segment stem, in order."""
    out: dict[str, list[ObjectInfo]] = {}
    base = prefix.rstrip("/") + "/"
    for info in store.iter(base):
        rel = info.key[len(base) :].split("/")
        if len(rel) == 2 and rel[1].endswith(".jsonl"):
            out.setdefault(rel[0], []).append(info)
    for parts in out.values():
        parts.sort(key=lambda i: i.key)
    return out


def pull_segment(
    store: ObjectStore, seg: Path, parts: list[ObjectInfo], *, verify: bool = False
) -> int:
    """Append the parts the local segment `seg` lacks; returns how many were copied. With
    `verify`, the parts it holds already are compared with the store's by sha256."""
    try:
        local = seg.stat().st_size
    except FileNotFoundError:
        local = 0
    start, copied = 0, 0
    for info in parts:
        end = start + info.size
        if end <= local:
            if verify:
                check_same(store, info, read_range(seg, start, end), seg)
        elif start == local:
            data = get_bytes(store, info.key)
            append(seg, data)
            local, copied = end, copied + 1
        elif start < local:
            # The local file ends inside a part: it was cut short here. The store's parts
            # are the segment: rebuild it from them.
            rebuild(store, seg, parts)
            return len(parts)
        start = end
    return copied


def get_bytes(store: ObjectStore, key: str) -> bytes:
    blob = store.get(key)
    if blob is None:
        raise StorageError(
            f"{store.where(key)} vanished while it was copied", path=store.where(key)
        )
    return blob.data


def read_range(path: Path, start: int, end: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(start)
        return fh.read(end - start)


def check_same(store: ObjectStore, info: ObjectInfo, local: bytes, where: Path) -> None:
    remote = get_bytes(store, info.key)
    if sha256_hex(remote) != sha256_hex(local):
        raise StorageError(
            f"{store.where(info.key)} differs from {where} (sha256 {sha256_hex(remote)[:12]} ≠ "
            f"{sha256_hex(local)[:12]})",
            path=store.where(info.key),
            hint="a part is immutable: one of the copies was altered; keep the store's",
        )


def append(seg: Path, data: bytes) -> None:
    try:
        seg.parent.mkdir(parents=True, exist_ok=True)
        with seg.open("ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StorageError.from_os_error(exc, seg) from None


def rebuild(store: ObjectStore, seg: Path, parts: list[ObjectInfo]) -> None:
    data = b"".join(get_bytes(store, p.key) for p in parts)
    try:
        write_atomic(seg, data)
    except OSError as exc:
        raise StorageError.from_os_error(exc, seg) from None


def complete(data: bytes) -> bytes:
    """`data` up to its last newline: whole lines only (a torn tail is never published)."""
    cut = data.rfind(b"\n")
    return data[: cut + 1] if cut >= 0 else b""


def chunks(data: bytes, size: int = PART_MAX) -> Iterator[bytes]:
    """Whole lines in pieces of at most `size` bytes (a longer line alone)."""
    while data:
        if len(data) <= size:
            yield data
            return
        cut = data.rfind(b"\n", 0, size)
        cut = data.find(b"\n", size) if cut < 0 else cut
        yield data[: cut + 1]
        data = data[cut + 1 :]


def put_part(store: ObjectStore, key: str, data: bytes) -> bool:
    """Create a part; True when written. One already there must hold the same bytes."""
    try:
        store.put(key, data, create=True)
        return True
    except ObjectExists:
        blob = store.get(key)
        if blob is None or sha256_hex(blob.data) != sha256_hex(data):
            raise StorageError(
                f"{store.where(key)} exists with other content than this copy's",
                path=store.where(key),
                hint="parts are immutable and each writer has its own segment: two copies "
                "of the run diverged; `driftgate run --resume` on one of them settles it",
            ) from None
        return False


class SegmentPublisher:
    """Publishes one growing local segment's new complete lines as parts `key_of(n)`: every
    `flush_rows` rows (`note` counts them), every `flush_s` seconds (a thread), and at
    `close`. A failed upload is kept in `error` and retried at the next flush; the lines
    stay in the local segment either way. `tick` runs after each timed flush (a subclass's
    heartbeat)."""

    def __init__(
        self,
        store: ObjectStore,
        segment: Path,
        key_of: Callable[[int], str],
        *,
        flush_rows: int,
        flush_s: float,
    ) -> None:
        self.store = store
        self.segment = segment
        self.key_of = key_of
        self.flush_rows, self.flush_s = flush_rows, flush_s
        self.offset = 0
        self.part = 0
        self.parts_written = 0
        self.error: StorageError | None = None
        self._rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"publish {segment.name}", daemon=True
        )
        self._thread.start()

    def note(self, rows: int) -> None:
        self._rows += rows
        if self._rows >= self.flush_rows:
            self._wake.set()

    def tick(self) -> None:
        """Called from the thread at its start and after each timed flush."""

    def _loop(self) -> None:
        self.tick()
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            with contextlib.suppress(StorageError):  # kept in self.error; retried next time
                self.flush()
            self.tick()

    def flush(self) -> int:
        """Publish the complete lines written since the last flush; returns the bytes sent."""
        with self._lock:
            self._rows = 0
            try:
                with self.segment.open("rb") as fh:
                    fh.seek(self.offset)
                    data = complete(fh.read())
            except FileNotFoundError:
                return 0
            sent = 0
            for chunk in chunks(data):
                try:
                    put_part(self.store, self.key_of(self.part), chunk)
                except StorageError as exc:
                    self.error = exc
                    raise
                self.offset += len(chunk)
                self.part += 1
                self.parts_written += 1
                sent += len(chunk)
            self.error = None
            return sent

    def stop(self) -> None:
        """Stop the thread and publish what is left (a StorageError if the store fails)."""
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self.flush()


def pull_segments(store: ObjectStore, prefix: str, folder: Path, *, verify: bool = False) -> int:
    """Every segment below `prefix` into `folder/<stem>.jsonl` (only the parts each lacks);
    returns how many segments got new lines."""
    copied = 0
    for stem, parts in segment_parts(store, prefix).items():
        copied += pull_segment(store, folder / f"{stem}.jsonl", parts, verify=verify) > 0
    return copied


def push_segments(store: ObjectStore, folder: Path, prefix: str, *, verify: bool = False) -> int:
    """Every `folder/*.jsonl` segment's complete lines the store lacks, as new parts below
    `prefix`; returns how many parts were written. With `verify`, the parts both hold are
    compared by sha256."""
    remote = segment_parts(store, prefix)
    written = 0
    for seg in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        data = seg.read_bytes()
        parts = remote.get(seg.stem, [])
        start = 0
        for info in parts:
            if verify:
                check_same(store, info, data[start : start + info.size], seg)
            start += info.size
        if start > len(data):
            raise StorageError(
                f"{seg} is shorter than its parts on the store ({len(data)} < {start} bytes)",
                path=seg,
                hint="copy the store's first (`driftgate store migrate --from`)",
            )
        n = len(parts)
        for chunk in chunks(complete(data[start:])):
            written += put_part(store, f"{prefix.rstrip('/')}/{seg.stem}/{part_name(n)}", chunk)
            n += 1
    return written
