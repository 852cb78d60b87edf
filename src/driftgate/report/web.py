"""The pages of `driftgate ui`: plain values prepared from library objects, laid out by the
templates in `driftgate/templates/ui/` (autoescaped like every report: a model's output
containing `<script>` is text). This module holds what every page shares and the Runs
pages; `web_compare`, `web_versions` and `web_routes` (Routes and Review) the others.

The web app (`driftgate.ui`) gathers the objects (a page of runs, a comparison, a route's
status) through the same library functions as the CLI and hands them here; nothing in
this module reads the workspace.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ..store.browse import CASE_STATUSES, CaseFilter, CasesPage, RunFilter, RunsPage
from ..store.records import CaseResult, RunManifest
from ._format import (
    answer_text,
    failure_reasons,
    fmt_cost,
    fmt_ms,
    fmt_num,
    fmt_pct,
    fmt_time,
    trim,
)
from .html import render, run_page, text

NAV = [
    ("runs", "Runs", "/runs"),
    ("compare", "Compare", "/compare"),
    ("versions", "Versions", "/versions"),
    ("drift", "Drift", "/drift"),
    ("routes", "Routes", "/routes"),
    ("review", "Review", "/review"),
]


def page(template: str, *, section: str, csrf: str, **values: Any) -> str:
    """A full page of the app: its navigation, the section's template, the form token."""
    return render(f"ui/{template}", nav=NAV, section=section, csrf=csrf, **values)


def pager(base: str, params: dict[str, Any], *, offset: int, limit: int, total: int) -> dict:
    """Links to the previous and next page, keeping the filters."""
    keep = {k: v for k, v in params.items() if v not in (None, "", "all")}

    def link(off: int) -> str:
        return base + "?" + urlencode({**keep, "offset": off, "limit": limit})

    return {
        "first": offset + 1 if total else 0,
        "last": min(offset + limit, total),
        "total": total,
        "prev": link(max(0, offset - limit)) if offset > 0 else None,
        "next": link(offset + limit) if offset + limit < total else None,
    }


def runs_values(runs: RunsPage, filt: RunFilter, dates: dict[str, str]) -> dict[str, Any]:
    rows = []
    for m in runs.runs:
        s = m.summary
        rows.append(
            {
                "id": m.id,
                "suite": m.suite or "—",
                "status": m.verdict or m.status,
                "created": fmt_time(m.created_at),
                "prompts": ", ".join(p.ref for p in m.prompts),
                "models": ", ".join(str(md.get("label") or md.get("id")) for md in m.models),
                "results": str(s.results) if s else "—",
                "pass_rate": fmt_pct(s.pass_rate) if s else "—",
                "cost": fmt_cost(s.cost_usd) if s else "—",
            }
        )
    params = {
        "suite": filt.suite,
        "prompt": filt.prompt,
        "model": filt.model,
        "status": filt.status,
        **dates,
    }
    return {
        "rows": rows,
        "filters": params,
        "choices": {
            "suite": runs.suites,
            "prompt": runs.prompts,
            "model": runs.models,
            "status": ["running", "finished", "failed", "interrupted"],
        },
        "pager": pager("/runs", params, offset=runs.offset, limit=runs.limit, total=runs.total),
    }


def run_values(manifest: RunManifest, cases: CasesPage, filt: CaseFilter) -> dict[str, Any]:
    """One run: its summary (the static report's values) and one page of its cases."""
    summary = run_page(manifest, [])  # the summary only: cases come a page at a time
    rows = [
        {
            "key": r["key"],
            "case": r["case_id"] + (f" #{r['repeat']}" if r["repeat"] else ""),
            "arm": f"{r['prompt']} · {r['model']}",
            "segment": r["segment"] or "",
            "expected": trim(text(r["expected"]), 80),
            "output": trim(answer_text(r["output"], r["tool_calls"]), 160),
            "kind": "error" if r["error"] is not None else ("pass" if r["passed"] else "fail"),
            "score": fmt_num(r["score"]),
            "latency": fmt_ms(r["latency_ms"]),
        }
        for r in cases.rows
    ]
    params = {
        "status": filt.status,
        "search": filt.search,
        "arm": filt.arm,
        "segment": filt.segment,
    }
    return {
        **summary,
        "rows": rows,
        "filters": params,
        "statuses": CASE_STATUSES,
        "arm_choices": cases.arms,
        "segment_choices": cases.segments,
        "pager": pager(
            f"/runs/{manifest.id}",
            params,
            offset=cases.offset,
            limit=cases.limit,
            total=cases.total,
        ),  # fmt: skip
    }


def case_values(manifest: RunManifest, result: CaseResult) -> dict[str, Any]:
    return {
        "manifest": manifest,
        "r": result,
        "arm": f"{result.prompt} · {result.model}",
        "messages": [
            {"role": str(m.get("role", "")), "content": text(m.get("content"))}
            for m in result.messages or []
        ],
        "expected": text(result.expected),
        "output": answer_text(result.output, result.tool_calls),
        "parsed": text(result.parsed),
        "scores": [
            {
                "metric": s.metric,
                "value": fmt_num(s.value),
                "passed": s.passed,
                "reason": s.reason or (f"scorer error: {s.error}" if s.error else ""),
            }
            for s in result.scores
        ],
        "why": failure_reasons(result),
        "facts": [
            ("segment", result.segment or "—"),
            ("repeat", str(result.repeat)),
            ("latency", fmt_ms(result.latency_ms)),
            ("cost", fmt_cost(result.cost_usd)),
            ("tokens in / out", f"{result.input_tokens or '—'} / {result.output_tokens or '—'}"),
            ("confidence", fmt_num(result.confidence)),
            ("attempts", str(result.attempts)),
            ("cached", "yes" if result.cached else "no"),
            ("fingerprint", result.fingerprint or "—"),
            ("recorded", fmt_time(result.ts)),
        ],
    }
