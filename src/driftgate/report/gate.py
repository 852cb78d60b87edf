"""A gate verdict as a small table for the terminal."""

from __future__ import annotations

from ..gate.verdict import GateVerdict, rule_numbers

_MARK = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}


def render_verdict(v: GateVerdict) -> str:
    """The verdict's headline, then one line per rule with its figures, then warnings."""
    lines = [
        f"gate {'PASSED' if v.passed else 'FAILED'}: {v.candidate}"
        + (f" vs {v.baseline}" if v.baseline else " (no baseline)")
        + (f" · {v.on}" if v.on else "")
        + f" · {v.n_cases} cases · policy {v.policy}"
    ]
    width = max((len(r.name) for r in v.rules), default=10)
    for r in v.rules:
        lines.append(f"  {_MARK[r.status]}  {r.name:<{width}}  {rule_numbers(r)}".rstrip())
    lines += [f"  warning: {w}" for w in v.warnings]
    return "\n".join(lines)
