"""Comparisons show exact p-values (not only `p<0.001`), and `--flipped 0` writes no rows (#18)."""

from pathlib import Path

from rich.console import Console

from driftgate.compare import compare_results
from driftgate.report._compare_format import fmt_p, p_is
from driftgate.report.compare import write_comparison
from driftgate.report.compare_markdown import comparison_markdown
from driftgate.report.compare_terminal import render_comparison
from driftgate.store.records import CaseResult, ScoreRecord


def _res(case: str, model: str, passed: bool) -> CaseResult:
    return CaseResult(
        run_id="r",
        key=f"p@1|{model}|tx|{case}|0",
        evalset="tx",
        case_id=case,
        prompt="p@1",
        prompt_digest="d",
        model=model,
        repeat=0,
        passed=passed,
        score=float(passed),
        scores=[ScoreRecord(metric="category", value=float(passed), passed=passed)],
        output="yes" if passed else "no",
        ts=1.0,
    )


def _cmp(n: int = 30):
    return compare_results(
        [_res(f"c{i}", "a", True) for i in range(n)], [_res(f"c{i}", "b", False) for i in range(n)]
    )


def test_fmt_p_is_exact_below_a_thousandth():
    assert fmt_p(2.3e-05) == "2.3e-05" and p_is(2.3e-05) == "p=2.3e-05"
    assert fmt_p(0.0234) == "0.023" and fmt_p(0.31) == "0.31" and p_is(0.5) == "p=0.50"


def test_terminal_and_markdown_show_the_exact_p_value():
    cmp = _cmp()
    md = comparison_markdown(cmp)
    con = Console(record=True, width=200, color_system=None)
    render_comparison(cmp, con)
    text = con.export_text()
    for out in (md, text):
        assert "<0.001" not in out
        assert "e-09" in out  # exact McNemar on 30 discordant pairs: 2 × 0.5^30 ≈ 1.9e-09


def test_flipped_zero_writes_no_rows(tmp_path: Path):
    cmp = _cmp(5)
    md = comparison_markdown(cmp, max_flipped=0)
    assert "5 regressed" in md and "| c0 |" not in md and "| Case |" not in md
    write_comparison(tmp_path / "c.md", cmp, max_flipped=0)
    assert "| Case |" not in (tmp_path / "c.md").read_text()
    write_comparison(tmp_path / "d.md", cmp)
    assert "| c0 |" in (tmp_path / "d.md").read_text()
    con = Console(record=True, width=200, color_system=None)
    render_comparison(cmp, con, max_flipped=0)
    assert "c0" not in con.export_text()
