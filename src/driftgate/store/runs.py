"""Runs on disk: one folder per run, a manifest, and append-only result segments.

    runs/<run-id>/manifest.json            rewritten atomically (temp file + rename)
    runs/<run-id>/results/<writer>.jsonl   one segment per writing process, appended

Every process that writes results opens its own segment, so parallel runs, resumed runs and
CI jobs never interleave bytes in one file. A result line is flushed as soon as the case
completes; a process killed mid-write leaves at most one torn last line, which readers
skip. DuckDB reads all segments of all runs through a glob (see `store/query.py`).
"""

from __future__ import annotations

import builtins
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError
from ..errors import RunNotFound as RunNotFound  # defined there, re-exported
from ._atomic import write_atomic
from .records import CaseResult, RunManifest


def new_run_id(now: float | None = None) -> str:
    """Sortable by time, unique across processes: 20261121-223100-1a2b3c."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now or time.time()))
    return f"{stamp}-{secrets.token_hex(3)}"


def _interrupted_if_orphaned(manifest: RunManifest) -> RunManifest:
    """A run still `running` whose writing process on this host is gone was killed: it reads
    as `interrupted` (resumable with `run --resume`). A run written elsewhere keeps its status:
    its process cannot be checked from here."""
    pid, host = manifest.writer_pid, manifest.writer_host
    if manifest.status == "running" and pid and host == socket.gethostname():
        if not _alive(pid):
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
    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)

    # ---- manifests -------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def create(self, manifest: RunManifest) -> Path:
        d = self.run_dir(manifest.id)
        (d / "results").mkdir(parents=True, exist_ok=False)  # a collision is a bug: fail
        self.save(manifest)
        return d

    def save(self, manifest: RunManifest) -> None:
        if manifest.status == "running":
            # Whoever saves a running run is writing it: a reader on this host can then tell
            # a run whose process died (killed, crashed) from one still going.
            manifest.writer_pid, manifest.writer_host = os.getpid(), socket.gethostname()
        write_atomic(
            self.run_dir(manifest.id) / "manifest.json", manifest.model_dump_json(indent=2)
        )

    def load(self, run_id: str) -> RunManifest:
        path = self.run_dir(self.resolve_id(run_id)) / "manifest.json"
        try:
            return _interrupted_if_orphaned(RunManifest.model_validate_json(path.read_bytes()))
        except FileNotFoundError:
            raise RunNotFound(f"run {run_id!r} not found in {self.runs_dir}") from None
        except ValueError as exc:
            raise ConfigError(f"corrupt run manifest: {exc}", path=path) from None

    def resolve_id(self, run_id: str) -> str:
        """Accept a full id, a unique prefix, or `latest`."""
        if (self.runs_dir / run_id / "manifest.json").exists():
            return run_id
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
        return ResultWriter(self.run_dir(run_id) / "results")

    # `builtins.list`: inside the class body `list` is the method above.
    def segments(self, run_id: str) -> builtins.list[Path]:
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


# json.dumps(record, ensure_ascii=False, default=str), without building an encoder per line.
_RECORD_JSON = json.JSONEncoder(ensure_ascii=False, default=str).encode


class ResultWriter:
    """Appends result lines to this process's own segment; each line is flushed at once."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{secrets.token_hex(2)}.jsonl"
        self.path = folder / name
        self._fh: IO[bytes] | None = self.path.open("ab", buffering=0)
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        assert self._fh is not None, "writer is closed"
        # One write() of a whole line: a kill leaves whole lines plus at most one torn tail.
        self._fh.write((_RECORD_JSON(record) + "\n").encode())
        self.count += 1

    def write_many(self, records: list[dict[str, Any]]) -> None:
        """Append several lines in one write() (still whole lines only, as `write`): for
        results that are cheap to recompute, such as answers served from the cache."""
        assert self._fh is not None, "writer is closed"
        if records:
            self._fh.write("".join([_RECORD_JSON(r) + "\n" for r in records]).encode())
            self.count += len(records)

    def close(self) -> None:
        if self._fh is not None:
            try:
                os.fsync(self._fh.fileno())
            except OSError:
                pass
            self._fh.close()
            self._fh = None

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
