"""Finished runs as Parquet in a hive-partitioned layout (see `_layout`) that DuckDB, Spark,
Trino, pyarrow and pandas read without driftgate:

    SELECT suite, date, run, avg(passed::INT)
    FROM read_parquet('runs/_parquet/**/*.parquet', hive_partitioning = true) GROUP BY ALL

One file per run, one row per result (the `results` view's columns, `RESULT_COLUMNS`; the
fields whose shape varies by case, `expected`, `tool_calls`, `parsed` and `scores`, are JSON
text in plain UTF-8 string columns, which every engine reads). A run is exported when it
finishes (`engine.runner`), and `driftgate runs export` exports the runs finished before.
Only `finished` runs are: a running, interrupted or failed run may still change.

Each file is written to a temporary name beside it and renamed, so a reader sees a whole
file or none; an export that is up to date (no newer segment or manifest) is not rewritten.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StorageError
from ._layout import export_of, manifest_fields, up_to_date
from .query import RESULT_COLUMNS, _dedup_jsonl_sql, _sql_str

# Columns kept as JSON text in the export (DuckDB's JSON type is a Parquet logical type that
# not every engine maps; a string column every one reads).
JSON_COLUMNS = tuple(k for k, t in RESULT_COLUMNS.items() if t == "JSON")


@dataclass
class ExportReport:
    """What `export_runs` did: run ids written, already up to date, and not exported (not
    finished, or no results), with why."""

    written: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def export_run(run_dir: Path, *, con: Any = None) -> tuple[Path | None, str]:
    """Export one run; returns (its export path or None, what happened: `written`,
    `up to date`, or why it was not exported)."""
    fields = manifest_fields(run_dir)
    if fields is None:
        return None, "no readable manifest"
    status = fields.get("status")
    if status != "finished":
        return None, f"status {status}: only finished runs are exported"
    target = export_of(run_dir, fields)
    segments = sorted((run_dir / "results").glob("*.jsonl"))
    if target is None or not segments:
        return None, "no results" if target is not None else "manifest without created_at"
    if up_to_date(target, run_dir):
        return target, "up to date"
    _write(target, segments, con)
    return target, "written"


def _write(target: Path, segments: list[Path], con: Any) -> None:
    if con is None:
        import duckdb

        con = duckdb.connect(":memory:")
    as_text = ", ".join(f"{c}::VARCHAR AS {c}" for c in JSON_COLUMNS)
    rows = f"SELECT * REPLACE ({as_text}) FROM ({_dedup_jsonl_sql([str(p) for p in segments])})"
    tmp = target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"COPY ({rows} ORDER BY evalset, case_id, prompt, model, repeat) "
            f"TO {_sql_str(str(tmp))} (FORMAT parquet, COMPRESSION zstd)"
        )
        os.replace(tmp, target)  # two exporters write the same rows: the last rename wins
    except OSError as exc:
        raise StorageError.from_os_error(exc, target, run_id=target.parent.name[4:]) from None
    finally:
        tmp.unlink(missing_ok=True)


def export_runs(runs_dir: Path, run_ids: list[str] | None = None) -> ExportReport:
    """Export every finished run of `runs_dir` (or those named) that is not up to date."""
    import duckdb

    con = duckdb.connect(":memory:")
    report = ExportReport()
    ids = run_ids if run_ids is not None else _run_ids(runs_dir)
    for run_id in ids:
        path, what = export_run(Path(runs_dir) / run_id, con=con)
        if what == "written":
            report.written.append(run_id)
        elif what == "up to date":
            report.up_to_date.append(run_id)
        else:
            report.skipped[run_id] = what
    return report


def _run_ids(runs_dir: Path) -> list[str]:
    if not Path(runs_dir).is_dir():
        return []
    return sorted(p.name for p in Path(runs_dir).iterdir() if (p / "manifest.json").is_file())
