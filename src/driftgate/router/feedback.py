"""Feedback on an answered request, and the canary check it triggers.

    outcome = record_feedback(ws, spec, "req-17", "edit", correction="transport")
    outcome.verdict, outcome.moves, outcome.request_logged

One rule for every writer of feedback: a serving `Router` (`Router.feedback`), the
`driftgate route feedback` command and any gateway built on the library. Each event is
one `Feedback` line in the route's traffic log, and every `canary.check_every` events the
canaries are judged (`guard`): a worse one is rolled back under `canary.auto_rollback`, a
healthy one steps up its ramp. A serving router counts the events it took itself (it
already holds the tally); a process that records one event and exits counts the route's
whole feedback log, so the same cadence holds across many short-lived writers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .canary import CanaryVerdict, guard
from .log import Feedback, TrafficLog, Verdict, read_decisions, read_feedback
from .state import current_weights

if TYPE_CHECKING:
    from ..artifacts.route import RouteSpec
    from ..workspace import Workspace


def feedback_event(
    route: str,
    request_id: str,
    verdict: Verdict,
    *,
    correction: Any = None,
    note: str | None = None,
    reviewer: str | None = None,
) -> Feedback:
    """The logged form of what a user (or a `reviewer`) did with an answer, stamped now."""
    return Feedback(
        request_id=request_id,
        ts=time.time(),
        route=route,
        verdict=verdict,
        correction=correction,
        note=note,
        reviewer=reviewer,
    )


def check_due(events: int, spec: RouteSpec) -> bool:
    """Whether the `events`-th feedback event is one on which the canaries are judged."""
    return events % spec.canary.check_every == 0


@dataclass
class FeedbackOutcome:
    """What recording one feedback event did."""

    feedback: Feedback
    # False when the route has logged no answer with this request id (yet): the event is
    # kept, and counts once the decision is logged (a gateway may log it later).
    request_logged: bool
    verdict: CanaryVerdict | None = None  # the canary check the event triggered, if any
    moves: list[str] = field(default_factory=list)  # "rolled back ARM", "ramped ARM to W%"
    weights_before: dict[str, float] = field(default_factory=dict)
    weights_after: dict[str, float] = field(default_factory=dict)


def record_feedback(
    workspace: Workspace,
    spec: RouteSpec,
    request_id: str,
    verdict: Verdict,
    *,
    correction: Any = None,
    note: str | None = None,
    reviewer: str | None = None,
) -> FeedbackOutcome:
    """Record one feedback event outside a serving process (a command, a webhook) and,
    every `check_every` events of the route's log, judge the canaries as a router would."""
    before = current_weights(workspace, spec)
    event = feedback_event(
        spec.name, request_id, verdict, correction=correction, note=note, reviewer=reviewer
    )
    log = TrafficLog(workspace, spec.name)
    try:
        log.feedback(event)
    finally:
        log.close()
    outcome = FeedbackOutcome(event, request_logged=False, weights_before=before)
    # Counted over the route's log: this process saw one event, the route many.
    if check_due(len(read_feedback(workspace, spec.name)), spec):
        outcome.verdict, outcome.moves = guard(workspace, spec)
    outcome.request_logged = any(d.id == request_id for d in read_decisions(workspace, spec.name))
    outcome.weights_after = current_weights(workspace, spec)
    return outcome
