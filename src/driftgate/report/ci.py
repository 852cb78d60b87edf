"""The gate's verdict as Markdown sized for one pull-request comment.

First what a reviewer needs in ten seconds — the verdict, what changed, per-suite
verdicts with deltas and intervals, which rules failed, which segments got worse, the
worst flipped cases, and what the run cost — then each full comparison folded in a
`<details>` block while the text stays under `MAX_CHARS` (GitHub caps a comment at
65,536 characters). The hidden marker on the first line lets the workflow find and update
its previous comment instead of adding a new one per push.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..ci.schema import KIND_TEXT, ArmOutcome, CIReport, SuiteOutcome
from ..compare.schema import Comparison, FlippedCase
from ..gate import GateVerdict
from ..gate.verdict import rule_figures
from ._compare_format import fmt_delta, fmt_interval
from ._format import fmt_cost, fmt_pct, trim
from .markdown import md

MARKER = "<!-- driftgate-gate -->"
MAX_CHARS = 60_000
MAX_CHANGED_ROWS = 40
STATUS_TEXT = {
    "passed": "✅ passed",
    "failed": "❌ failed",
    "provider_errors": "⚠️ provider errors",
    "error": "❌ not evaluated",
}


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _code(text: str, limit: int = 120) -> str:
    """A code span: nothing inside is Markdown, but a backtick would end it and a pipe
    would split a table cell."""
    return "`" + trim(text, limit).replace("`", "'").replace("|", "\\|") + "`"


def headline(report: CIReport) -> str:
    if report.dry_run:
        return "🧮 dry run (nothing was called)"
    if report.exit_code == 0:
        return "✅ passed" if report.suites else "✅ nothing to evaluate"
    return {1: "❌ failed", 2: "❌ bad input", 3: "⚠️ provider errors"}.get(
        report.exit_code, "❌ failed"
    )


def gate_markdown(report: CIReport, *, max_flipped: int = 10) -> str:
    """The whole comment: summary sections first, folded full comparisons after."""
    core = _core(report, max_flipped)
    text = "\n".join(core) + "\n"
    if len(text) > MAX_CHARS:
        return (
            text[: MAX_CHARS - 80].rsplit("\n", 1)[0]
            + "\n\n_…summary truncated to fit a comment._\n"
        )
    from .compare_markdown import comparison_markdown

    for suite in report.suites:
        for arm in suite.arms:
            if arm.comparison is None:
                continue
            body = comparison_markdown(
                arm.comparison, max_flipped=20, title=f"{suite.suite} · {arm.arm}"
            )
            block = (
                f"\n<details><summary>Full comparison: {md(suite.suite)} · {md(arm.arm)}</summary>\n\n"
                f"{body}\n</details>\n"
            )
            if len(text) + len(block) > MAX_CHARS:
                text += "\n_Further comparisons left out to fit a comment; see the HTML report._\n"
                return text
            text += block
    return text


def _core(report: CIReport, max_flipped: int) -> list[str]:
    out = [MARKER, f"## driftgate gate — {headline(report)}", ""]
    head = report.head_commit[:7] + (" + uncommitted changes" if report.dirty else "")
    out.append(
        f"Base {_code(report.base_ref, 80)} (merge base `{report.merge_base[:7]}`) → head `{head}`"
    )
    if report.message:
        out += ["", report.message]
    out += _changed(report)
    errors = [
        a
        for a in report.annotations
        if a.level == "error" and a.file and a.title and a.title.endswith("does not parse")
    ]
    if errors:
        out += ["", "### Files that do not parse", ""]
        out += [
            f"- ❌ {_code(a.file or '')}"
            + (f" line {a.line}" if a.line else "")
            + f": {md(a.message, 400)}"
            for a in errors
        ]
    if report.suites:
        if not report.dry_run:
            out += _verdicts(report)
        for suite in report.suites:
            out += _suite_details(suite, max_flipped)
    if report.estimate is not None or any(s.head_run for s in report.suites):
        out += _cost(report)
    return out


def _changed(report: CIReport) -> list[str]:
    relevant = [c for c in report.changed if c.suites or c.kind != "other"]
    other = len(report.changed) - len(relevant)
    out = ["", f"### Changed artifacts ({len(relevant)})", ""]
    if not relevant:
        return out + [
            f"No prompt, few-shot set, index, golden set, route, suite or gate policy changed"
            f" ({other} other file{'s' if other != 1 else ''} changed)."
        ]
    rows = []
    for c in relevant[:MAX_CHANGED_ROWS]:
        where = _code(c.path) + (f" (line {c.line})" if c.line and c.status == "modified" else "")
        suites = ", ".join(_code(s) for s in c.suites) or "—"
        rows.append([where, KIND_TEXT[c.kind], c.status, suites])
    out += _table(["File", "Kind", "Change", "Suites affected"], rows)
    if len(relevant) > MAX_CHANGED_ROWS:
        out += ["", f"_…and {len(relevant) - MAX_CHANGED_ROWS} more._"]
    if other:
        out += ["", f"{other} other changed file{'s' if other != 1 else ''} affect no suite."]
    if report.unaffected_suites and relevant:
        shown = ", ".join(_code(s) for s in report.unaffected_suites[:20])
        out += [
            "",
            f"Not affected, not run: {shown}"
            + (" …" if len(report.unaffected_suites) > 20 else ""),
        ]
    return out


def _delta_cell(cmp: Comparison | None) -> str:
    if cmp is None:
        return "—"
    r = cmp.primary
    return f"{fmt_delta(cmp, cmp.metric, r.delta)} {fmt_interval(cmp, cmp.metric, r)}"


def _baseline_cell(arm: ArmOutcome) -> str:
    if arm.baseline_source == "none" or arm.baseline_arm is None:
        return "none"
    how = {"stored": "stored run", "worktree": "evaluated at base, run"}[arm.baseline_source]
    return f"{md(arm.baseline_arm, 80)} ({how} `{arm.baseline_run}`)"


def _verdicts(report: CIReport) -> list[str]:
    rows = []
    for s in report.suites:
        if not s.arms:
            detail = s.error or ("no arm changed" if s.unchanged and not s.gated else "")
            rows.append([_code(s.suite), "—", "—", STATUS_TEXT[s.status], "—", md(detail, 200)])
        for a in s.arms:
            status = "✅ pass" if a.passed else "❌ FAIL"
            detail = a.error or (
                "failed: " + "; ".join(r.name for r in a.verdict.failed) if a.verdict else ""
            )
            cases = (
                str(a.comparison.n_common)
                if a.comparison
                else (str(a.verdict.n_cases) if a.verdict else "—")
            )
            rows.append(
                [
                    _code(s.suite),
                    md(a.arm, 80) + (f" ({md(s.gated[a.arm], 80)})" if a.arm in s.gated else ""),
                    _baseline_cell(a),
                    status,
                    _delta_cell(a.comparison),
                    cases + (f" · {md(detail, 300)}" if not a.passed else ""),
                ]
            )
    metric = next(
        (a.comparison.metric for s in report.suites for a in s.arms if a.comparison), "pass"
    )
    return [
        "",
        "### Verdicts",
        "",
        *_table(["Suite", "Arm (head)", "Baseline", "Gate", f"Δ {metric} (CI)", "Cases"], rows),
    ]


def _suite_details(suite: SuiteOutcome, max_flipped: int) -> list[str]:
    out: list[str] = []
    if suite.error:
        out += [
            "",
            f"#### {_code(suite.suite)} — {STATUS_TEXT[suite.status]}",
            "",
            md(suite.error, 1000),
        ]
    if suite.head_verdict == "below_threshold":
        out += ["", f"❌ {_code(suite.suite)}: the head run is below the suite's `pass_threshold`."]
    out += _scope(suite)
    for p in suite.policy_changed:
        out += [
            "",
            f"⚠️ The gate policy {_code(p)} changed in this pull request; the head's version was applied.",
        ]
    for arm in suite.arms:
        out += _arm_details(suite, arm, max_flipped)
    return out


def _scope(suite: SuiteOutcome) -> list[str]:
    """What the gate evaluates in this suite and why; what it leaves alone."""
    out: list[str] = []
    if suite.gated:
        gated = "; ".join(f"{md(arm, 80)} ({md(why, 80)})" for arm, why in suite.gated.items())
        out += ["", f"{_code(suite.suite)} gates {len(suite.gated)} arm(s): {gated}."]
    if suite.unchanged:
        names = ", ".join(md(a, 80) for a in suite.unchanged[:20])
        more = f" and {len(suite.unchanged) - 20} more" if len(suite.unchanged) > 20 else ""
        out += [
            "",
            f"Unchanged, not run: {names}{more} (the same prompt, model, suite and golden "
            "sets as at the base).",
        ]
    return out


def _arm_details(suite: SuiteOutcome, arm: ArmOutcome, max_flipped: int) -> list[str]:
    v = arm.verdict
    if v is None:
        return []
    out = [
        "",
        f"#### {_code(suite.suite)} · {md(arm.arm)} — {'✅ pass' if v.passed else '❌ FAIL'}",
        "",
    ]
    out += _rules(v)
    out += [f"⚠️ {md(w, 300)}  " for w in v.warnings]
    cmp = arm.comparison
    if cmp is None:
        return out
    worse = [
        s for s in cmp.segments if s.results.get(cmp.metric) and s.results[cmp.metric].delta < 0
    ]
    worse.sort(key=lambda s: s.results[cmp.metric].delta)
    if worse:
        parts = []
        for s in worse[:10]:
            r = s.results[cmp.metric]
            parts.append(
                f"**{md(s.segment, 80)}** {fmt_delta(cmp, cmp.metric, r.delta)} "
                f"{fmt_interval(cmp, cmp.metric, r)} ({s.n} cases; interval verdict: {s.verdict})"
            )
        out += ["", "Segments that got worse: " + "; ".join(parts)]
    out += _flipped(cmp, max_flipped)
    return out


def _rules(v: GateVerdict) -> list[str]:
    mark = {"pass": "✅", "fail": "❌", "skip": "⏭️"}
    rows = [
        [mark[r.status], md(r.name, 120), ", ".join(rule_figures(r)) or "—", md(r.detail, 160)]
        for r in v.rules
    ]
    return [f"Policy: {md(v.policy, 120)}", "", *_table(["", "Rule", "Observed", "Detail"], rows)]


def _flipped(cmp: Comparison, limit: int) -> list[str]:
    reg = sorted(cmp.regressed, key=_drop, reverse=True)
    out = [
        "",
        f"Flipped cases: {len(cmp.regressed)} regressed (pass → fail), {len(cmp.improved)} improved.",
    ]
    if not reg or limit <= 0:
        return out
    rows = [
        [
            _code(f.case_id, 50),
            md(f.segment or "", 40),
            md(f.expected, 40),
            md(f.output_a if f.error_a is None else f"error: {f.error_a}", 80),
            md(f.output_b if f.error_b is None else f"error: {f.error_b}", 80),
        ]
        for f in reg[:limit]
    ]
    out += [
        "",
        "Worst regressions:",
        "",
        *_table(["Case", "Segment", "Expected", "Base output", "Head output"], rows),
    ]
    if len(reg) > limit:
        out += ["", f"_First {limit} of {len(reg)} shown; the HTML report lists all._"]
    return out


def _drop(f: FlippedCase) -> float:
    a = f.score_a if f.score_a is not None else f.pass_a
    b = f.score_b if f.score_b is not None else f.pass_b
    return a - b


def _cost(report: CIReport) -> list[str]:
    out = ["", "### Cost", ""]
    est = report.estimate
    if est is not None:
        share = fmt_pct(est.cached_share)
        out.append(
            f"Planned: {est.calls} calls, {est.cached} in the response cache ({share}), "
            f"estimated {fmt_cost(est.cost_usd)} for the rest"
            + (f" (no price for {', '.join(est.unpriced)})" if est.unpriced else "")
            + "."
        )
    if not report.dry_run and report.suites:
        u = report.usage
        total = u.calls + u.cached
        out.append(
            f"This run: {u.calls} provider calls, {u.cached} answers from the cache"
            f" ({fmt_pct(u.cached / total) if total else '—'}), {u.errors} errors, "
            f"cost {fmt_cost(u.cost_usd)}."
        )
        stored = sum(1 for s in report.suites for a in s.arms if a.baseline_source == "stored")
        fresh = sum(1 for s in report.suites for a in s.arms if a.baseline_source == "worktree")
        if stored or fresh:
            out.append(
                f"Baselines: {stored} from stored runs, {fresh} evaluated at the merge base."
            )
    return out
