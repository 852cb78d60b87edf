"""The retraining loop as text: one turn's steps, and a route's loop state and history."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..loops import LoopEvent, LoopResult, LoopState


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def render_loop(result: LoopResult) -> str:
    """What one `driftgate loop` turn did (or, dry, would do), and where it left the route."""
    head = f"loop {result.route}: {result.phase_before}"
    head += f" → {result.phase}" if result.phase != result.phase_before else " (unchanged)"
    if result.dry_run:
        head += "  [dry run: nothing changed]"
    lines = [head]
    lines += [f"  {e.action:<14} {e.detail}" for e in result.events]
    verdict = "needs attention" if result.attention else "ok"
    lines.append(f"result: {verdict} (exit {result.exit_code})")
    return "\n".join(lines)


def render_loop_status(state: LoopState, history: list[LoopEvent]) -> str:
    """The loop section of `driftgate route status`."""
    line = f"loop: {state.phase}"
    if state.candidate:
        line += f", candidate {state.candidate}"
        if state.phase_since:
            line += f" since {_when(state.phase_since)}"
    if state.rejected:
        line += f"; {len(state.rejected)} candidate(s) reverted before"
    lines = [line]
    for e in history:
        lines.append(f"  {_when(e.ts)}  {e.phase:<6} {e.action:<14} {e.detail}")
    return "\n".join(lines)
