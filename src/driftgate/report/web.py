"""The pages of `driftgate ui`: plain values prepared from library objects, laid out by the
templates in `driftgate/templates/ui/` (autoescaped like every report: a model's output
containing `<script>` is text).

The web app (`driftgate.ui`) gathers the objects (a page of runs, a comparison, a route's
status) through the same library functions as the CLI and hands them here; nothing in
this module reads the workspace.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ..store.browse import CASE_STATUSES, CaseFilter, CasesPage, RunFilter, RunsPage
from ..store.records import CaseResult, RunManifest
from ._format import failure_reasons, fmt_cost, fmt_ms, fmt_num, fmt_pct, fmt_time, trim
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
            "output": trim(text(r["output"]), 160),
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
        "output": text(result.output),
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


def review_values(
    queue: Any, routes: list[str], *, reviewer: str, flash: str | None, error: str | None
) -> dict[str, Any]:
    """The review page: the first queued answer, its choices and shortcuts, the counts."""
    item = queue.items[0] if queue.items else None
    # Digits 1-9 pick one of the first nine labels; the rest are in the menu.
    labels = [(str(i + 1) if i < 9 else "", label) for i, label in enumerate(queue.labels)]
    return {
        "route": queue.route,
        "routes": routes,
        "item": item,
        "vars": [(k, text(v)) for k, v in item.vars.items()] if item else [],
        "answer": text(item.answer) if item else "",
        "output": text(item.output) if item else "",
        "shadows": [(arm, text(a)) for arm, a in item.shadows.items()] if item else [],
        "suggestion": text(item.suggestion) if item and item.suggestion is not None else "",
        "confidence": fmt_num(item.confidence) if item else "—",
        "when": fmt_time(item.ts) if item else "",
        "labels": labels,
        "queued": len(queue.items),
        "counts": [(reason, n) for reason, n in queue.counts.items() if n],
        "reviewed": queue.reviewed,
        "needs": [
            {
                "segment": n.segment,
                "golden": n.golden,
                "needed": n.needed,
                "missing": n.missing,
                "accuracy": fmt_pct(n.accuracy),
            }
            for n in queue.needs
        ],
        "reviewer": reviewer,
        "flash": flash,
        "error": error,
    }


def word_diff(a: str, b: str) -> list[tuple[str, str]]:
    """A word-level diff of two outputs as (op, text) pieces, op in "same", "del", "ins";
    the template escapes each piece (outputs are untrusted)."""
    import difflib
    import re

    wa, wb = re.findall(r"\S+|\s+", a), re.findall(r"\S+|\s+", b)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", "".join(wa[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", "".join(wa[i1:i2])))
        if j2 > j1:
            out.append(("ins", "".join(wb[j1:j2])))
    return out


MAX_DIFFS = 200  # flipped cases diffed on the page


def compare_values(
    cmp: Any, runs: list[RunManifest], picked: dict[str, str | None]
) -> dict[str, Any]:
    """The compare page: the pickers, the paired verdict (the static report's body) and the
    flipped cases side by side with a word diff of their outputs."""
    from ._compare_format import VERDICT_TEXT
    from .html_compare import comparison_page

    values: dict[str, Any] = {
        "runs": [(m.id, f"{m.id} · {m.suite or '—'}") for m in runs],
        "picked": picked,
        "page": None,
    }
    if cmp is None:
        return values
    page = comparison_page(cmp)
    diffs = []
    for f in cmp.flipped[:MAX_DIFFS]:
        a = text(f.output_a if f.error_a is None else "error: " + f.error_a)
        b = text(f.output_b if f.error_b is None else "error: " + f.error_b)
        diffs.append(
            {"case": f.case_id, "direction": f.direction, "segment": f.segment or "",
             "expected": text(f.expected), "diff": word_diff(a, b)}
        )  # fmt: skip
    return {
        **values,
        "page": page,
        "verdict": cmp.verdict,
        "verdict_text": VERDICT_TEXT[cmp.verdict],
        "diffs": diffs,
    }


def route_values(spec: Any, status: Any, moves: list[Any], routes: list[str]) -> dict[str, Any]:
    """The routes page: arms with file and live weights, the weight history, traffic and
    quality per arm and segment (shadows: agreement with the live answer), the verdicts."""
    from .route import _delta, _quality, fmt_weights, pct

    verdict = status.verdict
    arms = [
        {
            "name": a.name,
            "kind": ("live, baseline" if a.name == spec.baseline_arm else "live")
            if a.name not in status.mirrored
            else "live at 0, shadow (mirrored)",
            "prompt": a.prompt,
            "model": a.model or "(the prompt's)",
            "file": f"{a.weight:g}%",
            "live": f"{status.weights.get(a.name, 0.0):g}%",
        }
        for a in spec.arms
    ] + [
        {"name": s.name, "kind": "shadow", "prompt": s.prompt, "model": s.model or "(the prompt's)",
         "file": f"sample {s.sample:.0%}", "live": "never returned"}
        for s in spec.shadow
    ]  # fmt: skip
    traffic = [
        {
            "arm": s.arm + (" (shadow)" if s.shadow else ""),
            "requests": str(s.requests),
            "errors": f"{s.errors} ({pct(s.error_rate)})",
            "acceptance": "–" if s.shadow else pct(s.acceptance),
            "labeled": str(s.labeled),
            "quality": _quality(s),
        }
        for s in verdict.arms
    ]
    segments = []
    for s in verdict.arms:
        finding = verdict.finding(s.arm, shadow=s.shadow)
        by_segment = {g.segment: g for g in finding.segments} if finding else {}
        for seg in s.segments:
            diff = by_segment.get(seg.segment)
            segments.append(
                {"arm": s.arm + (" (shadow)" if s.shadow else ""), "segment": seg.segment,
                 "requests": str(seg.requests), "labeled": str(seg.labeled),
                 "quality": _quality(seg), "delta": _delta(diff),
                 "worse": bool(diff is not None and diff.worse)}
            )  # fmt: skip
    findings = [
        {"arm": f.arm + (" (shadow, paired)" if f.shadow else ""), "action": f.action,
         "delta": _delta(f), "labeled": str(f.labeled), "reason": f.reason}
        for f in verdict.findings
    ]  # fmt: skip
    history = [
        {"when": fmt_time(m.moved_at), "actor": m.actor or "?", "reason": m.reason,
         "before": fmt_weights(m.previous) or "(the route file's)", "after": fmt_weights(m.weights)}
        for m in reversed(moves)
    ]  # fmt: skip
    return {
        "spec": spec,
        "routes": routes,
        "arms": arms,
        "traffic": traffic,
        "segments": segments,
        "findings": findings,
        "action": verdict.action,
        "baseline": verdict.baseline,
        "history": history,
        "fallbacks": ", ".join(spec.fallbacks) or "none",
    }


def versions_values(
    targets: list[tuple[str, int, list[str]]],
    target: str | None,
    rows: list[Any],
    audit: list[Any],
    diff: Any,
    picked: dict[str, str | None],
) -> dict[str, Any]:
    """The versions page: every artifact; for one, its versions, aliases, audit trail and a
    diff of two versions (added lines, removed lines, each version's eval results)."""

    def seq(s: int | None, digest: str | None) -> str:
        return f"@{s}" if s else (digest or "(unset)")

    lines = []
    if diff is not None:
        for line in diff.diff.splitlines():
            kind = "same"
            if line.startswith(("+++", "---", "@@")):
                kind = "head"
            elif line.startswith("+"):
                kind = "ins"
            elif line.startswith("-"):
                kind = "del"
            lines.append((kind, line))
    evals = []
    if diff is not None:
        for side, rows_ in (("A", diff.evals_a), ("B", diff.evals_b)):
            evals += [
                (side, e.run_id, e.arm, str(e.results or "—"), fmt_pct(e.pass_rate)) for e in rows_
            ]
    return {
        "targets": [
            {"target": t, "versions": n, "aliases": ", ".join(a) or "—"} for t, n, a in targets
        ],
        "target": target,
        "rows": [
            {
                "seq": f"@{r.seq}",
                "digest": r.digest,
                "created": fmt_time(r.created_at),
                "by": r.created_by or "—",
                "source": r.source or "—",
                "aliases": ", ".join(r.aliases),
            }
            for r in reversed(rows)
        ],  # fmt: skip
        "choices": [f"{r.seq}" for r in rows],
        "audit": [
            {
                "when": fmt_time(e.ts),
                "who": e.who,
                "action": e.action,
                "alias": e.alias,
                "move": f"{seq(e.from_seq, e.from_digest)} → {seq(e.to_seq, e.to_digest)}",
                "why": e.reason or "",
                "gate": e.gate or "",
                "forced": e.forced,
            }
            for e in reversed(audit)
        ],  # fmt: skip
        "picked": picked,
        "diff": diff,
        "diff_lines": lines,
        "evals": evals,
    }
