"""Where a finished run's Parquet export lives: a hive-partitioned layout any engine reads.

    runs/_parquet/suite=<suite>/date=<YYYY-MM-DD>/run=<run id>/results.parquet

`suite` is the manifest's `suite` (the suite file, relative to the workspace; a run of a suite
made in code has none: `__HIVE_DEFAULT_PARTITION__`, which Hive, Spark, Trino, DuckDB and
pyarrow read as NULL), `date` the UTC day the run was created (stable however late it is
resumed or its last shard finishes), `run` its id. Values are percent-encoded (UTF-8 bytes
outside `A-Z a-z 0-9 . _ -`, as Hive escapes path names), so a `/` or `=` in a suite path never
makes a folder or a key; every reader above decodes them.

The folder's name starts with `_`: run ids never do, and every reader of `runs/` keeps only
folders holding a `manifest.json`, so the layout is never taken for a run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

EXPORT_DIR = "_parquet"
EXPORT_FILE = "results.parquet"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def escape_partition(value: str | None) -> str:
    """A partition value as a path segment: NULL's marker, or the value percent-encoded."""
    if value is None or value == "":
        return NULL_PARTITION
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in value.encode())


def export_path(runs_dir: Path, run_id: str, suite: str | None, created_at: float) -> Path:
    """The export file of one run (whether written or not)."""
    day = time.strftime("%Y-%m-%d", time.gmtime(created_at))
    return (
        Path(runs_dir)
        / EXPORT_DIR
        / f"suite={escape_partition(suite)}"
        / f"date={day}"
        / f"run={escape_partition(run_id)}"
        / EXPORT_FILE
    )


def manifest_fields(run_dir: Path) -> dict[str, Any] | None:
    """The raw manifest of a run folder (None when unreadable): read without validation, as
    queries do, so one odd manifest never stops the others."""
    try:
        data = json.loads((run_dir / "manifest.json").read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def export_of(run_dir: Path, fields: dict[str, Any] | None = None) -> Path | None:
    """The export path of the run in `run_dir`, if its manifest names what it needs."""
    fields = fields if fields is not None else manifest_fields(run_dir)
    if not fields or not isinstance(fields.get("created_at"), int | float):
        return None
    suite = fields.get("suite")
    return export_path(
        run_dir.parent,
        run_dir.name,
        suite if isinstance(suite, str) else None,
        fields["created_at"],
    )


def up_to_date(copy: Path, run_dir: Path) -> bool:
    """`copy` exists and is no older than the run's manifest and every segment: a resume
    (new or rewritten segments) or a run finished again makes it stale."""
    try:
        built = copy.stat().st_mtime_ns
        sources = [run_dir / "manifest.json", *(run_dir / "results").glob("*.jsonl")]
        return all(p.stat().st_mtime_ns <= built for p in sources)
    except FileNotFoundError:
        return False


def fresh_export(run_dir: Path) -> Path | None:
    """The run's export when it is finished and its export is up to date, else None."""
    fields = manifest_fields(run_dir)
    if not fields or fields.get("status") != "finished":
        return None
    path = export_of(run_dir, fields)
    return path if path is not None and up_to_date(path, run_dir) else None
