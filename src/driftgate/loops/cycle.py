"""One turn of a route's retraining loop: look, then take at most one step per phase.

    idle    provider drift (what the baseline arm serves, on the loop's suite) and prompt
            drift (the route's logged inputs) are checked; on an alarm, or on enough new
            labels, the labels logged since the last version retrain the baseline's prompt
            into a candidate version, gated offline. A candidate that passes goes on the
            route as a shadow of its arm (weight 0, mirrored, never returned).
    shadow  the shadow's answers are compared paired with the live answers on labeled
            requests; not worse on enough of them → canary at the ramp's first step;
            worse → reverted.
    canary  the route's canary guard judges it (always-valid sequential test) and moves its
            weight up the ramp; at the last step with passing evidence the loop promotes it
            (`production` moves to the candidate version, weights go back to the baseline
            arm, which now serves it); failing evidence reverts it.

A reverted candidate has its weight and shadow taken away, its `candidate` alias unset, and
its digest remembered so the same version is never tried again. Every step is one line in
the route's loop log (`driftgate route status`); `dry_run` says what the next step would be
and changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts.loop_policy import LoopPolicy
from ..artifacts.route import RouteSpec
from ..errors import ConfigError
from ..prompt import parse_ref as parse_prompt_ref
from ..registry._fs import locked
from ..workspace import Workspace
from . import actions as serving
from .state import LoopEvent, LoopState, loop_dir, read_loop_state, record_event, write_loop_state

CANDIDATE_ALIAS = "candidate"
MIN_PROMPT_DRIFT_INPUTS = 50  # fewer new inputs than this say nothing about a shift
PROMPT_DRIFT_REFERENCE = 5000  # the newest inputs before the last version, as reference
# Prompt-drift signals that compare traffic with the golden set: once a version was built
# from the traffic itself, they stay high for good and say nothing new.
GOLDEN_SET_SIGNALS = frozenset({"input_shift", "far_inputs", "psi_categorical", "psi_length"})


@dataclass
class LoopResult:
    route: str
    phase_before: str
    phase: str
    events: list[LoopEvent] = field(default_factory=list)
    attention: bool = False  # something a person should look at: a revert, a refused retrain
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.attention else 0


class _Turn:
    """The context of one `loop` call: workspace, route, policy, state, and the event log."""

    def __init__(
        self, ws: Workspace, spec: RouteSpec, *, dry_run: bool, progress: bool, now: float
    ) -> None:
        self.ws, self.spec, self.dry_run, self.now = ws, spec, dry_run, now
        self.progress = progress
        self.policy = spec.loop or LoopPolicy()
        self.state = read_loop_state(ws, spec.name)
        self.result = LoopResult(spec.name, self.state.phase, self.state.phase, dry_run=dry_run)
        self.arm = _candidate_arm(spec, self.policy)
        self.baseline = next(a for a in spec.arms if a.name == spec.baseline_arm)
        self.prompt_name = parse_prompt_ref(self.baseline.prompt_ref)[0]

    @property
    def target(self) -> str:
        return f"prompt/{self.prompt_name}"

    def log(self, action: str, detail: str, *, attention: bool = False) -> None:
        event = LoopEvent(
            ts=time.time(),
            route=self.spec.name,
            phase=self.state.phase,
            action=action,
            detail=detail,
            candidate=self.state.candidate,
            dry_run=self.dry_run,
        )
        if not self.dry_run:
            record_event(self.ws, event)
        self.result.events.append(event)
        self.result.attention |= attention

    def save(self) -> None:
        self.result.phase = self.state.phase
        if not self.dry_run:
            write_loop_state(self.ws, self.state)

    def suite_path(self) -> Path:
        if self.policy.suite:
            return self.ws.inside(self.policy.suite, what="suite file")
        return self.ws.default_suite_path()


def _candidate_arm(spec: RouteSpec, policy: LoopPolicy) -> str:
    arm = next((a for a in spec.arms if a.name == policy.candidate_arm), None)
    if arm is None:
        raise ConfigError(
            f"route {spec.name!r} has no live arm {policy.candidate_arm!r} for candidates",
            field="loop.candidate_arm",
            hint="add an arm such as {name: candidate, prompt: NAME@candidate, weight: 0}",
        )
    if arm.name == spec.baseline_arm:
        raise ConfigError(
            f"the candidate arm {arm.name!r} is the route's baseline arm",
            field="loop.candidate_arm",
        )
    if not spec.canary.ramp or spec.canary.ramp[-1] != 100:
        raise ConfigError(
            f"route {spec.name!r}: the loop ramps a candidate to 100% before promoting it, "
            f"but canary.ramp is {spec.canary.ramp or 'empty'}",
            field="canary.ramp",
            hint="e.g. canary: {ramp: [10, 50, 100]}",
        )
    if arm.prompt is None:
        raise ConfigError(
            f"the candidate arm {arm.name!r} is a rule arm; the loop retrains prompts, and a "
            "rule's candidate comes from `driftgate retrain route/NAME`",
            field=f"arms[{arm.name}].rule",
        )
    selector = parse_prompt_ref(arm.prompt)[1]
    if selector != CANDIDATE_ALIAS:
        raise ConfigError(
            f"the candidate arm {arm.name!r} serves {arm.prompt!r}; the loop puts retrained "
            f"versions on it through the {CANDIDATE_ALIAS!r} alias",
            field=f"arms[{arm.name}].prompt",
            hint=f"set its prompt to {parse_prompt_ref(arm.prompt)[0]}@{CANDIDATE_ALIAS}",
        )
    return arm.name


def run_loop(
    route: str,
    *,
    workspace: Workspace | Path | str | None = None,
    dry_run: bool = False,
    progress: bool = False,
) -> LoopResult:
    """One turn of the loop for `route`; see the module docstring. Safe to run from cron:
    one turn per route at a time (a lock), and a crashed turn is finished by the next."""
    from ..router.router import load_route_ref

    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    spec = load_route_ref(ws, route)
    with locked(loop_dir(ws, spec.name) / ".loop.lock"):
        turn = _Turn(ws, spec, dry_run=dry_run, progress=progress, now=time.time())
        if turn.state.phase == "idle" or not _settled_elsewhere(turn):
            {"idle": _idle, "shadow": _shadow, "canary": _canary}[turn.state.phase](turn)
        turn.save()
        return turn.result


# ---- idle: look for a reason to retrain --------------------------------------------------


def _idle(turn: _Turn) -> None:
    policy = turn.policy
    resumed = serving.pending_candidate(turn)
    if resumed is not None:  # a turn that crashed after the retrain, before the shadow
        _to_shadow(turn, resumed, note="the candidate alias was set outside a turn")
        return
    reasons: list[str] = []
    if policy.provider_drift:
        reasons += _provider_drift(turn)
    if policy.prompt_drift:
        reasons += _prompt_drift(turn)
    new_labels = serving.new_labels(turn)
    if policy.retrain_on_labels and len(new_labels) >= policy.retrain_on_labels:
        reasons.append(
            f"{len(new_labels)} new labels (retrain_on_labels: {policy.retrain_on_labels})"
        )
    if not reasons:
        turn.log("watch", "no alarm")
        return
    if not new_labels:
        turn.log(
            "wait",
            f"alarm ({'; '.join(reasons)}) but no new labels since the last version or retrain: "
            "collect feedback (Router.feedback, `driftgate route feedback`) or add labeled files "
            "to the loop policy",
            attention=True,
        )
        return
    _retrain(turn, reasons, new_labels)


def _provider_drift(turn: _Turn) -> list[str]:
    state, policy = turn.state, turn.policy
    if state.last_drift_check_at is not None and not state.rebaseline:
        if turn.now - state.last_drift_check_at < policy.drift_every_s:
            return []
    if turn.dry_run:
        turn.log(
            "plan",
            f"would check provider drift on {turn.baseline.prompt} (route arm {turn.baseline.name})",
        )
        return []
    from ..drift.check import check_drift

    check = check_drift(
        workspace=turn.ws,
        route=turn.spec.name,
        sample=policy.drift_sample,
        rebaseline=state.rebaseline,
        progress=turn.progress,
    )
    state.last_drift_check_at = turn.now
    if check.status == "baseline_recorded":
        why = "after the promotion" if state.rebaseline else "first check"
        state.rebaseline = False
        turn.log("drift-baseline", f"provider-drift baseline recorded, {why} (check {check.id})")
        return []
    fired = sorted({s.name for arm in check.arms for s in arm.signals if s.verdict == "drift"})
    if check.alert:
        turn.log("alarm", f"provider drift (check {check.id}): {', '.join(fired)}")
        return [f"provider drift: {', '.join(fired)}"]
    return []


def _prompt_drift(turn: _Turn) -> list[str]:
    from ..drift import check_traffic
    from ..router.log import traffic_records

    records = traffic_records(turn.ws, turn.spec.name)
    window = turn.policy.traffic_window
    since = turn.state.labels_since
    reference: list[dict[str, Any]] | None = None
    if since:
        # A version the loop promoted was built from the traffic before it: what matters
        # now is whether traffic moved away from that, not from the golden set it already
        # outgrew (that alarm would fire forever and retrain in circles).
        reference = [r for r in records if r["ts"] <= since][-PROMPT_DRIFT_REFERENCE:]
        records = [r for r in records if r["ts"] > since]
        window = None
    if len(records) < max(MIN_PROMPT_DRIFT_INPUTS, 2 * (window or 0)) or reference == []:
        return []
    report = check_traffic(
        records,
        suite=turn.suite_path(),
        workspace=turn.ws,
        window=window,
        reference=reference,
        check_unreviewed=False,
        save=not turn.dry_run,
        source=f"route {turn.spec.name}",
    )
    fired = sorted(s.name for s in report.signals if s.verdict == "drift")
    if since:  # only what compares with the traffic before the last version counts now
        fired = [name for name in fired if name not in GOLDEN_SET_SIGNALS]
    if not report.alert or not fired:
        return []
    against = "the traffic before the last version" if since else "the golden set"
    turn.log(
        "alarm",
        f"prompt drift: {len(records)} logged inputs moved from {against}: {', '.join(fired)}",
    )
    return [f"prompt drift: {', '.join(fired)}"]


def _retrain(turn: _Turn, reasons: list[str], new_labels: list[dict[str, Any]]) -> None:
    if turn.dry_run:
        turn.log(
            "plan",
            f"would retrain {turn.baseline.prompt} from {len(new_labels)} new labels "
            f"({'; '.join(reasons)}), gate it on {turn.suite_path().name}, then shadow it on "
            f"arm {turn.arm}",
        )
        return
    outcome = serving.retrain_candidate(turn, new_labels)
    turn.state.labels_tried = max(float(c["metadata"].get("ts", 0)) for c in new_labels)
    if outcome.candidate is None:
        turn.log("unchanged", f"the {len(new_labels)} new labels change nothing: {outcome.summary}")
        return
    if not outcome.passed:
        turn.log(
            "refused",
            f"retrain of {turn.baseline.prompt} failed the offline gate: {outcome.summary}",
            attention=True,
        )
        return
    if outcome.digest in turn.state.rejected:
        turn.log(
            "refused", f"{outcome.candidate} was reverted before; not tried again", attention=True
        )
        return
    turn.log("retrained", f"{outcome.candidate} passed the offline gate: {outcome.summary}")
    _to_shadow(turn, outcome, note="; ".join(reasons))


def _to_shadow(turn: _Turn, candidate: serving.Candidate, *, note: str) -> None:
    serving.shadow_arm(turn)
    state = turn.state
    state.phase, state.phase_since = "shadow", turn.now
    state.candidate, state.candidate_digest, state.base = (
        candidate.candidate,
        candidate.digest,
        candidate.base,
    )
    turn.log(
        "shadow",
        f"{candidate.candidate} mirrors arm {turn.baseline.name}'s traffic on arm {turn.arm} ({note})",
    )


# ---- shadow and canary: act on the route's evidence --------------------------------------


def _settled_elsewhere(turn: _Turn) -> bool:
    """The candidate in flight was already promoted or taken off its alias — by a turn that
    died before writing its state, or by hand (`driftgate promote`, `registry unset`).
    Finish the bookkeeping (weights back on the baseline arm) instead of judging again."""
    where = serving.candidate_whereabouts(turn)
    if where == "in flight":
        return False
    if where == "production":
        _promote(turn, "production already points at the candidate")
    else:
        _revert(turn, "the candidate alias no longer points at it")
    return True


def _shadow(turn: _Turn) -> None:
    verdict = serving.judge_shadow(turn)
    if verdict.action == "revert":
        _revert(turn, f"shadow worse than {turn.baseline.name}: {verdict.reason}")
    elif verdict.action == "go":
        if turn.dry_run:
            turn.log("plan", f"would start the canary: {verdict.reason}")
            return
        weight = serving.start_canary(turn)
        turn.state.phase, turn.state.phase_since = "canary", turn.now
        turn.log(
            "canary",
            f"{turn.state.candidate} serves {weight:g}% on arm {turn.arm}: {verdict.reason}",
        )
    else:
        turn.log("wait", f"shadow: {verdict.reason}")


def _canary(turn: _Turn) -> None:
    verdict = serving.judge_canary(turn)
    if verdict.action == "revert":
        _revert(turn, f"canary worse than {turn.baseline.name}: {verdict.reason}")
    elif verdict.action == "promote":
        _promote(turn, verdict.reason)
    elif verdict.action == "step":
        turn.log("ramp", verdict.reason)
    else:
        turn.log("wait", f"canary: {verdict.reason}")


def _promote(turn: _Turn, reason: str) -> None:
    if turn.dry_run:
        turn.log("plan", f"would promote {turn.state.candidate} to production: {reason}")
        return
    moved = serving.promote_candidate(turn, reason)
    state = turn.state
    turn.log("promote", f"{state.candidate} is production ({moved}): {reason}")
    state.phase, state.phase_since = "idle", turn.now
    state.labels_since = turn.now
    state.rebaseline = True
    state.candidate = state.candidate_digest = state.base = None


def _revert(turn: _Turn, reason: str) -> None:
    if turn.dry_run:
        turn.log("plan", f"would revert {turn.state.candidate}: {reason}")
        return
    serving.revert_candidate(turn, reason)
    state = turn.state
    turn.log("revert", f"{state.candidate} reverted: {reason}", attention=True)
    if state.candidate_digest and state.candidate_digest not in state.rejected:
        state.rejected.append(state.candidate_digest)
    state.phase, state.phase_since = "idle", turn.now
    state.candidate = state.candidate_digest = state.base = None


__all__ = ["LoopResult", "LoopState", "run_loop"]
