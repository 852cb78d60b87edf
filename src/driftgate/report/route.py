"""Terminal tables of a route's canary verdict (`driftgate route status | check | replay`).

    traffic      per arm: requests, errors, feedback, acceptance, labeled, quality [bounds]
    per segment  per arm and segment: requests, labeled, quality [bounds], and the
                 difference with the baseline (canaries, unpaired) or with the live answers
                 on the same requests (shadows, paired) [bounds]
    verdicts     per canary and shadow: the action, the difference [bounds], why

Every interval on quality is the always-valid one (`stats.sequential`) at the route's
canary alpha: the same kind the guard decides on, so it holds however often it is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..router.canary import CanaryFinding, CanaryVerdict, SegmentFinding
    from ..router.evidence import ArmStats, SegmentStats


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def _quality(s: ArmStats | SegmentStats) -> str:
    if s.quality is None:
        return "–"
    b = s.quality_bounds
    return pct(s.quality) + (f" [{b[0]:.1%}, {b[1]:.1%}]" if b else "")


def _delta(f: CanaryFinding | SegmentFinding | None) -> str:
    if f is None or f.delta is None or f.bounds is None:
        return "–"
    b = f.bounds
    return f"{f.delta:+.1%} [{b.lower:+.1%}, {b.upper:+.1%}]"


def _text(value: str) -> str:
    """Names and reasons as typed (a segment `[new]` is not rich markup)."""
    from rich.markup import escape

    return escape(value)


def _name(arm: str, shadow: bool) -> str:
    return _text(arm + (" (shadow)" if shadow else ""))


def traffic_table(verdict: CanaryVerdict) -> Any:
    from rich.table import Table

    table = Table("arm", "requests", "errors", "feedback", "acceptance [95% CI]", "labeled",
                  r"quality \[always-valid]", title="traffic (this route file)")  # fmt: skip
    for s in verdict.arms:
        ci = f" [{s.acceptance_ci[0]:.1%}–{s.acceptance_ci[1]:.1%}]" if s.acceptance_ci else ""
        live = ["–", "–"] if s.shadow else [str(s.feedback), pct(s.acceptance) + ci]
        table.add_row(_name(s.arm, s.shadow), str(s.requests),
                      f"{s.errors} ({pct(s.error_rate)})", *live, str(s.labeled),
                      _quality(s))  # fmt: skip
    return table


def segment_table(verdict: CanaryVerdict) -> Any | None:
    """None when no request carried a segment."""
    from rich.table import Table

    if not any(s.segments for s in verdict.arms):
        return None
    table = Table("arm", "segment", "requests", "labeled", r"quality \[always-valid]",
                  f"Δ vs {verdict.baseline} / paired vs live \\[always-valid]",
                  title="per segment")  # fmt: skip
    for s in verdict.arms:
        finding = verdict.finding(s.arm, shadow=s.shadow)
        by_segment = {g.segment: g for g in finding.segments} if finding else {}
        for seg in s.segments:
            diff = by_segment.get(seg.segment)
            mark = " WORSE" if diff is not None and diff.worse else ""
            table.add_row(_name(s.arm, s.shadow), _text(seg.segment), str(seg.requests),
                          str(seg.labeled), _quality(seg), _delta(diff) + mark)  # fmt: skip
    return table


def verdict_tables(verdict: CanaryVerdict) -> list[Any]:
    """Traffic per arm, per segment, then one verdict per canary and shadow."""
    from rich.table import Table

    findings = Table("arm", "verdict", r"Δ \[always-valid bounds]", "why",
                     title=f"against baseline {verdict.baseline!r}")  # fmt: skip
    for f in verdict.findings:
        name = _text(f.arm + (" (shadow, paired)" if f.shadow else ""))
        loud = f.action in ("rollback", "worse")
        findings.add_row(name, f.action.upper() if loud else f.action, _delta(f), _text(f.reason))
    out: list[Any] = (
        [traffic_table(verdict)] if verdict.arms else ["no traffic logged for this route file yet"]
    )
    segments = segment_table(verdict)
    if segments is not None:
        out.append(segments)
    out.append(findings if verdict.findings else "no canary: the route has one live arm")
    out.append(f"canary verdict: {verdict.action}")
    return out
