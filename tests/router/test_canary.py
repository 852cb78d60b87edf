"""Judging canaries from traffic-log records, without serving anything."""

from __future__ import annotations

import random

import pytest

from driftgate.artifacts.route import RouteSpec
from driftgate.router.canary import arm_stats, judge
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


def traffic(arm: str, n: int, accept_rate: float, *, errors: int = 0, seed: int | None = None):
    """`n` requests on `arm`, accepted at `accept_rate` (exactly, in a fixed pattern, unless
    a `seed` draws them at random)."""
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
            u = rng.random() if seed is not None else (i * 0.6180339887) % 1
            verdict = "accept" if u < accept_rate else "edit"
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


def test_worse_canary_is_rolled_back_on_an_always_valid_upper_bound() -> None:
    v = verdict_for(traffic("production", 300, 0.9), traffic("candidate", 80, 0.5, seed=1))
    assert v.action == "rollback" and v.rollback_arms == ["candidate"]
    (finding,) = v.findings
    assert finding.delta < -0.3 and finding.bounds.upper < 0 and "worse" in finding.reason


def test_equal_canary_needs_evidence_of_non_inferiority_before_it_is_healthy() -> None:
    # 80 labeled answers cannot tell "equal" from "5 points worse": undecided, not healthy.
    v = verdict_for(traffic("production", 300, 0.9), traffic("candidate", 80, 0.9))
    assert v.action == "wait" and "undecided" in v.findings[0].reason
    # 2,000 each, equal: the lower bound is above −3 points (the default margin).
    v = verdict_for(traffic("production", 2000, 0.9), traffic("candidate", 2000, 0.9))
    (finding,) = v.findings
    assert v.action == "healthy" and -0.03 < finding.bounds.lower < 0 < finding.bounds.upper
    # 5 points worse on as much data: never "healthy" (the lower bound stays below −3).
    v = verdict_for(traffic("production", 2000, 0.9), traffic("candidate", 2000, 0.85))
    assert v.findings[0].action in ("wait", "rollback") and v.findings[0].bounds.lower < -0.03
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
    assert stats[("next", True)].pairs == 1 and stats[("next", True)].pair_sum == 0
    stats = arm_stats(
        [live, shadow],
        [Feedback(request_id="q", ts=0, route="r", verdict="edit", correction="rent")],
    )
    s = stats[("next", True)]
    assert s.labeled == 1 and s.agreement == 0.0
    assert stats[("production", False)].acceptance == 0.0
    assert s.pairs == 1 and s.pair_sum == 0  # both wrong: a tie


def test_shadows_are_compared_paired_with_the_live_answer_per_request() -> None:
    decisions, feedback = [], []
    for i in range(400):
        label = "a" if i % 2 else "b"
        live_ok, shadow_ok = i % 10 != 0, i % 10 not in (0, 1, 2)  # shadow 20 points worse
        live = Decision(
            id=f"q{i}", ts=0, route="r", route_digest="d", arm="production", prompt="p",
            prompt_digest="x", model="m", vars={}, parsed=label if live_ok else "z",
            segment="new" if i % 4 == 0 else "old",
        )  # fmt: skip
        decisions += [
            live,
            live.model_copy(
                update={"arm": "next", "shadow": True, "parsed": label if shadow_ok else "z"}
            ),
        ]
        ok = live_ok
        feedback.append(
            Feedback(request_id=f"q{i}", ts=0, route="r", verdict="accept" if ok else "edit",
                     correction=None if ok else label)
        )  # fmt: skip
    v = judge(SPEC, arm_stats(decisions, feedback))
    shadow = next(f for f in v.findings if f.shadow)
    assert shadow.arm == "next" and shadow.action == "worse" and shadow.labeled == 400
    assert shadow.delta == pytest.approx(-0.2) and shadow.bounds.upper < 0
    live = next(s for s in v.arms if s.arm == "production" and not s.shadow)
    assert [(seg.segment, seg.labeled) for seg in live.segments] == [("new", 100), ("old", 300)]
    assert live.segments[0].quality == pytest.approx(0.8)  # wrong when i % 20 == 0
