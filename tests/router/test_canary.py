"""Judging canaries from traffic-log records, without serving anything."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from driftgate.artifacts.route import RouteSpec
from driftgate.router.canary import arm_stats, guard, judge
from driftgate.router.log import Decision, Feedback
from driftgate.router.state import current_weights, set_weights
from driftgate.router.tally import Tally
from driftgate.workspace import Workspace

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


def paired_traffic(n: int, *, shadow_wrong_on_new: bool) -> tuple[list, list]:
    """`n` requests, the live answer wrong on every tenth (never in segment "new"); the
    shadow answers as the live arm does, except (optionally) wrong on all of "new"."""
    decisions, feedback = [], []
    for i in range(n):
        segment = "new" if i % 4 == 0 else "old"
        live_ok = i % 10 != 1
        shadow_ok = live_ok and not (shadow_wrong_on_new and segment == "new")
        live = Decision(
            id=f"q{i}", ts=0, route="r", route_digest="d", arm="production", prompt="p",
            prompt_digest="x", model="m", vars={}, parsed="a" if live_ok else "z",
            segment=segment,
        )  # fmt: skip
        shadow = live.model_copy(
            update={"arm": "next", "shadow": True, "parsed": "a" if shadow_ok else "z"}
        )
        decisions += [live, shadow]
        verdict = "accept" if live_ok else "edit"
        feedback.append(
            Feedback(request_id=f"q{i}", ts=0, route="r", verdict=verdict,
                     correction=None if live_ok else "a")
        )  # fmt: skip
    return decisions, feedback


def test_a_shadow_worse_on_one_segment_shows_there_paired() -> None:
    v = judge(SPEC, arm_stats(*paired_traffic(800, shadow_wrong_on_new=True)))
    shadow = v.finding("next", shadow=True)
    assert shadow is not None
    by_segment = {s.segment: s for s in shadow.segments}
    assert set(by_segment) == {"new", "old"}
    new, old = by_segment["new"], by_segment["old"]
    assert new.labeled == 200 and old.labeled == 600
    assert new.delta == pytest.approx(-1.0) and new.worse and new.bounds.upper < 0
    assert old.delta == 0 and not old.worse and old.bounds.lower < 0 < old.bounds.upper
    stats = arm_stats(*paired_traffic(800, shadow_wrong_on_new=True))[("next", True)]
    assert [(s.segment, s.requests, s.pairs) for s in stats.segments] == [
        ("new", 200, 200),
        ("old", 600, 600),
    ]
    # The same traffic with the shadow right on "new" too: no segment is worse.
    v = judge(SPEC, arm_stats(*paired_traffic(800, shadow_wrong_on_new=False)))
    shadow = v.finding("next", shadow=True)
    assert shadow is not None and shadow.action == "ok"
    assert not any(s.worse for s in shadow.segments)


def test_a_canary_worse_on_one_segment_shows_there_unpaired() -> None:
    decisions, feedback = [], []
    for arm, n in (("production", 1200), ("candidate", 1200)):
        for i in range(n):
            segment = "new" if i % 4 == 0 else "old"
            ok = i % 10 != 1 and not (arm == "candidate" and segment == "new" and i % 8 == 0)
            decisions.append(
                Decision(
                    id=f"{arm}{i}", ts=0, route="r", route_digest=SPEC.digest, arm=arm,
                    prompt="p", prompt_digest="x", model="m", vars={},
                    parsed="a" if ok else "z", segment=segment,
                )
            )  # fmt: skip
            feedback.append(
                Feedback(request_id=f"{arm}{i}", ts=0, route="r",
                         verdict="accept" if ok else "edit", correction=None if ok else "a")
            )  # fmt: skip
    v = judge(SPEC, arm_stats(decisions, feedback))
    (finding,) = [f for f in v.findings if not f.shadow]
    by_segment = {s.segment: s for s in finding.segments}
    assert by_segment["new"].delta == pytest.approx(-0.5) and by_segment["new"].worse
    assert by_segment["old"].delta == pytest.approx(0) and not by_segment["old"].worse


# ---- the guard's actions ---------------------------------------------------------------------


def guard_spec(ramp: list[float]) -> RouteSpec:
    return SPEC.model_copy(
        update={"canary": SPEC.canary.model_copy(update={"ramp": ramp, "min_feedback": 100})}
    )


def tally_of(spec: RouteSpec, *arms: tuple[list, list]) -> Tally:
    """The arms' traffic as logged under `spec` (its digest on every decision)."""
    tally = Tally(spec.digest)
    for decisions, feedback in arms:
        tally.add([d.model_copy(update={"route_digest": spec.digest}) for d in decisions], feedback)
    return tally


def equal_tally(spec: RouteSpec, n: int) -> Tally:
    return tally_of(spec, traffic("production", n, 1.0), traffic("candidate", n, 1.0))


def test_guard_steps_a_healthy_canary_then_waits_for_fresh_answers_then_promotes(
    ws_root: Path,
) -> None:
    ws = Workspace.find(ws_root)
    spec = guard_spec([50, 100])
    verdict, moves = guard(ws, spec, tally=equal_tally(spec, 400), digests={})
    assert moves == ["ramped candidate to 50%"] and verdict.findings[0].action == "step"
    assert current_weights(ws, spec) == {"production": 50.0, "candidate": 50.0}
    # No new answers at 50%: it waits, and says for what.
    verdict, moves = guard(ws, spec, tally=equal_tally(spec, 400), digests={})
    (finding,) = verdict.findings
    assert moves == [] and finding.action == "wait" and verdict.action == "wait"
    assert "0 of 100 new labeled answers at 50%" in finding.reason
    verdict, moves = guard(ws, spec, tally=equal_tally(spec, 520), digests={})
    assert moves == ["ramped candidate to 100%"]
    assert current_weights(ws, spec) == {"production": 0.0, "candidate": 100.0}
    verdict, moves = guard(ws, spec, tally=equal_tally(spec, 560), digests={})
    assert moves == [] and verdict.findings[0].action == "wait"  # 40 of 100 fresh
    verdict, moves = guard(ws, spec, tally=equal_tally(spec, 640), digests={})
    assert moves == [] and verdict.findings[0].action == "promote"
    assert verdict.action == "healthy"


def test_guard_without_a_ramp_reports_promote_and_never_moves(ws_root: Path) -> None:
    ws = Workspace.find(ws_root)
    spec = guard_spec([])
    verdict, moves = guard(ws, spec, tally=equal_tally(spec, 400), digests={})
    assert moves == [] and verdict.findings[0].action == "promote"
    assert current_weights(ws, spec) == {"production": 90.0, "candidate": 10.0}


def test_guard_leaves_a_canary_at_weight_0_alone(ws_root: Path) -> None:
    ws = Workspace.find(ws_root)
    spec = guard_spec([50, 100])
    set_weights(ws, spec, {"production": 100, "candidate": 0}, reason="t")
    verdict, moves = guard(ws, spec, tally=equal_tally(spec, 400), digests={})
    (finding,) = verdict.findings
    assert moves == [] and finding.action == "wait" and "at weight 0" in finding.reason
    worse = tally_of(spec, traffic("production", 300, 0.9), traffic("candidate", 300, 0.3))
    verdict, moves = guard(ws, spec, tally=worse, digests={})
    assert moves == [] and verdict.findings[0].action == "rollback"  # found worse, not moved
    assert current_weights(ws, spec) == {"production": 100.0, "candidate": 0.0}
