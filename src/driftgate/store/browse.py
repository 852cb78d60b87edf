"""Paging through stored runs and one run's cases, for people looking rather than querying.

    page = list_runs(runs_dir, RunFilter(suite="categorize"), offset=0, limit=50)
    cases = case_page(runs_dir, run_id, CaseFilter(status="failed", search="bank"))

Both page on the server and never load a whole run: the runs list reads manifests (cached
by file and modification time, so a page over 1,000 runs reads only what changed), a run's
cases are one DuckDB query over its Parquet copy (or its segments while it runs) with
LIMIT/OFFSET. One case in full (`case_detail`, with its rendered messages and every score)
is read by key. What `driftgate ui` shows; the CLI's `runs` and `show` read the same store.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ._layout import fresh_export
from .query import (
    RESULT_COLUMNS,
    _dedup_jsonl_sql,
    _exported_sql,
    _fresh,
    _is_final,
    _sql_str,
    compact_run,
)
from .records import CaseResult, RunManifest
from .runs import RunStore

CaseStatus = Literal["all", "passed", "failed", "errored", "flipped"]
CASE_STATUSES: tuple[str, ...] = ("all", "passed", "failed", "errored", "flipped")
MAX_PAGE = 500  # rows per page: what a browser shows at once


@dataclass(slots=True)
class RunFilter:
    """Which runs to list: each field narrows (None: any)."""

    suite: str | None = None
    prompt: str | None = None  # a prompt name or NAME@VERSION the run evaluated
    model: str | None = None
    status: str | None = None  # running, finished, failed, interrupted
    since: float | None = None  # created at or after (unix time)
    until: float | None = None  # created before

    def matches(self, m: RunManifest) -> bool:
        if self.suite and (m.suite or "") != self.suite:
            return False
        if self.status and m.status != self.status:
            return False
        if self.prompt and not any(self.prompt in (p.ref, p.name) for p in m.prompts):
            return False
        if self.model and not any(self.model in (md.get("label"), md.get("id")) for md in m.models):
            return False
        if self.since is not None and m.created_at < self.since:
            return False
        return self.until is None or m.created_at < self.until


@dataclass(slots=True)
class RunsPage:
    runs: list[RunManifest]
    total: int  # runs matching the filter
    offset: int
    limit: int
    # Values seen across every stored run, for the filter menus.
    suites: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


class _ManifestCache:
    """Parsed manifests keyed by path, re-read only when the file changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[Path, tuple[int, int, RunManifest]] = {}

    def load(self, path: Path) -> RunManifest | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._items.get(path)
        if hit is not None and hit[:2] == stamp:
            return hit[2]
        try:
            manifest = RunManifest.model_validate_json(path.read_bytes())
        except (OSError, ValueError):
            return None  # being replaced, or damaged: `driftgate runs` names it
        with self._lock:
            self._items[path] = (*stamp, manifest)
        return manifest


_MANIFESTS = _ManifestCache()


def list_runs(
    runs_dir: Path, filt: RunFilter | None = None, *, offset: int = 0, limit: int = 50
) -> RunsPage:
    """Runs matching `filt`, newest first, one page of them."""
    filt = filt or RunFilter()
    limit = max(1, min(limit, MAX_PAGE))
    store = RunStore(runs_dir)
    manifests = [
        m
        for run_id in store.ids()
        if (m := _MANIFESTS.load(store.run_dir(run_id) / "manifest.json")) is not None
    ]
    # Newest first by start time: ids made in the same second sort by their random suffix.
    manifests.sort(key=lambda m: (m.created_at, m.id), reverse=True)
    matching = [m for m in manifests if filt.matches(m)]
    return RunsPage(
        runs=matching[offset : offset + limit],
        total=len(matching),
        offset=offset,
        limit=limit,
        suites=sorted({m.suite for m in manifests if m.suite}),
        prompts=sorted({p.ref for m in manifests for p in m.prompts}),
        models=sorted({str(md.get("label") or md.get("id")) for m in manifests for md in m.models}),
    )


@dataclass(slots=True)
class CaseFilter:
    status: CaseStatus = "all"
    search: str | None = None  # in the case id, output or expected answer (case-insensitive)
    arm: str | None = None  # "PROMPT · MODEL"
    segment: str | None = None


@dataclass(slots=True)
class CasesPage:
    rows: list[dict[str, Any]]  # key, case_id, evalset, segment, prompt, model, repeat, ...
    total: int
    offset: int
    limit: int
    arms: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)


def _source_sql(run_dir: Path) -> str:
    """The run's results as a DuckDB relation: its Parquet copy when finished (built the
    first time, as `driftgate query` does), else its segments."""
    exported = fresh_export(run_dir)  # a finished run's export is its copy (store/export.py)
    if exported is not None:
        return f"({_exported_sql([str(exported)])})"
    pq = run_dir / "results.parquet"
    if _is_final(run_dir) and not _fresh(pq, run_dir):
        compact_run(run_dir)
    if pq.exists() and _fresh(pq, run_dir):
        return f"read_parquet({_sql_str(str(pq))})"
    segments = [str(p) for p in sorted((run_dir / "results").glob("*.jsonl"))]
    if not segments:
        cols = ", ".join(f'NULL::{t} AS "{k}"' for k, t in RESULT_COLUMNS.items())
        return f"(SELECT {cols} WHERE false)"
    return f"({_dedup_jsonl_sql(segments)})"


_ARM = "prompt || ' · ' || model"
_CASE = "evalset || '|' || case_id || '|' || repeat::VARCHAR"


def _where(filt: CaseFilter) -> tuple[str, list[Any]]:
    clauses, params = ["true"], []
    if filt.status == "passed":
        clauses.append("passed AND error IS NULL")
    elif filt.status == "failed":
        clauses.append("NOT passed AND error IS NULL")
    elif filt.status == "errored":
        clauses.append("error IS NOT NULL")
    elif filt.status == "flipped":
        # A case the run's arms disagree on (one passed, another did not).
        clauses.append(
            f"{_CASE} IN (SELECT {_CASE} FROM r GROUP BY ALL HAVING count(DISTINCT passed) > 1)"
        )
    if filt.search:
        clauses.append(
            "(case_id ILIKE ? OR coalesce(output, '') ILIKE ? "
            "OR coalesce(expected::VARCHAR, '') ILIKE ?)"
        )
        params += [f"%{filt.search}%"] * 3
    if filt.arm:
        clauses.append(f"{_ARM} = ?")
        params.append(filt.arm)
    if filt.segment:
        clauses.append("segment = ?")
        params.append(filt.segment)
    return " AND ".join(clauses), params


def case_page(
    runs_dir: Path,
    run_id: str,
    filt: CaseFilter | None = None,
    *,
    offset: int = 0,
    limit: int = 50,
) -> CasesPage:
    """One page of a run's results matching `filt`, ordered by case, then arm."""
    import duckdb

    filt = filt or CaseFilter()
    if filt.status not in CASE_STATUSES:
        raise ConfigError(
            f"unknown case filter {filt.status!r}", hint="one of: " + ", ".join(CASE_STATUSES)
        )
    limit = max(1, min(limit, MAX_PAGE))
    run_dir = RunStore(runs_dir).run_dir(run_id)
    con = duckdb.connect(":memory:")
    con.execute(f"CREATE VIEW r AS SELECT * FROM {_source_sql(run_dir)}")
    where, params = _where(filt)
    total = con.execute(f"SELECT count(*) FROM r WHERE {where}", params).fetchone()
    columns = {c for (c, *_) in con.execute("DESCRIBE r").fetchall()}
    # A Parquet copy made before tool calls were kept has no such column.
    calls = "tool_calls::VARCHAR" if "tool_calls" in columns else "NULL::VARCHAR"
    cur = con.execute(
        f"""SELECT key, evalset, case_id, segment, prompt, model, repeat, expected::VARCHAR AS expected,
                   output, {calls} AS tool_calls, passed, score, error, error_kind, latency_ms,
                   cost_usd
            FROM r WHERE {where}
            ORDER BY evalset, case_id, repeat, prompt, model LIMIT ? OFFSET ?""",
        [*params, limit, max(0, offset)],
    )
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    for row in rows:
        row["expected"] = _json_or_none(row["expected"])
        row["tool_calls"] = _json_or_none(row["tool_calls"])
    arms = [a for (a,) in con.execute(f"SELECT DISTINCT {_ARM} FROM r ORDER BY 1").fetchall()]
    segments = [
        s
        for (s,) in con.execute(
            "SELECT DISTINCT segment FROM r WHERE segment IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
    return CasesPage(
        rows=rows,
        total=int(total[0]) if total else 0,
        offset=offset,
        limit=limit,
        arms=arms,
        segments=segments,
    )


def _json_or_none(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def case_detail(runs_dir: Path, run_id: str, key: str) -> CaseResult:
    """One result in full (rendered messages, every score and its reason), by key. The
    first stored line wins, as in `RunStore.iter_raw`; lines without the key's text are
    not parsed, so a 100,000-case run is one pass over its bytes."""
    store = RunStore(runs_dir)
    needle = json.dumps(key, ensure_ascii=False).encode()
    for seg in store.segments(run_id):
        with seg.open("rb") as fh:
            for line in fh:
                if needle not in line or not line.endswith(b"\n"):
                    continue
                try:
                    raw = json.loads(line)
                except ValueError:
                    continue
                if raw.get("key") == key:
                    return CaseResult.model_validate(raw)
    raise ConfigError(f"run {run_id} has no result {key!r}", hint="pick a case from the run's list")
