"""The review queue: logged answers worth a person's look, and their decisions turned into
feedback and golden cases (`driftgate ui`'s Review page calls these).

    queue = review_queue(ws, "categorize")
    record_review(ws, queue.items[0].id, "correct", label="transport", reviewer="ana")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "ACTIONS",
    "REASONS",
    "ReviewItem",
    "ReviewOutcome",
    "ReviewQueue",
    "ReviewSettings",
    "SegmentNeed",
    "record_review",
    "review_queue",
]

# Lazy: the workspace reads `review.settings`, and must not pay for the router when it does.
_LAZY = {
    "ACTIONS": "decide",
    "ReviewOutcome": "decide",
    "record_review": "decide",
    "REASONS": "queue",
    "ReviewItem": "queue",
    "ReviewQueue": "queue",
    "SegmentNeed": "queue",
    "review_queue": "queue",
    "ReviewSettings": "settings",
}

if TYPE_CHECKING:
    from .decide import ACTIONS as ACTIONS
    from .decide import ReviewOutcome as ReviewOutcome
    from .decide import record_review as record_review
    from .queue import REASONS as REASONS
    from .queue import ReviewItem as ReviewItem
    from .queue import ReviewQueue as ReviewQueue
    from .queue import SegmentNeed as SegmentNeed
    from .queue import review_queue as review_queue
    from .settings import ReviewSettings as ReviewSettings


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
