"""The finished-run Parquet layout, read by pyarrow and DuckDB without driftgate's code."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

import driftgate
from conftest import run_main
from driftgate.store._layout import NULL_PARTITION, escape_partition, export_path
from driftgate.store.export import export_runs
from driftgate.store.query import RESULT_COLUMNS, query
from driftgate.store.runs import RunStore

GLOB = "runs/_parquet/**/*.parquet"  # the documented glob (README, docs/architecture.md)


def _day(created_at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(created_at))


def test_a_finished_run_is_read_by_duckdb_and_pyarrow_through_the_layout(
    ws_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = driftgate.run(workspace=ws_root, limit=12)
    b = driftgate.run(workspace=ws_root, limit=7, models=["sim/acme@v1?accuracy=0.5"])
    monkeypatch.chdir(ws_root)
    con = duckdb.connect()
    rows = con.sql(
        f"SELECT run, suite, date::VARCHAR, count(*), sum(passed::INT), count(DISTINCT key) "
        f"FROM read_parquet('{GLOB}', hive_partitioning = true) GROUP BY ALL ORDER BY run"
    ).fetchall()
    want = {
        a.id: (12, a.manifest.summary.passed),  # type: ignore[union-attr]
        b.id: (7, b.manifest.summary.passed),  # type: ignore[union-attr]
    }
    assert {r[0]: (r[3], r[4]) for r in rows} == want
    for run_id, suite, day, n, _, distinct in rows:
        man = RunStore(ws_root / "runs").load(run_id)
        assert suite == "evalsets/main.suite.yaml" == man.suite
        assert day == _day(man.created_at) and distinct == n
    cols = [c[0] for c in con.sql(f"DESCRIBE SELECT * FROM read_parquet('{GLOB}')").fetchall()]
    assert cols[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)

    table = ds.dataset("runs/_parquet", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 19
    assert set(table.column_names) == set(RESULT_COLUMNS) | {"suite", "date", "run"}
    mine = table.filter(ds.field("run") == a.id).to_pylist()
    assert {r["case_id"] for r in mine} == {f"c{i:03d}" for i in range(12)}
    assert all(r["run_id"] == a.id and r["suite"] == a.manifest.suite for r in mine)
    scores = json.loads(mine[0]["scores"])  # JSON columns are JSON text
    assert scores[0]["metric"] == "category"


def test_partition_values_are_escaped_and_null_is_hives_marker(tmp_path: Path) -> None:
    assert escape_partition("suites/a b=c.yaml") == "suites%2Fa%20b%3Dc.yaml"
    assert escape_partition(None) == NULL_PARTITION
    path = export_path(tmp_path, "r-1", "x/y=z", 0.0)
    assert path.relative_to(tmp_path).parts == (
        "_parquet",
        "suite=x%2Fy%3Dz",
        "date=1970-01-01",
        "run=r-1",
        "results.parquet",
    )
    # DuckDB decodes the escaped value back to the suite's name.
    path.parent.mkdir(parents=True)
    duckdb.sql(f"COPY (SELECT 1 AS n) TO '{path}' (FORMAT parquet)")
    got = duckdb.sql(
        f"SELECT suite, run FROM read_parquet('{tmp_path}/_parquet/**/*.parquet', "
        "hive_partitioning = true)"
    ).fetchall()
    assert got == [("x/y=z", "r-1")]


def test_export_is_idempotent_and_follows_a_changed_run(ws_root: Path) -> None:
    run = driftgate.run(workspace=ws_root, limit=5)
    runs = ws_root / "runs"
    first = export_runs(runs)
    assert first.written == [] and first.up_to_date == [run.id]  # written when it finished
    (path,) = runs.glob("_parquet/**/*.parquet")
    stamp = path.stat().st_mtime_ns
    assert export_runs(runs).up_to_date == [run.id] and path.stat().st_mtime_ns == stamp
    # A segment newer than the export (a resume) makes it stale: rewritten, with the row.
    seg = next((runs / run.id / "results").glob("*.jsonl"))
    late = seg.parent / "zz-late.jsonl"
    late.write_text(seg.read_text().splitlines()[0].replace('|0"', '|9"', 1) + "\n")
    later = time.time() + 5
    os.utime(late, (later, later))
    assert export_runs(runs).written == [run.id]
    assert duckdb.sql(f"SELECT count(*) FROM '{path}'").fetchall() == [(6,)]
    assert not list(path.parent.glob(".*.tmp"))  # the temp file was renamed


def test_unfinished_runs_are_not_exported(ws_root: Path) -> None:
    run = driftgate.run(workspace=ws_root, limit=5)
    runs = ws_root / "runs"
    for p in runs.glob("_parquet/**/*.parquet"):
        p.unlink()
    manifest = json.loads((runs / run.id / "manifest.json").read_text())
    for status in ("interrupted", "running", "failed"):
        manifest["status"] = status
        (runs / run.id / "manifest.json").write_text(json.dumps(manifest))
        report = export_runs(runs)
        assert report.written == [] and status in report.skipped[run.id]
        assert not list(runs.glob("_parquet/**/*.parquet"))


def test_query_reads_the_export_and_old_runs_are_exported_by_the_cli(
    ws_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = driftgate.run(workspace=ws_root, limit=4)
    b = driftgate.run(workspace=ws_root, limit=6)
    runs = ws_root / "runs"
    for p in runs.glob(f"_parquet/**/run={b.id}/*.parquet"):
        p.unlink()  # b as a run finished before exports existed
    cols, rows = query(runs, "SELECT run_id, count(*), any_value(scores)->>'$[0].metric' "
                             "FROM results GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert rows == sorted([(a.id, 4, "category"), (b.id, 6, "category")])
    assert not (runs / a.id / "results.parquet").exists()  # a is read from its export
    assert (runs / b.id / "results.parquet").exists()
    monkeypatch.chdir(ws_root)
    code, out, _ = run_main(capsys, monkeypatch, "runs", "export")
    assert code == 0 and f"exported {b.id}" in out and "1 written, 1 up to date" in out
    code, out, _ = run_main(capsys, monkeypatch, "runs", "export", "--json")
    assert json.loads(out)["up_to_date"] == sorted([a.id, b.id])
    assert query(runs, "SELECT count(*) FROM results")[1] == [(10,)]
