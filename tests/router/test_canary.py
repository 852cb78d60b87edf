"""Judging canaries from traffic-log records, without serving anything."""

from __future__ import annotations

import random

import pytest

from driftgate.artifacts.route import RouteSpec
from driftgate.router.canary import arm_stats, judge, worse_p_value
from driftgate.router.log import Decision, Feedback

SPEC = RouteSpec.model_validate(
    {
        "name": "r",
        "arms": [
            {"name": "production", "prompt": "p@1", "weight": 90},
            {"name": "candidate", "prompt": "p@2", "weight": 10},
        ],
        "shadow": [{"name": "next", "prompt": "p@1"}],
        "canary": {"min_feedback": 30, "alpha": 0.05, "min_requests": 20, "max_error_rate": 0.2},
    }
)


def traffic(arm: str, n: int, accept_rate: float, *, errors: int = 0, seed: int = 0):
    rng = random.Random(seed)
    decisions, feedback = [], []
    for i in range(n):
        rid = f"{arm}-{i}"
        failed = i < errors
        decisions.append(
            Decision(
                id=rid, ts=0, route="r", route_digest=SPEC.digest, arm=arm, prompt="p@1",
                prompt_digest="x", model="m", vars={}, parsed=None if failed else "a",
                error="boom" if failed else None,
            )
        )  # fmt: skip
        if not failed:
            verdict = "accept" if rng.random() < accept_rate else "edit"
            feedback.append(
                Feedback(
                    request_id=rid,
                    ts=0,
                    route="r",
                    verdict=verdict,
                    correction=None if verdict == "accept" else "b",
                )
            )
    return decisions, feedback


def verdict_for(prod: tuple, cand: tuple):
    return judge(SPEC, arm_stats(prod[0] + cand[0], prod[1] + cand[1]))


def test_p_value_is_small_only_when_the_canary_is_worse() -> None:
    assert worse_p_value(90, 100, 60, 100, 0.0) < 0.001
    assert worse_p_value(90, 100, 90, 100, 0.0) == pytest.approx(0.5, abs=0.01)
    assert worse_p_value(60, 100, 90, 100, 0.0) > 0.99
    # A margin tolerates a small drop: 88% vs 90% is not "worse by more than 5 points".
    assert worse_p_value(900, 1000, 880, 1000, 0.05) > 0.5
    # All accepted on both sides (a zero raw variance) still gives a sane answer.
    assert worse_p_value(30, 30, 30, 30, 0.0) == pytest.approx(0.5)


def test_worse_canary_is_rolled_back() -> None:
    v = verdict_for(traffic("production", 300, 0.9), traffic("candidate", 80, 0.5, seed=1))
    assert v.action == "rollback" and v.rollback_arms == ["candidate"]
    (finding,) = v.findings
    assert finding.delta < -0.3 and finding.p_value < 0.001 and "accepted" in finding.reason


def test_equal_canary_is_healthy_and_small_samples_wait() -> None:
    v = verdict_for(traffic("production", 300, 0.9), traffic("candidate", 80, 0.9, seed=2))
    assert v.action == "healthy"
    v = verdict_for(traffic("production", 300, 0.9), traffic("candidate", 10, 0.0))
    assert v.action == "wait" and "30 each are needed" in v.findings[0].reason


def test_error_rate_rolls_back_before_any_feedback() -> None:
    prod = traffic("production", 100, 0.9)
    cand = traffic("candidate", 25, 1.0, errors=10)
    v = judge(SPEC, arm_stats(prod[0] + cand[0], prod[1]))  # no feedback on the canary
    assert v.rollback_arms == ["candidate"] and "error rate 40.0%" in v.findings[0].reason


def test_shadow_agreement_uses_accepted_answers_and_corrections_as_labels() -> None:
    live = Decision(
        id="q", ts=0, route="r", route_digest="d", arm="production", prompt="p", prompt_digest="x",
        model="m", vars={}, parsed="Dining",
    )  # fmt: skip
    shadow = live.model_copy(update={"arm": "next", "shadow": True, "parsed": "dining"})
    stats = arm_stats([live, shadow], [Feedback(request_id="q", ts=0, route="r", verdict="accept")])
    assert stats[("next", True)].agreement == 1.0  # case-insensitive label match
    stats = arm_stats(
        [live, shadow],
        [Feedback(request_id="q", ts=0, route="r", verdict="edit", correction="rent")],
    )
    s = stats[("next", True)]
    assert s.labeled == 1 and s.agreement == 0.0
    assert stats[("production", False)].acceptance == 0.0
