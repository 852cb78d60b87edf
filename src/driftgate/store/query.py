"""DuckDB over every stored run: SQL for history, drift and ad-hoc questions.

Two views, built over the files on disk (nothing is copied, no database file is written,
so any number of processes can query while others write):

    runs     one row per run manifest
    results  one row per stored result, from every run's JSONL segments

    >>> con = connect(workspace)
    >>> con.sql("select prompt, model, avg(passed::int) from results group by all").fetchall()

A torn last line left by a killed writer is skipped (`ignore_errors`); duplicates across a
resumed run's segments are removed by key, as in `RunStore.iter_raw`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Explicit columns: DuckDB then never has to guess types from a sample of rows, and fields
# whose shape varies by case (expected, parsed, scores) stay JSON.
RESULT_COLUMNS = {
    "run_id": "VARCHAR",
    "key": "VARCHAR",
    "evalset": "VARCHAR",
    "case_id": "VARCHAR",
    "segment": "VARCHAR",
    "tags": "VARCHAR[]",
    "prompt": "VARCHAR",
    "prompt_digest": "VARCHAR",
    "model": "VARCHAR",
    "repeat": "INTEGER",
    "expected": "JSON",
    "output": "VARCHAR",
    "parsed": "JSON",
    "parse_error": "VARCHAR",
    "scores": "JSON",
    "score": "DOUBLE",
    "passed": "BOOLEAN",
    "error": "VARCHAR",
    "error_kind": "VARCHAR",
    "attempts": "INTEGER",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "cost_usd": "DOUBLE",
    "latency_ms": "DOUBLE",
    "cached": "BOOLEAN",
    "fingerprint": "VARCHAR",
    "ts": "DOUBLE",
}


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def connect(runs_dir: Path | str, *, threads: int | None = None, compact: bool = True) -> Any:
    """An in-memory DuckDB connection with `runs` and `results` views over `runs_dir`.

    Finished runs are read from `results.parquet`, a columnar copy of their JSONL segments
    made the first time they are queried (`compact_run`); runs still in progress are read
    from their segments directly.
    """
    import duckdb

    runs_dir = Path(runs_dir)
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    parquet: list[str] = []
    jsonl: list[str] = []
    for run in _run_dirs(runs_dir):
        pq = run / "results.parquet"
        if compact and _is_final(run) and not _fresh(pq, run):
            compact_run(run, con=con)
        if pq.exists() and _fresh(pq, run):
            parquet.append(str(pq))
        else:
            jsonl.extend(str(p) for p in sorted((run / "results").glob("*.jsonl")))
    parts = []
    if parquet:
        parts.append(f"SELECT * FROM read_parquet({_sql_list(parquet)})")
    if jsonl:
        parts.append(_dedup_jsonl_sql(jsonl))
    if parts:
        con.execute("CREATE VIEW results AS " + " UNION ALL ".join(parts))
    else:
        cols = ", ".join(f"NULL::{t} AS {_quote(k)}" for k, t in RESULT_COLUMNS.items())
        con.execute(f"CREATE VIEW results AS SELECT {cols} WHERE false")
    manifests = str(runs_dir / "*" / "manifest.json")
    if any(runs_dir.glob("*/manifest.json")):
        con.execute(
            f"""CREATE VIEW runs AS
            SELECT id, status, verdict, suite, suite_digest, description,
                   to_timestamp(created_at) AS created_at, to_timestamp(finished_at) AS finished_at,
                   git_revision, git_dirty, planned,
                   summary.results AS results, summary.pass_rate AS pass_rate,
                   summary.error_rate AS error_rate, summary.cost_usd AS cost_usd,
                   prompts, models, evalsets
            FROM read_json({_sql_str(manifests)}, format='auto', union_by_name=true)"""
        )
    else:
        con.execute(
            "CREATE VIEW runs AS SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS status, "
            "NULL::VARCHAR AS verdict WHERE false"
        )
    return con


def compact_run(run_dir: Path, *, con: Any = None) -> Path | None:
    """Write `results.parquet` for one run from its segments (atomically); None if empty."""
    import os

    segments = sorted((run_dir / "results").glob("*.jsonl"))
    if not segments:
        return None
    if con is None:
        import duckdb

        con = duckdb.connect(":memory:")
    target = run_dir / "results.parquet"
    tmp = run_dir / f".results.{os.getpid()}.parquet.tmp"
    con.execute(
        f"COPY ({_dedup_jsonl_sql([str(p) for p in segments])}) TO {_sql_str(str(tmp))} "
        "(FORMAT parquet, COMPRESSION zstd)"
    )
    os.replace(tmp, target)  # concurrent compactions write the same content: last one wins
    return target


def _dedup_jsonl_sql(files: list[str]) -> str:
    columns = (
        "{" + ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in RESULT_COLUMNS.items()) + "}"
    )
    return f"""SELECT * EXCLUDE (rn) FROM (
          SELECT *, row_number() OVER (PARTITION BY run_id, key ORDER BY ts) AS rn
          FROM read_json({_sql_list(files)}, format='newline_delimited', columns={columns},
                         ignore_errors=true)
          WHERE key IS NOT NULL  -- a torn line reads as a row of NULLs
        ) WHERE rn = 1"""


def _run_dirs(runs_dir: Path) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir() if (p / "manifest.json").exists())


def _is_final(run: Path) -> bool:
    import json

    try:
        status = json.loads((run / "manifest.json").read_bytes()).get("status")
    except (OSError, ValueError):
        return False
    return status in ("finished", "failed")


def _fresh(parquet: Path, run: Path) -> bool:
    """The Parquet copy exists and is newer than every segment (a resume adds segments)."""
    try:
        built = parquet.stat().st_mtime_ns
    except FileNotFoundError:
        return False
    return all(seg.stat().st_mtime_ns <= built for seg in (run / "results").glob("*.jsonl"))


def _sql_list(items: list[str]) -> str:
    return "[" + ", ".join(_sql_str(i) for i in items) + "]"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def query(runs_dir: Path | str, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one SQL statement over the views; returns (column names, rows)."""
    import duckdb

    from ..errors import DriftgateError

    con = connect(runs_dir)
    try:
        rel = con.sql(sql)
    except duckdb.Error as exc:
        raise DriftgateError(f"query failed: {exc}", hint="tables: runs, results") from None
    if rel is None:
        return [], []
    return list(rel.columns), rel.fetchall()


def pass_rate_history(
    runs_dir: Path | str, *, prompt: str | None = None, model: str | None = None
) -> list[dict[str, Any]]:
    """Pass rate per run and arm over time: the history a drift chart or a gate looks at."""
    con = connect(runs_dir)
    where, params = [], []
    if prompt:
        where.append("prompt = ?")
        params.append(prompt)
    if model:
        where.append("model = ?")
        params.append(model)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = con.execute(
        f"""SELECT run_id, prompt, model, count(*) AS n, avg(passed::INT) AS pass_rate,
                   avg(CASE WHEN error IS NULL THEN 0 ELSE 1 END) AS error_rate,
                   min(ts) AS started
            FROM results {clause} GROUP BY run_id, prompt, model ORDER BY started""",
        params,
    ).fetchall()
    keys = ["run_id", "prompt", "model", "n", "pass_rate", "error_rate", "started"]
    return [dict(zip(keys, r, strict=True)) for r in rows]
