"""The review queue in a terminal (`driftgate review`), and the one-line account of a
decision that the command and the UI's Review page both show."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._format import console, fmt_pct, trim

if TYPE_CHECKING:
    from ..review import ReviewOutcome, ReviewQueue


def decision_line(outcome: ReviewOutcome) -> str:
    """What a decision stored, in one line."""
    if outcome.duplicate:
        return f"already reviewed by {outcome.reviewed_by}: nothing stored"
    if outcome.action == "skip":
        return "skipped: it will come back at the end of the queue"
    said = f"recorded {outcome.expected!r} as the right answer"
    said += "; added to the golden set" if outcome.golden_added else f"; {outcome.golden_skipped}"
    if outcome.moves:
        said += "; canary: " + ", ".join(outcome.moves)
    return said


def render_queue(queue: ReviewQueue, *, limit: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    counts = ", ".join(f"{n} {reason}" for reason, n in queue.counts.items() if n) or "nothing"
    out.print(escape(f"route {queue.route}: {len(queue.items)} queued ({counts}); "
                     f"{queue.reviewed} reviewed so far"))  # fmt: skip
    if queue.items:
        table = Table("item", "why", "answer", "input", "segment")
        for item in queue.items[:limit]:
            shown = " · ".join(str(v) for v in item.vars.values())
            table.add_row(escape(item.id), escape(item.why), escape(trim(str(item.answer), 30)),
                          escape(trim(shown, 60)), escape(item.segment or "—"))  # fmt: skip
        out.print(table)
    if queue.needs:
        needs = Table("segment", "accepted", "golden cases", "needed", "still to label",
                      title="labels for the next retrain's gate")  # fmt: skip
        for n in queue.needs:
            needs.add_row(escape(n.segment), fmt_pct(n.accuracy), str(n.golden), str(n.needed),
                          str(n.missing))  # fmt: skip
        out.print(needs)
