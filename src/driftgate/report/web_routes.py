"""`driftgate ui`'s Routes and Review pages: a route's arms, live weights and their history,
canary verdicts and per-segment quality; the review queue's first answer, its choices and
keyboard shortcuts, and the labels each segment still needs."""

from __future__ import annotations

from typing import Any

from ._format import fmt_num, fmt_pct, fmt_time
from .html import text


def route_values(spec: Any, status: Any, moves: list[Any], routes: list[str]) -> dict[str, Any]:
    """The routes page: arms with file and live weights, the weight history, traffic and
    quality per arm and segment (shadows: agreement with the live answer), the verdicts."""
    from .route import _delta, _quality, fmt_weights, pct, rule_lines

    verdict = status.verdict
    arms = [
        {
            "name": a.name,
            "kind": ("live, baseline" if a.name == spec.baseline_arm else "live")
            if a.name not in status.mirrored
            else "live at 0, shadow (mirrored)",
            "prompt": a.prompt or f"rule@{a.rule} over {', '.join(a.choices)}",
            "model": a.model or ("(its choice's)" if a.rule else "(the prompt's)"),
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
        "rules": [{"arm": arm, "lines": rule_lines(arm, use)} for arm, use in status.rules.items()],
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
