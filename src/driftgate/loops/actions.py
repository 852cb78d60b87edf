"""The moves a loop turn makes, each through the library function that owns it (retrain,
the registry's alias moves, the route's live weights, the canary guard), each idempotent:
a move to where things already are does nothing, so a rerun after a crash never moves twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..registry.aliases import PRODUCTION

if TYPE_CHECKING:
    from .cycle import _Turn


@dataclass(frozen=True)
class Candidate:
    candidate: str | None  # prompt/NAME@N
    digest: str | None
    base: str | None
    passed: bool
    summary: str


@dataclass(frozen=True)
class Judgement:
    action: Literal["go", "wait", "revert", "step", "promote"]
    reason: str


# ---- labels and the retrain ---------------------------------------------------------------


def new_labels(turn: _Turn) -> list[dict[str, Any]]:
    """Labeled requests of the route logged after the last version and the last attempt."""
    from ..router.log import labeled_cases

    after = max(turn.state.labels_since, turn.state.labels_tried)
    return [
        c
        for c in labeled_cases(turn.ws, turn.spec.name)
        if float(c["metadata"].get("ts", 0)) > after
    ]


def retrain_candidate(turn: _Turn, labels: list[dict[str, Any]]) -> Candidate:
    """Retrain the baseline arm's prompt from the new labels into the `candidate` alias."""
    from ..retraining import retrain

    outcome = retrain(
        turn.baseline.prompt_ref,
        route=turn.spec.name,
        labels=list(turn.policy.labels),
        suite=turn.suite_path(),
        model=turn.policy.model,
        since=max(turn.state.labels_since, turn.state.labels_tried),
        workspace=turn.ws,
        fresh=True,  # the provider may have drifted since any stored answer
    )
    return Candidate(
        candidate=outcome.candidate,
        digest=outcome.candidate_digest,
        base=outcome.base,
        passed=outcome.passed and outcome.applied,
        summary=outcome.summary,
    )


def pending_candidate(turn: _Turn) -> Candidate | None:
    """A `candidate` alias that is neither production nor a reverted version: set by a
    retrain whose turn died before its shadow move, or by hand (`driftgate promote
    prompt/NAME@N --to candidate`). The loop takes it from the shadow step on."""
    from ..registry.core import Registry

    reg = Registry(turn.ws)
    aliases = reg.aliases_of(turn.target)
    digest = aliases.get("candidate")
    if digest is None or digest == aliases.get(PRODUCTION) or digest in turn.state.rejected:
        return None
    record = reg.versions.get("prompt", turn.prompt_name, digest)
    if record is None:
        return None
    return Candidate(record.ref, digest, None, True, "set by a retrain or by hand")


def candidate_whereabouts(turn: _Turn) -> Literal["in flight", "production", "gone"]:
    """Where the registry has the candidate in flight: still `candidate`, already
    `production`, or neither (its alias was unset or moved to another version)."""
    from ..registry.core import Registry

    aliases = Registry(turn.ws).aliases_of(turn.target)
    digest = turn.state.candidate_digest
    if aliases.get(PRODUCTION) == digest:
        return "production"
    return "in flight" if aliases.get("candidate") == digest else "gone"


# ---- the route's live weights --------------------------------------------------------------


def _move(turn: _Turn, weight: float, *, shadow: bool, reason: str) -> None:
    """The candidate arm to `weight` (the rest of its and the baseline's share to the
    baseline arm), mirrored as a shadow or not."""
    from ..router.state import current_weights, set_weights

    weights = current_weights(turn.ws, turn.spec)
    baseline = turn.baseline.name
    room = weights.get(baseline, 0.0) + weights.get(turn.arm, 0.0)
    set_weights(
        turn.ws,
        turn.spec,
        {turn.arm: weight, baseline: room - weight},
        shadow_arms=[turn.arm] if shadow else [],
        reason=reason,
    )


def shadow_arm(turn: _Turn) -> None:
    """The candidate arm at weight 0, mirrored as a shadow of the live traffic."""
    from ..router.state import current_weights, read_state

    state = read_state(turn.ws, turn.spec)
    weights = current_weights(turn.ws, turn.spec)
    if weights.get(turn.arm, 0.0) == 0 and state is not None and turn.arm in state.shadow_arms:
        return
    _move(turn, 0.0, shadow=True, reason=f"loop: shadow {turn.state.candidate or 'candidate'}")


def start_canary(turn: _Turn) -> float:
    """The candidate arm live at the ramp's first step, no longer mirrored."""
    first = turn.spec.canary.ramp[0]
    _move(turn, first, shadow=False, reason=f"loop: canary {turn.state.candidate} at {first:g}%")
    return first


def judge_shadow(turn: _Turn) -> Judgement:
    """Paired: the shadow's score minus the live answer's on the same labeled requests."""
    from ..router.canary import check_shadow

    verdict = check_shadow(turn.ws, turn.spec, turn.arm)
    if verdict.action == "worse":
        return Judgement("revert", verdict.reason)
    if verdict.action == "ok" and verdict.labeled >= turn.policy.shadow_min_labeled:
        return Judgement("go", verdict.reason)
    need = turn.policy.shadow_min_labeled
    return Judgement("wait", f"{verdict.reason} ({verdict.labeled} of {need} labeled requests)")


def judge_canary(turn: _Turn) -> Judgement:
    """The route's canary guard: it rolls a worse canary back and steps a good one up by
    itself; the loop turns its last word into a revert or a promotion."""
    from ..router.canary import guard

    verdict, moves = guard(turn.ws, turn.spec, rollback=True)
    finding = next((f for f in verdict.findings if f.arm == turn.arm), None)
    if finding is None:
        return Judgement("wait", "no evidence on the canary arm yet")
    if finding.action == "rollback":
        return Judgement("revert", finding.reason)
    if finding.action == "promote":
        return Judgement("promote", finding.reason)
    if moves:
        return Judgement("step", "; ".join(moves) + f" ({finding.reason})")
    from ..router.state import current_weights

    weight = current_weights(turn.ws, turn.spec).get(turn.arm, 0.0)
    return Judgement("wait", f"at {weight:g}%, {finding.reason}")


# ---- promotion and revert ------------------------------------------------------------------


def promote_candidate(turn: _Turn, reason: str) -> str:
    """production ← the candidate version (through the prompt's gate), then all live
    traffic back on the baseline arm, which serves production."""
    from ..errors import ConfigError
    from ..registry.core import Registry
    from ..registry.moves import promote
    from ..router.state import set_weights
    from .state import loop_dir

    candidate = turn.state.candidate
    if candidate is None:  # only a hand-edited loop.json reaches a verdict with none in flight
        raise ConfigError(
            f"loop of route {turn.spec.name!r} is in phase {turn.state.phase!r} with no "
            "candidate version to promote",
            path=loop_dir(turn.ws, turn.spec.name) / "loop.json",
            field="candidate",
            hint="delete the file to start the loop from idle (aliases and route weights are kept)",
        )
    reg = Registry(turn.ws)
    done = reg.aliases_of(turn.target).get(PRODUCTION) == turn.state.candidate_digest
    if not done:
        promote(
            candidate,
            to=PRODUCTION,
            suite=turn.suite_path(),
            model=turn.policy.model,
            reason=f"driftgate loop, route {turn.spec.name}: {reason}",
            workspace=turn.ws,
        )
    set_weights(
        turn.ws,
        turn.spec,
        {turn.baseline.name: 100.0, turn.arm: 0.0},
        shadow_arms=[],
        reason=f"loop: {candidate} promoted; the baseline arm serves it",
    )
    return "alias already moved" if done else "alias moved"


def revert_candidate(turn: _Turn, reason: str) -> None:
    """The candidate arm back to weight 0 and unmirrored, and its alias unset."""
    from ..registry.moves import unset_alias

    _move(turn, 0.0, shadow=False, reason=f"loop: revert {turn.state.candidate}: {reason}")
    if candidate_whereabouts(turn) == "in flight":  # never unset a version set since by hand
        unset_alias(turn.target, "candidate", reason=f"driftgate loop: {reason}", workspace=turn.ws)
