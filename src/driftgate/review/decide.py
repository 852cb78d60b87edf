"""A person's decision on a queued answer: stored as feedback, and grown into a golden case.

    outcome = record_review(ws, "categorize/req-17", "correct", label="transport", reviewer="ana")

- `accept`: the answer was right. `correct`: `label` is (a label of the prompt, or the
  typed answer of a free-text prompt). Either is one feedback event on the request, with
  the reviewer and the time (`router.feedback.record_feedback`: the same log and canary
  guard as a user's feedback), and one golden case in the reviewed set: the request's
  variables, the right answer as `expected`, the request id as the case id.
- The leakage guard: an input that already is a golden case (same id or same variables,
  what `retrain` compares) is not added again, and since the case id is the request id,
  `retrain` never trains on an answer that is now in the golden set.
- `skip`: nothing is stored but the skip (the answer goes to the end of the queue).
- Once reviewed, an answer stays reviewed: a second decision on it (a double submit, two
  people on one answer) stores nothing and says who decided first. The check and the
  writes happen under one lock file, so racing reviewers cannot both write.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from .._strict import Strict
from ..errors import ConfigError
from .store import append_line, record_skip, reviewed_path, reviewed_rows

if TYPE_CHECKING:
    from ..workspace import Workspace

Action = Literal["accept", "correct", "skip"]
ACTIONS: tuple[str, ...] = ("accept", "correct", "skip")


class ReviewOutcome(Strict):
    item: str
    action: Action
    duplicate: bool = Field(False, description="Already reviewed: nothing was stored.")
    reviewed_by: str | None = Field(None, description="Who reviewed it first (a duplicate).")
    expected: Any = Field(None, description="The right answer recorded.")
    golden_added: bool = False
    golden_skipped: str | None = Field(None, description="Why no golden case was added.")
    moves: list[str] = Field(default_factory=list, description="Canary moves the event caused.")


def record_review(
    ws: Workspace,
    item: str,
    action: str,
    *,
    reviewer: str,
    label: Any = None,
) -> ReviewOutcome:
    """Store one decision on the queued answer `item` ("ROUTE/REQUEST_ID")."""
    from ..registry._fs import locked
    from ..router.log import read_decisions, read_feedback
    from ..router.router import load_route_ref

    if action not in ACTIONS:
        raise ConfigError(f"unknown review action {action!r}", hint="accept, correct or skip")
    if not reviewer.strip():
        raise ConfigError("a review needs the reviewer's name", field="reviewer")
    route, _, request_id = item.partition("/")
    if not route or not request_id:
        raise ConfigError(f"not a queued answer: {item!r}", hint="ROUTE/REQUEST_ID")
    spec = load_route_ref(ws, route)
    decision = next(
        (d for d in read_decisions(ws, route) if d.id == request_id and not d.shadow), None
    )
    if decision is None:
        raise ConfigError(
            f"route {route!r} has logged no answer {request_id!r}",
            hint="pick an answer from the review queue",
        )
    if action == "skip":
        record_skip(ws, item, reviewer)
        return ReviewOutcome(item=item, action="skip")
    expected = _expected(ws, decision.prompt, action, label, decision.parsed)
    with locked(ws.state_dir / "review" / ".lock"):
        first = next((fb for fb in read_feedback(ws, route) if fb.request_id == request_id
                      and fb.reviewer), None)  # fmt: skip
        if first is not None:
            return ReviewOutcome(
                item=item, action=action, duplicate=True, reviewed_by=first.reviewer,  # type: ignore[arg-type]
                expected=first.correction,
            )  # fmt: skip
        from ..router.feedback import record_feedback

        outcome = record_feedback(
            ws, spec, request_id, "accept" if action == "accept" else "edit",
            correction=None if action == "accept" else expected, reviewer=reviewer,
            note="review queue",
        )  # fmt: skip
        result = ReviewOutcome(item=item, action=action, expected=expected,  # type: ignore[arg-type]
                               moves=outcome.moves)  # fmt: skip
        leaked = _leak(ws, spec, request_id, decision.vars)
        if leaked:
            result.golden_skipped = leaked
            return result
        append_line(
            reviewed_path(ws),
            {
                "id": request_id,
                "vars": decision.vars,
                "expected": expected,
                **({"segment": decision.segment} if decision.segment else {}),
                "metadata": {
                    "source": f"review:{route}",
                    "reviewer": reviewer,
                    "ts": time.time(),
                    "answer": decision.parsed,
                    "arm": decision.arm,
                },
            },
        )
        result.golden_added = True
        return result


def _expected(ws: Workspace, prompt_ref: str, action: str, label: Any, parsed: Any) -> Any:
    if action == "accept":
        if parsed is None:
            raise ConfigError(
                "this answer did not parse, so there is nothing to accept",
                hint="correct it with the right answer instead",
            )
        return parsed
    if label is None or (isinstance(label, str) and not label.strip()):
        raise ConfigError("a correction needs the right answer", field="label")
    label = label.strip() if isinstance(label, str) else label
    labels = _labels(ws, prompt_ref)
    if labels and label not in labels:
        raise ConfigError(
            f"{label!r} is not a label of the prompt", field="label",
            hint="one of: " + ", ".join(labels),
        )  # fmt: skip
    return label


def _labels(ws: Workspace, prompt_ref: str) -> list[str]:
    """The labels of the prompt version that answered (`Decision.prompt`)."""
    from ..registry.prompts import find_prompt

    return list(find_prompt(ws, prompt_ref).output.labels or [])


def _leak(ws: Workspace, spec: Any, request_id: str, variables: dict[str, Any]) -> str | None:
    """Why the answer must not become a golden case, or None."""
    from ..retraining.labels import vars_key
    from .store import golden_cases

    key = vars_key(variables)
    for source, rows in (
        ("golden set", golden_cases(ws, spec)),
        ("reviewed set", reviewed_rows(ws)),
    ):
        for row in rows:
            if row.get("id") == request_id or vars_key(row.get("vars") or {}) == key:
                return f"the same input is already in the {source} (case {row.get('id')})"
    return None
