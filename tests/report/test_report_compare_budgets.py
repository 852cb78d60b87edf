"""Latency/cost scorers of weight 0 are budgets: named as such, after the quality metrics."""

from rich.console import Console

from driftgate.compare import compare_results
from driftgate.report._compare_format import budgets, metric_order, metric_rows
from driftgate.report.compare_terminal import render_comparison
from driftgate.store.records import CaseResult, RunManifest, ScoreRecord

SCORERS = [
    {"type": "label-match", "metric": "category"},
    {"type": "latency", "max_ms": 2000, "weight": 0},
    {"type": "cost", "max_usd": 0.01},  # weighted: a quality metric like any other
]


def _res(case: str, model: str) -> CaseResult:
    return CaseResult(
        run_id="r",
        key=f"p@1|{model}|tx|{case}|0",
        evalset="tx",
        case_id=case,
        prompt="p@1",
        prompt_digest="d",
        model=model,
        repeat=0,
        passed=True,
        score=1.0,
        scores=[
            ScoreRecord(metric="latency", value=1.0, passed=True, weight=0.0),
            ScoreRecord(metric="category", value=1.0, passed=True),
            ScoreRecord(metric="cost", value=1.0, passed=True),
        ],
        output="yes",
        latency_ms=120.0,
        ts=1.0,
    )


def _cmp():
    cmp = compare_results(
        [_res(f"c{i}", "a") for i in range(6)], [_res(f"c{i}", "b") for i in range(6)]
    )
    m = RunManifest(id="r", created_at=0.0, driftgate_version="0", scorers=SCORERS)
    return cmp.model_copy(update={"manifest_a": m, "manifest_b": m})


def test_budget_metrics_are_named_and_listed_last():
    cmp = _cmp()
    assert budgets(cmp) == {"latency": "≤ 2000 ms"}
    order = metric_order(cmp)
    assert order[-1] == "latency" and order.index("category") < order.index("latency")
    names = [r[0] for r in metric_rows(cmp)]
    assert "latency: share within ≤ 2000 ms budget" in names and "cost" in names


def test_terminal_comparison_shows_the_budget():
    con = Console(record=True, width=200, color_system=None)
    render_comparison(_cmp(), con)
    assert "latency: share within ≤ 2000 ms budget" in con.export_text()
