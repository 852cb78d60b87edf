"""Serving: canary and shadow arms over a route, a traffic log, feedback, canary rollback.

from driftgate.router import Router
router = Router("categorize")
answer = await router.complete({"description": "UBER *TRIP"}, sticky="user-42")
router.feedback(answer.id, "accept")
"""

from __future__ import annotations

from .canary import ArmStats, CanaryFinding, CanaryVerdict, check_canary, check_shadow, guard
from .log import (
    Decision,
    Feedback,
    labeled_cases,
    read_decisions,
    read_feedback,
    traffic_records,
)
from .router import Router, bucket, load_route_ref
from .state import current_weights, history, mirrored_arms, rollback_weights, set_weights

__all__ = [
    "ArmStats",
    "CanaryFinding",
    "CanaryVerdict",
    "Decision",
    "Feedback",
    "Router",
    "bucket",
    "check_canary",
    "check_shadow",
    "current_weights",
    "guard",
    "history",
    "labeled_cases",
    "load_route_ref",
    "mirrored_arms",
    "read_decisions",
    "read_feedback",
    "rollback_weights",
    "set_weights",
    "traffic_records",
]
