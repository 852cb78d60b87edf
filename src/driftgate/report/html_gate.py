"""The CI gate's report as one self-contained HTML page: the verdict, what changed, every
gated arm with its rules and its full comparison, the arms left alone, and the cost.
Values are prepared here and laid out by `templates/report/gate.html.j2` (autoescaped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..ci.schema import KIND_TEXT, ArmOutcome, CIReport, SuiteOutcome
from ..gate.verdict import rule_figures
from ..store._atomic import atomic_writer
from ._compare_format import fmt_delta, fmt_interval
from ._format import fmt_cost, fmt_pct
from .ci import STATUS_TEXT, headline
from .html import render
from .html_compare import comparison_page

RULE_MARK = {"pass": "pass", "fail": "FAIL", "skip": "skipped"}


def _baseline(arm: ArmOutcome) -> str:
    if arm.baseline_source == "none" or arm.baseline_arm is None:
        return "none (only the rules that need no baseline applied)"
    how = {"stored": "stored run", "worktree": "evaluated at the merge base, run"}
    return f"{arm.baseline_arm} ({how[arm.baseline_source]} {arm.baseline_run})"


def _arm(suite: SuiteOutcome, arm: ArmOutcome, n: int) -> dict[str, Any]:
    cmp, v = arm.comparison, arm.verdict
    return {
        "id": f"arm-{n}",
        "suite": suite.suite,
        "arm": arm.arm,
        "why": suite.gated.get(arm.arm, ""),
        "passed": arm.passed,
        "baseline": _baseline(arm),
        "delta": (
            f"{fmt_delta(cmp, cmp.metric, cmp.primary.delta)} "
            f"{fmt_interval(cmp, cmp.metric, cmp.primary)}"
            if cmp
            else "—"
        ),
        "metric": cmp.metric if cmp else "",
        "error": arm.error,
        "policy": v.policy if v else "",
        "rules": [
            [RULE_MARK[r.status], r.name, ", ".join(rule_figures(r)) or "—", r.detail]
            for r in (v.rules if v else [])
        ],
        "warnings": v.warnings if v else [],
        "comparison": comparison_page(cmp) if cmp else None,
    }


def gate_page(report: CIReport) -> dict[str, Any]:
    """The values the gate template lays out."""
    arms, n = [], 0
    for s in report.suites:
        for a in s.arms:
            n += 1
            arms.append(_arm(s, a, n))
    est, usage = report.estimate, report.usage
    total = usage.calls + usage.cached
    return {
        # The Markdown headline without its emoji (not every browser has the font).
        "headline": headline(report).split(" ", 1)[-1],
        "status": "passed" if report.exit_code == 0 else "below_threshold",
        "base": f"{report.base_ref} (merge base {report.merge_base[:12]})",
        "head": report.head_commit[:12] + (" + uncommitted changes" if report.dirty else ""),
        "message": report.message,
        "changed": [
            [c.repo_path, KIND_TEXT[c.kind], c.status, ", ".join(c.suites) or "—"]
            for c in report.changed
        ],
        "suites": [
            {
                "suite": s.suite,
                "status": STATUS_TEXT[s.status],
                "error": s.error,
                "unchanged": s.unchanged,
                "head_run": s.head_run,
                "below_threshold": s.head_verdict == "below_threshold",
                "policy_changed": s.policy_changed,
            }
            for s in report.suites
        ],
        "unaffected": report.unaffected_suites,
        "arms": arms,
        "errors": [a for a in report.annotations if a.level == "error"],
        "planned": (
            f"{est.calls} calls planned, {est.cached} in the response cache "
            f"({fmt_pct(est.cached_share)}), estimated {fmt_cost(est.cost_usd)} for the rest"
            if est
            else ""
        ),
        "used": (
            f"{usage.calls} provider calls, {usage.cached} answers from the cache "
            f"({fmt_pct(usage.cached / total) if total else '—'}), {usage.errors} errors, "
            f"cost {fmt_cost(usage.cost_usd)}"
        ),
    }


def gate_html(report: CIReport) -> str:
    """The whole gate as one self-contained HTML page."""
    return render("report/gate.html.j2", **gate_page(report))


def write_gate_html(path: Path, report: CIReport) -> Path:
    path = Path(path)
    with atomic_writer(path) as fh:
        fh.write(gate_html(report))
    return path
