"""The offline demo's narration: one line per step of `examples/story.py`, and its reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._format import fmt_pct, trim

if TYPE_CHECKING:
    from ..engine.runner import Run
    from ..examples.story import Step

NEW_FORMAT = "cohort=new-bank-format"
ESTABLISHED = "cohort=established"

NEXT = """\
What to run next, in the demo's workspace ({dest}):
  driftgate route status categorize-knn -w {dest}     # arms, weights, quality per segment, the loop's steps
  driftgate versions prompt/categorize-knn -w {dest}  # every version, the retrained one included
  driftgate audit -w {dest}                           # who moved which alias, when, on what evidence
  driftgate models pull && driftgate run -c evalsets/quickstart.suite.yaml   # the embedded LLM on the same task"""


def segment_rates(run: Run) -> dict[str, tuple[float | None, list[float] | None]]:
    """Pass rate and its 95% interval per segment (one arm: the story's runs have one)."""
    summary = run.summary
    out: dict[str, tuple[float | None, list[float] | None]] = {}
    if summary is None:
        return out
    for key, seg in summary.by_segment.items():
        name = seg.get("segment") or key.rsplit("|", 1)[-1]
        out[str(name)] = (seg.get("pass_rate"), seg.get("pass_rate_ci"))
    return out


def _rate(run: Run, segment: str) -> str:
    rate, ci = segment_rates(run).get(segment, (None, None))
    if rate is None:
        return "n/a"
    interval = f" [{fmt_pct(ci[0])}–{fmt_pct(ci[1])}]" if ci else ""
    return f"{fmt_pct(rate)}{interval}"


def _overall(run: Run) -> str:
    s = run.summary
    return fmt_pct(s.pass_rate) if s and s.pass_rate is not None else "n/a"


def step_line(step: Step, number: int, report: Path | None) -> str:
    """The step as one line of narrative, with a link to its report."""
    text = _describe(step)
    link = f"  → {report}" if report else ""
    return f"{number:>2}. {step.key:<10} {text}{link}"


def _describe(step: Step) -> str:
    if step.run is not None and step.key == "eval":
        return (
            f"{len(step.run.results)} golden cases on local/knn: {_overall(step.run)}; established "
            f"{_rate(step.run, ESTABLISHED)}, new bank format {_rate(step.run, NEW_FORMAT)}"
        )
    if step.run is not None:
        return (
            f"production now: {_overall(step.run)}; new bank format {_rate(step.run, NEW_FORMAT)}, "
            f"established {_rate(step.run, ESTABLISHED)}"
        )
    if step.move is not None:
        return step.move.message
    if step.serve is not None:
        return _served(step.serve)
    if step.loop is not None:
        loop = step.loop
        if not loop.events:
            return f"{loop.phase_before} → {loop.phase}: nothing to do"
        actions = [e.action for e in loop.events]
        # The event that says most about the turn; the report has them all.
        rank = {"promote": 0, "revert": 0, "alarm": 1, "canary": 2, "ramp": 2}
        head = min(loop.events, key=lambda e: rank.get(e.action, 3))
        return (
            f"{loop.phase_before} → {loop.phase}: {', '.join(actions)} — {trim(head.detail, 130)}"
        )
    return ", ".join(f"{k} {v}" for k, v in step.facts.items())


def _served(serve: Any) -> str:
    live = [r for r in serve.rows if not r.shadow]
    requests = sum(r.requests for r in live)
    feedback = sum(r.feedback for r in live)
    accepted = sum(r.accepted for r in live)
    corrected = feedback - accepted
    return (
        f"{requests} live requests (half in the new bank format) through route categorize-knn; "
        f"simulated users accepted {accepted} answers and corrected {corrected}: "
        f"{feedback} labels logged"
    )


def step_text(step: Step) -> str | None:
    """The report of a step that has no run report: the loop turn's steps, the replay's
    per-arm counts, the alias move with its audit entry (plain text)."""
    if step.loop is not None:
        from .loop import render_loop

        return render_loop(step.loop) + "\n"
    if step.serve is not None:
        lines = ["arm            shadow  requests  errors  feedback  accepted  labeled  right"]
        for r in step.serve.rows:
            lines.append(
                f"{r.arm:<14} {'yes' if r.shadow else 'no':<7} {r.requests:>8}  {r.errors:>6}  "
                f"{r.feedback:>8}  {r.accepted:>8}  {r.labeled:>7}  {r.matches:>5}"
            )
        return "\n".join(lines) + "\n"
    if step.move is not None:
        move = step.move
        lines = [move.message]
        if move.entry is not None:
            lines.append(move.entry.model_dump_json(indent=2, exclude_none=True))
        if move.verdict is not None:
            from .gate import render_verdict

            lines.append(render_verdict(move.verdict))
        return "\n".join(lines) + "\n"
    return None


def next_steps(dest: Path) -> str:
    return NEXT.format(dest=dest)
