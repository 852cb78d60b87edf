"""Drift state on disk, one folder per monitored configuration (its key):

    .driftgate/drift/<key>/key.json              what the key stands for (suite, models)
    .driftgate/drift/<key>/baseline.json         the run every check compares with
    .driftgate/drift/<key>/checks/<id>.json      one file per check, never rewritten
    .driftgate/drift/<key>/thresholds.json       the latest `drift tune`
    .driftgate/drift/<key>/traffic/<id>.json     one file per `drift traffic` report

Single files written atomically (temp file + rename): a cron job killed mid-write leaves
the previous state, and concurrent checks never share a file. Ids sort by time.
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


class DriftStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_key(cls, ws: Workspace, key: str) -> DriftStore:
        return cls(ws.state_dir / "drift" / key)

    @staticmethod
    def keys(ws: Workspace) -> list[DriftKey]:
        base = ws.state_dir / "drift"
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

    def save_key(self, key: DriftKey) -> None:
        if not (self.root / "key.json").exists():
            write_atomic(self.root / "key.json", key.model_dump_json(indent=2))

    def load_baseline(self) -> DriftBaseline | None:
        return self._read(DriftBaseline, self.root / "baseline.json")

    def save_baseline(self, baseline: DriftBaseline) -> None:
        write_atomic(self.root / "baseline.json", baseline.model_dump_json())

    def load_thresholds(self) -> TuningReport | None:
        return self._read(TuningReport, self.root / "thresholds.json")

    def save_thresholds(self, report: TuningReport) -> None:
        write_atomic(self.root / "thresholds.json", report.model_dump_json(indent=2))

    # ---- append-only collections -------------------------------------------------------
    def save_check(self, check: DriftCheck) -> Path:
        path = self.root / "checks" / f"{check.id}.json"
        write_atomic(path, check.model_dump_json(indent=1))
        return path

    def checks(self, last: int | None = None) -> list[DriftCheck]:
        """Stored checks, oldest first; unreadable files are skipped (a torn copy, an old
        format) so one bad file never hides the history."""
        return list(self._iter(DriftCheck, "checks", last))

    def save_traffic(self, report: TrafficReport) -> Path:
        path = self.root / "traffic" / f"{report.id}.json"
        write_atomic(path, report.model_dump_json(indent=1))
        return path

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
