"""A Markdown report of one run, sized for a pull-request comment (GitHub-flavoured tables,
no HTML; GitHub caps a comment at 65,536 characters, so long sections are truncated)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from ..store.records import CaseResult, RunManifest, Summary
from ._format import (
    answer_text,
    as_result,
    failure_reasons,
    fmt_cost,
    fmt_duration,
    fmt_git,
    fmt_metric,
    fmt_ms,
    fmt_num,
    fmt_pct,
    fmt_rate_ci,
    fmt_time,
    scalar_metrics,
    summary_of,
    trim,
)

VERDICT_BADGES = {
    "passed": "✅ passed",
    "below_threshold": "❌ below threshold",
    "provider_errors": "⚠️ provider errors",
    "incomplete": "⏳ incomplete",
}
MAX_SEGMENT_ROWS = 60
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md(text: Any, limit: int = 120) -> str:
    """Text safe inside a table cell: one line, trimmed, Markdown/HTML characters escaped
    (a model's `<details>` or `|` must not break the comment's layout)."""
    return _MD_SPECIAL.sub(r"\\\1", trim(text, limit))


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def verdict_text(manifest: RunManifest) -> str:
    if manifest.verdict:
        return VERDICT_BADGES.get(manifest.verdict, manifest.verdict)
    return manifest.status


def run_markdown(
    manifest: RunManifest,
    results: Iterable[CaseResult | dict[str, Any]] | None = None,
    max_failures: int = 20,
) -> str:
    """The run as Markdown: header, arms, segments, label metrics, first failures."""
    s = summary_of(manifest)
    from .terminal import verdict_reason

    out: list[str] = [
        f"## driftgate run `{manifest.id}` — {verdict_text(manifest)}{verdict_reason(manifest)}",
        "",
    ]
    out += _table(["", ""], [(f"**{k}**", v) for k, v in _facts(manifest, s)])
    out += _arms_section(s.by_arm)
    out += _segments_section(s.by_segment)
    out += _metrics_section(s.metrics)
    if results is not None:
        out += _failures_section(results, max_failures)
    return "\n".join(out) + "\n"


def _facts(manifest: RunManifest, s: Summary) -> list[tuple[str, str]]:
    """The header table's rows: suite, status, git, ..., cost, tokens and latency."""
    threshold = (
        f" (threshold {fmt_pct(manifest.pass_threshold)})"
        if manifest.pass_threshold is not None
        else ""
    )
    overall_ci = None
    if s.results:
        from ..summary import wilson

        overall_ci = wilson(s.passed, s.results)
    return [
        ("Suite", md(manifest.suite or "—")),
        ("Status", manifest.status),
        ("Git", md(fmt_git(manifest))),
        ("Started", fmt_time(manifest.created_at)),
        ("Duration", fmt_duration(manifest)),
        ("Results", f"{s.results} ({s.passed} passed, {s.failed} failed, {s.errors} errors)"),
        ("Pass rate", fmt_rate_ci(s.pass_rate, overall_ci) + threshold),
        ("Error rate", fmt_pct(s.error_rate)),
        ("Mean score", fmt_num(s.mean_score)),
        ("Cost", fmt_cost(s.cost_usd)),
        ("Tokens", f"{s.input_tokens:,} in / {s.output_tokens:,} out"),
        ("Latency p50 / p95", f"{fmt_ms(s.latency_p50_ms)} / {fmt_ms(s.latency_p95_ms)}"),
    ]


def _arms_section(by_arm: dict[str, dict[str, Any]]) -> list[str]:
    if not by_arm:
        return []
    conf = _has_confidence(by_arm.values())
    header = [
        "Prompt",
        "Model",
        "Results",
        "Pass rate (95% CI)",
        "Mean score",
        *(["Mean confidence"] if conf else []),
        "Errors",
        "Cost",
        "p50",
        "p95",
    ]
    rows = (
        (
            md(a.get("prompt", k)),
            md(a.get("model", "")),
            str(a["results"]),
            fmt_rate_ci(a["pass_rate"], a.get("pass_rate_ci")),
            fmt_num(a.get("mean_score")),
            *([fmt_num(a.get("mean_confidence"))] if conf else []),
            str(a["errors"]),
            fmt_cost(a.get("cost_usd")),
            fmt_ms(a.get("latency_p50_ms")),
            fmt_ms(a.get("latency_p95_ms")),
        )
        for k, a in by_arm.items()
    )
    return ["", "### Arms", "", *_table(header, rows)]


def _has_confidence(groups: Iterable[dict[str, Any]]) -> bool:
    """A confidence column only when some arm's model reported label probabilities."""
    return any(g.get("mean_confidence") is not None for g in groups)


def _segments_section(by_segment: dict[str, dict[str, Any]]) -> list[str]:
    """Per arm and segment, the first MAX_SEGMENT_ROWS rows (a comment has a size cap)."""
    segments = [v for v in by_segment.values() if v.get("segment") is not None]
    if not segments:
        return []
    conf = _has_confidence(segments)
    header = ["Prompt", "Model", "Segment", "Results", "Pass rate (95% CI)", "Mean score"]
    header += [*(["Mean confidence"] if conf else []), "Errors"]
    rows = (
        (
            md(v.get("prompt", "")),
            md(v.get("model", "")),
            md(v["segment"]),
            str(v["results"]),
            fmt_rate_ci(v["pass_rate"], v.get("pass_rate_ci")),
            fmt_num(v.get("mean_score")),
            *([fmt_num(v.get("mean_confidence"))] if conf else []),
            str(v["errors"]),
        )
        for v in segments[:MAX_SEGMENT_ROWS]
    )
    out = ["", "### Segments", "", *_table(header, rows)]
    if len(segments) > MAX_SEGMENT_ROWS:
        out += ["", f"_{len(segments) - MAX_SEGMENT_ROWS} more segment rows not shown._"]
    return out


def _metrics_section(metrics: dict[str, Any]) -> list[str]:
    names = scalar_metrics(metrics)
    if not names:
        return []
    rows = []
    for arm, values in metrics.items():
        values = values if isinstance(values, dict) else {}
        rows.append([md(arm), *(fmt_metric(values.get(n)) for n in names)])
    return ["", "### Label metrics", "", *_table(["Arm", *names], rows)]


def _failures_section(
    results: Iterable[CaseResult | dict[str, Any]], max_failures: int
) -> list[str]:
    rows: list[list[str]] = []
    total = 0
    for item in results:
        r = as_result(item)
        if r.passed and r.error is None:
            continue
        total += 1
        if len(rows) < max_failures:
            case = r.case_id + (f" #{r.repeat}" if r.repeat else "")
            rows.append(
                [
                    md(case, 60),
                    md(f"{r.prompt} · {r.model}", 60),
                    md(r.expected, 60),
                    md(answer_text(r.output, r.tool_calls), 100),
                    md("; ".join(failure_reasons(r)), 160),
                ]
            )
    if not total:
        return ["", "### Failures", "", "None: every case passed."]
    if not rows:
        return ["", f"### Failures ({total})", "", "_Not listed (max_failures = 0)._"]
    head = (
        f"### Failures ({total})"
        if total <= len(rows)
        else f"### Failures (first {len(rows)} of {total})"
    )
    return ["", head, "", *_table(["Case", "Arm", "Expected", "Output", "Why"], rows)]
