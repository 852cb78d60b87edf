"""The closed loop of one route, in one call: drift → labels → retrain → gate → shadow →
canary → promotion, or revert.

    from driftgate import loop
    result = loop("categorize")            # one turn; run it from cron or a CI schedule
    result.phase, result.events, result.exit_code

`driftgate loop ROUTE` is the same call. See `cycle.py` for the phases and `state.py` for
what is kept between turns.
"""

from __future__ import annotations

from .cycle import LoopResult, run_loop
from .state import LoopEvent, LoopState, loop_history, read_loop_state

loop = run_loop

__all__ = [
    "LoopEvent",
    "LoopResult",
    "LoopState",
    "loop",
    "loop_history",
    "read_loop_state",
    "run_loop",
]
