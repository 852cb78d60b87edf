import pytest
from rich.console import Console

from driftgate.report.terminal import render_run, render_runs_list
from driftgate.store.records import CaseResult, RunManifest, ScoreRecord, Summary
from driftgate.summary import summarize


def res(case, *, passed=True, error=None, output="ok", segment=None, model="m"):
    return CaseResult(
        run_id="r",
        key=f"p|{model}|s|{case}|0",
        evalset="s",
        case_id=case,
        segment=segment,
        prompt="p",
        prompt_digest="d",
        model=model,
        passed=passed and error is None,
        error=error,
        score=None if error else float(passed),
        output=output,
        expected="food",
        latency_ms=250.0,
        cost_usd=0.002,
        ts=0.0,
        scores=[]
        if error
        else [ScoreRecord(metric="category", value=float(passed), passed=passed)],
    )


def console() -> Console:
    return Console(record=True, width=200, color_system=None)


@pytest.fixture
def results():
    return [
        res("a", segment="retail"),
        res("b", passed=False, output="[red]rent[/red]", segment="retail"),
        res("c", error="connection reset", segment="travel"),
    ]


@pytest.fixture
def manifest(results):
    summary = summarize(results)
    summary.metrics = {"p · m": {"accuracy": 0.5, "macro_f1": 0.42, "confusion": [[1, 0], [1, 0]]}}
    return RunManifest(
        id="20260101-000000-aaaaaa",
        status="finished",
        suite="cat.suite.yaml",
        created_at=0.0,
        finished_at=12.0,
        git_revision="abcdef1234567890",
        driftgate_version="0.1.0",
        pass_threshold=0.9,
        verdict="below_threshold",
        planned=3,
        summary=summary,
    )


def test_render_run_shows_numbers_and_failures(manifest, results):
    con = console()
    render_run(manifest, con, results=results, max_failures=1)
    out = con.export_text()
    assert "20260101-000000-aaaaaa" in out and "BELOW THRESHOLD" in out
    assert "abcdef123456" in out and "12.0 s" in out
    assert "3 / 3 planned" in out and "(1 passed, 1 failed, 1 errors)" in out
    assert "33.3% [" in out and "(threshold 90.0%)" in out
    assert "6.1–79.2%" in out and "250/250" in out and "$0.0060" in out
    assert "Segments" in out and "retail" in out and "travel" in out
    assert "Label metrics" in out and "0.420" in out and "macro-f1" in out
    assert "Failures (2, first 1 shown)" in out
    # user content is literal text, never rich markup
    assert "[red]rent[/red]" in out
    assert "connection reset" not in out  # the second failure is beyond max_failures


def test_render_run_no_failures_and_no_summary():
    con = console()
    m = RunManifest(id="r0", created_at=0.0, driftgate_version="0.1.0")
    render_run(m, con, results=[res("a")])
    out = con.export_text()
    assert "r0" in out and "running" in out and "No failures." in out
    assert "Arms" not in out


def test_render_runs_list(manifest):
    con = console()
    other = RunManifest(
        id="20260102-000000-bbbbbb",
        status="finished",
        created_at=86400.0,
        driftgate_version="0.1.0",
        verdict="passed",
        summary=Summary(results=10, passed=10, pass_rate=1.0, cost_usd=0.5),
    )
    render_runs_list([manifest, other], con)
    out = con.export_text()
    lines = [line for line in out.splitlines() if "2026010" in line]
    assert len(lines) == 2
    assert "33.3%" in lines[0] and "BELOW THRESHOLD" in lines[0]
    assert "100.0%" in lines[1] and "PASSED" in lines[1] and "$0.5000" in lines[1]


def test_render_runs_list_empty():
    con = console()
    render_runs_list(iter([]), con)
    assert "No runs yet" in con.export_text()


def test_a_confidence_column_only_when_an_arm_has_confidences(manifest, results):
    con = console()
    render_run(manifest, con)
    assert " conf " not in con.export_text()  # no model reported probabilities
    confident = [r.model_copy(update={"confidence": 0.8125}) for r in results[:2]] + results[2:]
    with_conf = manifest.model_copy(update={"summary": summarize(confident)})
    con = console()
    render_run(with_conf, con)
    out = con.export_text()
    assert " conf " in out and "0.812" in out  # the arm's and the segment's mean
    from driftgate.report.markdown import run_markdown

    assert "Mean confidence" in run_markdown(with_conf) and "Mean confidence" not in run_markdown(
        manifest
    )


def test_runs_list_keeps_suite_names_apart_on_an_80_column_log():
    runs = [
        RunManifest(
            id=f"2026010{i}-000000-aaaaaa",
            status="running" if i == 4 else "finished",
            created_at=0.0,
            driftgate_version="0",
            suite=suite,
            verdict=None if i == 4 else "below_threshold",
            summary=Summary(results=4, passed=1, pass_rate=0.25),
        )
        for i, suite in enumerate(
            [
                "evalsets/categorize.suite.yaml",
                "evalsets/categorize-sim.suite.yaml",
                "evalsets/a-very-long-suite-name-for-the-categorizer-v2.suite.yaml",
                "evalsets/x.suite.yaml",
            ],
            start=1,
        )
    ]
    con = Console(record=True, width=80, color_system=None)
    render_runs_list(runs, con)
    rows = [ln for ln in con.export_text().splitlines() if "2026010" in ln]
    assert "categorize " in rows[0] and "categorize-sim" in rows[1]
    assert "a-very-lo…gorizer-v2" in rows[2]
    assert "BELOW" in rows[0] and "running" in rows[3]
    assert all(len(r) <= 80 for r in rows)


def test_verdict_line_says_what_it_was_measured_against():
    m = RunManifest(
        id="r",
        status="finished",
        created_at=0.0,
        driftgate_version="0",
        verdict="passed",
        pass_threshold=0.05,
        summary=Summary(results=15, passed=2, pass_rate=2 / 15),
    )
    con = console()
    render_run(m, con)
    assert "PASSED: pass rate 13.3% ≥ the suite's threshold 5.0%" in con.export_text()
