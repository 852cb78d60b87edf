"""A route in the terminal (`driftgate route status | check | replay | set | feedback`): its
arms and live weights, what a check moved, a replay's traffic, and the canary verdict.

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
    from ..artifacts.route import RouteSpec
    from ..router.canary import CanaryFinding, CanaryVerdict, SegmentFinding
    from ..router.evidence import ArmStats, SegmentStats
    from ..router.operations import RouteCheck, RouteStatus, RuleUse
    from ..router.replay import ReplayReport


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


def fmt_weights(weights: dict[str, float]) -> str:
    """`arm=weight` pairs, as every route message shows live weights."""
    return ", ".join(f"{arm}={w:g}" for arm, w in weights.items())


def status_lines(spec: RouteSpec, status: RouteStatus) -> list[Any]:
    """`route status`: the arms (live weight now against the file's), shadows, fallbacks,
    the last weight move and its reason, then the canary verdict's tables."""
    import time

    from rich.table import Table

    weights, mirrored = status.weights, status.mirrored
    arms = Table("arm", "kind", "prompt", "model", "route file", "live now",
                 title=_text(f"route {spec.name} ({spec.digest})"))  # fmt: skip
    for a in spec.arms:
        moved = " (moved)" if weights.get(a.name, 0.0) != a.weight else ""
        kind = "live, baseline" if a.name == spec.baseline_arm else "live"
        kind = "live at 0, shadow (mirrored)" if a.name in mirrored else kind
        prompt = a.prompt or f"rule@{a.rule} over {', '.join(a.choices)}"
        model = a.model or ("(its choice's)" if a.rule else "(the prompt's)")
        arms.add_row(_text(a.name), kind, _text(prompt), _text(model),
                     f"{a.weight:g}%", f"{weights.get(a.name, 0.0):g}%{moved}")  # fmt: skip
    for s in spec.shadow:
        arms.add_row(_text(s.name), "shadow", _text(s.prompt), _text(s.model or "(the prompt's)"),
                     f"sample {s.sample:.0%}", "never returned")  # fmt: skip
    lines: list[Any] = [arms, _text("fallbacks: " + (", ".join(spec.fallbacks) or "none"))]
    if (last := status.last_move) is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last.moved_at))
        lines.append(_text(f"weights moved {when} by {last.actor or '?'}: {last.reason}"))
        lines.append(
            _text(f"  before: {fmt_weights(last.previous)}; now: {fmt_weights(last.weights)}")
        )
    if mirrored:
        lines.append(_text("on trial as shadows (weight 0, mirrored): " + ", ".join(mirrored)))
    for arm, use in status.rules.items():
        lines.extend(_text(line) for line in rule_lines(arm, use))
    return lines + verdict_tables(status.verdict)


def rule_lines(arm: str, use: RuleUse) -> list[str]:
    """A rule arm: its rule version, held-out figures and its picks per segment."""
    if use.rule is None:
        return [f"rule arm {arm}: its rule alias is not set (driftgate retrain route/NAME)"]
    m = use.metrics
    out = [f"rule arm {arm}: serves {use.rule}"]
    if "quality_vs_best" in m and "cost_vs_best" in m:
        out.append(
            f"  held out at training: {m['quality_vs_best']:.1%} of the best single choice's "
            f"quality at {m['cost_vs_best']:.1%} of its cost"
        )
    singles = sorted(k.split(":", 1)[1] for k in m if k.startswith("quality:"))
    if "quality" in m and "cost_per_1k" in m:
        rows = [f"rule {m['quality']:.3f} at {m['cost_per_1k']:.4g} USD/1k requests"] + [
            f"{c} {m[f'quality:{c}']:.3f} at {m[f'cost_per_1k:{c}']:.4g}" for c in singles
        ]
        out.append("  quality and cost, held out: " + "; ".join(rows))
    for segment, picks in sorted(use.picks.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        n = sum(picks.values())
        shares = ", ".join(f"{c} {k / n:.0%}" for c, k in sorted(picks.items()))
        out.append(f"  picks, {segment}: {shares} ({n} requests)")
    return out


def check_notes(spec: RouteSpec, result: RouteCheck) -> list[str]:
    """`route check`: what moved, which canaries are ready, which were left live."""
    weights = result.weights
    notes = [f"{m}: live weights now {fmt_weights(weights)}" for m in result.moves]
    notes += [
        f"{arm} is not worse at {weights.get(arm, 0.0):g}% on fresh evidence: "
        "ready to promote (`driftgate loop` moves the alias on a route with `loop:`)"
        for arm in result.ready_to_promote
    ]
    for arm in result.verdict.rollback_arms:  # in the verdict's order
        if arm in result.already_out:
            notes.append(f"{arm} already has weight 0: nothing to move")
        elif arm in result.left_live:
            notes.append(
                f"{arm} not rolled back (rollback off): `driftgate route rollback "
                f"{spec.name} {arm}` moves it"
            )
    return [_text(n) for n in notes]


def replay_lines(spec: RouteSpec, report: ReplayReport) -> list[Any]:
    """`route replay`: requests, errors, feedback and acceptance per arm; the most common
    errors; the weight moves the replay's canary checks made."""
    from rich.table import Table

    result = report.result
    title = f"replay of {len(result.requests)} requests on route {spec.name}"
    table = Table("arm", "requests", "errors", "feedback", "acceptance", "matches expected",
                  title=_text(title))  # fmt: skip
    for row in report.rows:
        name, n_fb_text = (
            (row.arm + " (shadow)", "–") if row.shadow else (row.arm, str(row.feedback))
        )
        table.add_row(
            _text(name), str(row.requests), str(row.errors), n_fb_text, pct(row.acceptance),
            pct(row.match_rate),
        )  # fmt: skip
    out: list[Any] = [table]
    failed = sum(result.errors.values())
    if failed:
        out.append(f"{failed} requests failed (logged as errors of their arm):")
        for text, n in result.errors.most_common(5):
            out.append(_text(f"  {n}× {text}"))
        if len(result.errors) > 5:
            out.append(f"  … and {len(result.errors) - 5} other errors")
    for h in report.moves:
        out.append(_text(f"weights moved: {h.reason}\n  now: {fmt_weights(h.weights)}"))
    return out
