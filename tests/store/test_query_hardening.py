"""`driftgate query` under hostile data and SQL (issue #16 items 2 and 10): a result line
over DuckDB's 16 MiB default, a run whose files cannot be read, markup in cells, and SQL
that reads or writes outside the runs folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import driftgate
import driftgate.cli.run  # noqa: F401 - registers the commands
from conftest import run_main
from driftgate.errors import ConfigError, DriftgateError
from driftgate.store.query import DUCKDB_MAX_OBJECT, connect, max_object_size, query


def _segment(ws_root: Path, run_id: str) -> Path:
    return next((ws_root / "runs" / run_id / "results").glob("*.jsonl"))


def test_a_result_line_over_16_mib_is_queried(ws_root: Path) -> None:
    run = driftgate.run(workspace=ws_root, limit=5)
    seg = _segment(ws_root, run.id)
    lines = seg.read_text().splitlines()
    big = json.loads(lines[0])
    big["output"] = "x" * (DUCKDB_MAX_OBJECT + 1024)
    seg.write_text("\n".join([json.dumps(big), *lines[1:]]) + "\n")
    assert max_object_size([str(seg)]) > DUCKDB_MAX_OBJECT + 1024
    for _ in range(2):  # the first query builds the Parquet copy, the second reads it
        cols, rows = query(ws_root / "runs", "select count(*), max(length(output)) from results")
        assert rows == [(5, DUCKDB_MAX_OBJECT + 1024)]
    assert (ws_root / "runs" / run.id / "results.parquet").exists()


def test_small_files_keep_duckdbs_default_limit(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text('{"key": "a"}\n' * 10)
    assert max_object_size([str(f), str(tmp_path / "gone.jsonl")]) == DUCKDB_MAX_OBJECT


def test_one_unreadable_run_is_left_out_with_a_warning_not_every_query(ws_root: Path) -> None:
    good = driftgate.run(workspace=ws_root, limit=4)
    bad = driftgate.run(workspace=ws_root, limit=3, models=["sim/acme@v1?accuracy=0.5"])
    (ws_root / "runs" / bad.id / "results" / "zz-damaged.jsonl").mkdir()  # unreadable
    with pytest.warns(UserWarning, match=rf"run {bad.id} left out.*results"):
        _, rows = query(ws_root / "runs", "select run_id, count(*) from results group by 1")
    assert rows == [(good.id, 4)]
    with pytest.warns(UserWarning, match=bad.id):
        con = connect(ws_root / "runs")
    assert con.execute("select count(*) from results").fetchone() == (4,)


def test_cells_and_headers_print_as_text_not_markup(ws_root: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    sql = """select '[/]' as segment, ':smile: [bold]x[/bold]' as "[red]out" """
    code, out, err = run_main(capsys, monkeypatch, "query", sql, "-w", str(ws_root))
    assert code == 0, err
    assert "[/]" in out and ":smile: [bold]x[/bold]" in out and "[red]out" in out
    assert "😄" not in out


@pytest.mark.parametrize(
    "sql",
    [
        "select * from read_text('/etc/passwd')",
        "select * from read_csv('/etc/hostname')",
        "select * from read_json('{runs}/../driftgate.yaml')",
    ],
)
def test_query_reads_nothing_outside_the_runs_folder(ws_root: Path, sql: str) -> None:
    driftgate.run(workspace=ws_root, limit=2)
    with pytest.raises(DriftgateError, match="query failed.*(Permission|disabled)") as info:
        query(ws_root / "runs", sql.format(runs=ws_root / "runs"))
    assert "runs folder" in str(info.value)


def test_query_reads_the_runs_folders_files_by_path(ws_root: Path) -> None:
    run = driftgate.run(workspace=ws_root, limit=2)
    seg = _segment(ws_root, run.id)
    _, rows = query(ws_root / "runs", f"select count(*) from read_text('{seg}')")
    assert rows == [(1,)]


@pytest.mark.parametrize(
    "sql",
    [
        "copy (select 1) to '{out}'",
        "copy (select 1) to '{runs}/leak.csv'",
        "attach '{out}' as x",
        "install httpfs",
        "set enable_external_access = true",
        "create table t as select 1",
        "select 1; select 2",
    ],
)
def test_query_writes_nothing_and_cannot_unlock_itself(
    ws_root: Path, tmp_path: Path, sql: str
) -> None:
    driftgate.run(workspace=ws_root, limit=2)
    out = tmp_path / "out.csv"
    runs = ws_root / "runs"
    query(runs, "select 1")  # builds the Parquet copy: the one file query itself keeps
    before = sorted(p.name for p in runs.rglob("*"))
    with pytest.raises(ConfigError, match="one SQL statement|only reads"):
        query(runs, sql.format(out=out, runs=runs))
    assert not out.exists() and not (runs / "leak.csv").exists()
    assert sorted(p.name for p in runs.rglob("*")) == before


def test_a_locked_connection_cannot_be_reopened_from_sql(ws_root: Path) -> None:
    driftgate.run(workspace=ws_root, limit=2)
    # A SELECT cannot carry a SET; the configuration is locked all the same.
    from driftgate.store.query import confine

    con = connect(ws_root / "runs")
    confine(con, ws_root / "runs")
    import duckdb

    with pytest.raises(duckdb.Error, match="locked"):
        con.execute("SET enable_external_access = true")
    assert con.execute("select count(*) from results").fetchone() == (2,)
