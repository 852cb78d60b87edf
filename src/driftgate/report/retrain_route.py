"""A route's rule retrain as text: the traffic it learned from, what it measured on newer
held-out traffic against each single choice, the gate and the alias."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..retraining.route_rule import RouteRetrainResult


def _figures(ev: dict[str, Any]) -> list[str]:
    names = ["rule", *sorted(k for k in ev["quality"] if k != "rule")]
    lines = [f"  {'':<14}{'quality':>9}{'USD/1k req':>12}{'picked':>8}"]
    for name in names:
        share = "" if name == "rule" else f"{ev['choice_share'].get(name, 0.0):>8.0%}"
        lines.append(
            f"  {name:<14}{ev['quality'][name]:>9.3f}"
            f"{ev['cost_per_request'][name] * 1000:>12.4f}{share}"
        )
    lines.append(
        f"  the rule keeps {ev['quality_vs_best']:.1%} of the best choice's quality at "
        f"{ev['cost_vs_best']:.1%} of its cost"
    )
    for segment, seg in sorted(ev.get("per_segment", {}).items()):
        shares = ", ".join(f"{k} {v:.0%}" for k, v in sorted(seg.get("choice_share", {}).items()))
        lines.append(f"    {segment}: {int(seg.get('n', 0))} requests; picks {shares}")
    return lines


def render_route_retrain(result: RouteRetrainResult) -> str:
    """What the retrain read, measured, decided and did, for the terminal."""
    from .gate import render_verdict

    lines = [
        f"retrain route/{result.route}: rule arm {result.arm!r} picks among "
        f"{', '.join(result.choices)}",
        f"  labeled requests: {result.labeled}; answered by every choice: {result.paired} "
        f"(trained on the oldest {result.train_size}, held out the newest {result.test_size})",
        "  held out, the rule against each single choice"
        + (f" (and {result.current}, serving now)" if result.current else "")
        + ":",
        *_figures(result.evaluation),
        render_verdict(result.verdict),
    ]
    if result.candidate:
        lines.append(f"  registered: {result.candidate} ({result.candidate_digest})")
    if result.applied:
        lines.append(f"  {result.alias} of rule/{result.route} → {result.candidate}")
    elif result.dry_run:
        lines.append("  dry run: nothing registered, no alias moved")
    elif not result.passed:
        lines.append(f"  gate failed: {result.alias} not moved, nothing registered")
    lines.extend(f"  note: {n}" for n in result.notes)
    return "\n".join(lines)
