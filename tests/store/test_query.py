from pathlib import Path

import driftgate
from driftgate.store.query import connect, pass_rate_history, query


def test_sql_over_all_runs_with_torn_lines_and_duplicates(ws_root: Path):
    a = driftgate.run(workspace=ws_root)
    b = driftgate.run(workspace=ws_root, models=["sim/acme@v1?accuracy=0.5"])
    seg = next((ws_root / "runs" / a.id / "results").glob("*.jsonl"))
    lines = seg.read_text().splitlines(keepends=True)
    # A resumed segment repeating a key, and a torn tail left by a killed writer.
    (seg.parent / "zz-dup.jsonl").write_text(lines[0] + lines[1][:30])
    con = connect(ws_root / "runs")
    n = dict(con.sql("select run_id, count(*) from results group by 1").fetchall())
    assert n == {a.id: 40, b.id: 40}
    cols, rows = query(ws_root / "runs", "select id, verdict from runs order by id")
    assert cols == ["id", "verdict"] and [r[0] for r in rows] == sorted([a.id, b.id])
    hist = pass_rate_history(ws_root / "runs", prompt="cat@v1")
    assert [h["pass_rate"] for h in hist][0] == 1.0 and len(hist) == 2
    assert hist[1]["model"].startswith("sim/acme@v1") and hist[1]["pass_rate"] < 0.8


def test_empty_workspace_has_empty_views(tmp_path: Path):
    con = connect(tmp_path)
    assert con.execute("select count(*) from results").fetchone() == (0,)
    assert con.execute("select count(*) from runs").fetchone() == (0,)


def test_finished_runs_are_compacted_to_parquet_and_rebuilt_when_segments_change(ws_root: Path):
    run = driftgate.run(workspace=ws_root, limit=10)
    runs = ws_root / "runs"
    for exported in runs.glob("_parquet/**/*.parquet"):
        exported.unlink()  # a run finished before exports: query builds its own copy
    first = connect(runs).execute("select count(*), sum(passed::int) from results").fetchone()
    pq = runs / run.id / "results.parquet"
    assert pq.exists() and first == (10, 10)
    again = connect(runs).execute("select count(*), sum(passed::int) from results").fetchone()
    assert again == first
    # A segment newer than the Parquet copy (as a resume writes) makes it stale: rebuilt.
    seg = next((runs / run.id / "results").glob("*.jsonl"))
    extra = seg.read_text().splitlines()[0].replace('|0"', '|9"', 1)
    import os
    import time

    newer = seg.parent / "zz-late.jsonl"
    newer.write_text(extra + "\n")
    later = time.time() + 5
    os.utime(newer, (later, later))
    assert connect(runs).execute("select count(*) from results").fetchone() == (11,)
