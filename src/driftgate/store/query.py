"""DuckDB over every stored run: SQL for history, drift and ad-hoc questions.

Two views, built over the files on disk (nothing is copied, no database file is written,
so any number of processes can query while others write):

    runs     one row per run manifest
    results  one row per stored result: finished runs from their Parquet export
             (`runs/_parquet/suite=…/date=…/run=…/results.parquet`, store/export.py),
             other final runs from a `results.parquet` copy in their folder, runs in
             progress from their JSONL segments

    >>> con = connect(workspace)
    >>> con.sql("select prompt, model, avg(passed::int) from results group by all").fetchall()

A torn last line left by a killed writer is skipped (`ignore_errors`); duplicates across a
resumed run's segments are removed by key, as in `RunStore.iter_raw`. A result line of any
size is read (`maximum_object_size` is raised to the longest line of the files read), and a
run whose files cannot be read is left out with a warning naming it, never failing the
queries over the others.

`query` (what `driftgate query` runs) is confined: it reads the runs folder and nothing
else (DuckDB's `enable_external_access=false` with `allowed_directories` = the runs folder,
extensions neither installed nor loaded, the configuration locked) and writes nothing (one
SELECT or EXPLAIN statement: no COPY, ATTACH, INSTALL or SET). `connect` is the library's
unconfined connection for callers that bring their own SQL.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DriftgateError
from ._layout import EXPORT_DIR, fresh_export

# DuckDB's default `maximum_object_size`: a file no larger than this cannot hold a longer
# line, so only bigger files are scanned for their longest one.
DUCKDB_MAX_OBJECT = 16 * 1024 * 1024

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
    "tool_calls": "JSON",  # absent from lines written before tool calls were kept: NULL
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


def connect(
    runs_dir: Path | str,
    *,
    threads: int | None = None,
    compact: bool = True,
    probe: bool = False,
) -> Any:
    """An in-memory DuckDB connection with `runs` and `results` views over `runs_dir`.

    Finished runs are read from `results.parquet`, a columnar copy of their JSONL segments
    made the first time they are queried (`compact_run`); runs still in progress are read
    from their segments directly. A run whose copy cannot be built is left out with a
    warning; `probe` also reads every other run once and leaves out those that fail (what
    `query` does after a query failed reading files).
    """
    import duckdb

    runs_dir = Path(runs_dir)
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    parquet: list[str] = []
    exported: list[str] = []
    jsonl: list[str] = []
    for run in _run_dirs(runs_dir):
        try:
            pq, segments = _sources(con, run, compact=compact, probe=probe)
        except duckdb.Error as exc:
            _skip(run, exc)
            continue
        if pq is not None:
            (exported if pq.startswith(str(runs_dir / EXPORT_DIR)) else parquet).append(pq)
        jsonl.extend(segments)
    # Every column, typed, first; the files join by name, so a Parquet copy made before a
    # column existed (`tool_calls`) reads it as NULL instead of failing the whole view.
    cols = ", ".join(f"NULL::{t} AS {_quote(k)}" for k, t in RESULT_COLUMNS.items())
    parts = [f"SELECT {cols} WHERE false"]
    if parquet:
        parts.append(f"SELECT * FROM read_parquet({_sql_list(parquet)}, union_by_name=true)")
    if exported:
        parts.append(_exported_sql(exported))
    if jsonl:
        parts.append(_dedup_jsonl_sql(jsonl))
    try:
        con.execute("CREATE VIEW results AS " + " UNION ALL BY NAME ".join(parts))
    except duckdb.Error:
        if probe or len(parts) == 1:
            raise
        # Binding reads the files' names: a run's damaged folder fails it for all.
        return connect(runs_dir, threads=threads, compact=compact, probe=True)
    _runs_view(con, runs_dir)
    return con


def _sources(con: Any, run: Path, *, compact: bool, probe: bool) -> tuple[str | None, list[str]]:
    """(the run's Parquet copy, or None; its segments when read from JSONL). Raises
    duckdb.Error when the copy cannot be built, or (`probe`) the run cannot be read.

    A finished run's up-to-date export (`runs/_parquet/...`, store/export.py) is its copy;
    other final runs get `results.parquet` in their folder, built here."""
    exported = fresh_export(run)
    if exported is not None:
        if probe:
            con.execute(f"SELECT count(*) FROM read_parquet({_sql_str(str(exported))})").fetchall()
        return str(exported), []
    pq = run / "results.parquet"
    if compact and _is_final(run) and not _fresh(pq, run):
        compact_run(run, con=con)
    if pq.exists() and _fresh(pq, run):
        if probe:
            con.execute(f"SELECT count(*) FROM read_parquet({_sql_str(str(pq))})").fetchall()
        return str(pq), []
    segments = [str(p) for p in sorted((run / "results").glob("*.jsonl"))]
    if probe and segments:
        con.execute(f"SELECT count(*) FROM ({_dedup_jsonl_sql(segments)})").fetchall()
    return None, segments


def _exported_sql(files: list[str]) -> str:
    """The exports read back as the view's rows: their JSON text columns typed JSON again,
    the partition folders not read as columns (they are in the rows already)."""
    typed = ", ".join(
        f"{_quote(k)}::JSON AS {_quote(k)}" for k, t in RESULT_COLUMNS.items() if t == "JSON"
    )
    return (
        f"SELECT * REPLACE ({typed}) FROM read_parquet({_sql_list(files)}, "
        "union_by_name=true, hive_partitioning=false)"
    )


def _skip(run: Path, exc: Exception) -> None:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    warnings.warn(
        f"run {run.name} left out of the query: its results cannot be read ({first}); "
        f"check or move the files in {run / 'results'} (a torn or damaged segment), "
        f"then delete {run / 'results.parquet'} if present to rebuild its copy",
        stacklevel=3,
    )


def _runs_view(con: Any, runs_dir: Path) -> None:
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


def compact_run(run_dir: Path, *, con: Any = None) -> Path | None:
    """Write `results.parquet` for one run from its segments (atomically); None if empty."""
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
                         ignore_errors=true, maximum_object_size={max_object_size(files)})
          WHERE key IS NOT NULL  -- a torn line reads as a row of NULLs
        ) WHERE rn = 1"""


def max_object_size(files: list[str]) -> int:
    """A `maximum_object_size` that covers the longest line of `files` (DuckDB's default
    when none is longer). A line over the limit made the run's Parquet copy, and with it
    every query of the workspace, fail (issue #16 item 2)."""
    limit = DUCKDB_MAX_OBJECT
    for name in files:
        try:
            size = os.stat(name).st_size
        except OSError:
            continue  # gone, or not a file: DuckDB says so when it reads it
        if size > limit:
            limit = max(limit, _longest_line(name) + 1)
    return limit


def _longest_line(name: str, chunk: int = 8 * 1024 * 1024) -> int:
    longest = current = 0
    with open(name, "rb") as f:
        while block := f.read(chunk):
            start = 0
            while (nl := block.find(b"\n", start)) >= 0:
                longest = max(longest, current + nl - start)
                current, start = 0, nl + 1
            current += len(block) - start
    return max(longest, current)


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


# What `query` accepts: reading statements only (DESCRIBE, SHOW and SUMMARIZE are SELECTs).
_READ_ONLY = ("SELECT", "EXPLAIN")
# Errors in the statement itself; any other failure may be a run's files, so the views are
# rebuilt leaving out the runs that cannot be read, and the query is tried once more.
_STATEMENT_ERRORS = ("ParserException", "BinderException", "CatalogException",
                     "PermissionException", "ConversionException")  # fmt: skip


def confine(con: Any, runs_dir: Path | str) -> None:
    """Let `con` read files under `runs_dir` only, install and load nothing, and never
    change that (DuckDB's own settings; the configuration is locked last)."""
    root = str(Path(runs_dir).resolve()).rstrip("/") + "/"
    con.execute(f"SET allowed_directories = [{_sql_str(root)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def query(runs_dir: Path | str, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one reading SQL statement over the views; returns (column names, rows).

    Confined (module doc): files outside `runs_dir` cannot be read and nothing is written."""
    import duckdb

    con = connect(runs_dir)
    _check_read_only(con, sql)
    confine(con, runs_dir)
    try:
        rel = con.sql(sql)
        out = ([], []) if rel is None else (list(rel.columns), rel.fetchall())
    except duckdb.Error as exc:
        if type(exc).__name__ in _STATEMENT_ERRORS:
            raise _failed(exc) from None
        con = connect(runs_dir, probe=True)  # a run's files broke it: leave those out
        confine(con, runs_dir)
        try:
            rel = con.sql(sql)
            out = ([], []) if rel is None else (list(rel.columns), rel.fetchall())
        except duckdb.Error as again:
            raise _failed(again) from None
    return out


def _failed(exc: Exception) -> DriftgateError:
    hint = "tables: runs, results"
    if type(exc).__name__ == "PermissionException":
        hint = "query reads only the workspace's runs folder (the views runs, results)"
    return DriftgateError(f"query failed: {exc}", hint=hint)


def _check_read_only(con: Any, sql: str) -> None:
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise _failed(exc) from None
    if len(statements) != 1:
        raise ConfigError(
            f"query takes one SQL statement, got {len(statements)}",
            hint="run them one at a time",
        )
    kind = statements[0].type.name
    if kind not in _READ_ONLY:
        raise ConfigError(
            f"query only reads: a {kind} statement is not allowed",
            hint="use SELECT (or EXPLAIN, DESCRIBE, SUMMARIZE); to keep the rows, "
            "`driftgate query --json SQL > FILE`",
        )


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
