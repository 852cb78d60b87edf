"""Drift state on disk, one folder per monitored configuration (its key):

    .driftgate/drift/<key>/key.json              what the key stands for (suite, models)
    .driftgate/drift/<key>/baseline.json         the run every check compares with
    .driftgate/drift/<key>/checks/<id>.json      one file per check, never rewritten
    .driftgate/drift/<key>/thresholds.json       the latest `drift tune`
    .driftgate/drift/<key>/traffic/<id>.json     one file per `drift traffic` report

Single files written atomically (temp file + rename): a cron job killed mid-write leaves
the previous state, and concurrent checks never share a file. Ids sort by time.

With a shared store (`store:` in the workspace settings) every file is also an object at
`state/drift/<key>/…` (store/mirror.py): a check made on a CI runner is in the history a
teammate reads. Reads fetch what is not here yet; checks and reports, one file per id, are
fetched once; the baseline and thresholds, which are replaced, every time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .._digest import digest
from ..errors import ConfigError
from ..store._atomic import write_atomic
from ..store.mirror import STATE_PREFIX, pull_tree
from ..store.objects import ObjectStore, open_store
from ..workspace import Workspace
from .schema import DriftBaseline, DriftCheck, DriftKey, TrafficReport, TuningReport

M = TypeVar("M", bound=BaseModel)


def new_id(now: float | None = None) -> str:
    """`20261121T223100.123456Z-1a2b`: sortable by time, unique across processes."""
    t = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"
    return f"{stamp}-{secrets.token_hex(2)}"


def drift_key(suite: str | None, models: list[str] | None, suite_data: object = None) -> str:
    """The identity of a monitored configuration: the suite file (or its content) and a
    model override. Editing scorers or golden sets keeps the key (and the history);
    checking other models starts a separate baseline and history."""
    return digest(
        {"suite": suite if suite is not None else suite_data, "models": sorted(models or [])}
    )


PREFIX = f"{STATE_PREFIX}/drift"
_REPLACED = ("baseline.json", "thresholds.json")


def _replaceable(rel: str) -> bool:
    return rel.endswith(_REPLACED)


class DriftStore:
    def __init__(self, root: Path, shared: ObjectStore | None = None) -> None:
        self.root = Path(root)
        self.shared = shared  # the shared store, or None: the local folder alone

    @classmethod
    def for_key(cls, ws: Workspace, key: str) -> DriftStore:
        shared = open_store(ws.settings.store)
        root = ws.state_dir / "drift" / key
        if shared is not None:
            pull_tree(shared, f"{PREFIX}/{key}", root, replaceable=_replaceable)
        return cls(root, shared)

    @staticmethod
    def keys(ws: Workspace) -> list[DriftKey]:
        base = ws.state_dir / "drift"
        shared = open_store(ws.settings.store)
        if shared is not None:  # one listing: every key's files not here yet
            pull_tree(shared, PREFIX, base, replaceable=_replaceable)
        out = []
        for path in sorted(base.glob("*/key.json")) if base.is_dir() else []:
            try:
                out.append(DriftKey.model_validate_json(path.read_bytes()))
            except (ValidationError, OSError):
                continue
        return out

    # ---- single files ------------------------------------------------------------------
    def _read(self, model: type[M], path: Path) -> M | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(
                f"corrupt drift state: {err['msg']}",
                path=path,
                field=".".join(str(p) for p in err["loc"]) or None,
                hint="delete the file (or run with --rebaseline for baseline.json)",
            ) from None

    def _write(self, rel: str, text: str) -> Path:
        """Write one file here and, with a shared store, its object."""
        path = self.root / rel
        write_atomic(path, text)
        if self.shared is not None:
            self.shared.put(f"{PREFIX}/{self.root.name}/{rel}", text.encode())
        return path

    def save_key(self, key: DriftKey) -> None:
        if not (self.root / "key.json").exists():
            self._write("key.json", key.model_dump_json(indent=2))

    def load_baseline(self) -> DriftBaseline | None:
        return self._read(DriftBaseline, self.root / "baseline.json")

    def save_baseline(self, baseline: DriftBaseline) -> None:
        self._write("baseline.json", baseline.model_dump_json())

    def load_thresholds(self) -> TuningReport | None:
        return self._read(TuningReport, self.root / "thresholds.json")

    def save_thresholds(self, report: TuningReport) -> None:
        self._write("thresholds.json", report.model_dump_json(indent=2))

    # ---- append-only collections -------------------------------------------------------
    def save_check(self, check: DriftCheck) -> Path:
        return self._write(f"checks/{check.id}.json", check.model_dump_json(indent=1))

    def checks(self, last: int | None = None) -> list[DriftCheck]:
        """Stored checks, oldest first; unreadable files are skipped (a torn copy, an old
        format) so one bad file never hides the history."""
        return list(self._iter(DriftCheck, "checks", last))

    def save_traffic(self, report: TrafficReport) -> Path:
        return self._write(f"traffic/{report.id}.json", report.model_dump_json(indent=1))

    def traffic_reports(self, last: int | None = None) -> list[TrafficReport]:
        return list(self._iter(TrafficReport, "traffic", last))

    def _iter(self, model: type[M], folder: str, last: int | None) -> Iterator[M]:
        d = self.root / folder
        files = sorted(d.glob("*.json")) if d.is_dir() else []
        if last:
            files = files[-last:]
        for path in files:
            try:
                yield model.model_validate_json(path.read_bytes())
            except (ValidationError, OSError):
                continue
