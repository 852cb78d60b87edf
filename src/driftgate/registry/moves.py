"""Moving aliases: promote (gated), rollback (a pointer swap) and unset.

This module sits above the gate (`driftgate.gate`), which it runs before a promotion; the
rest of the registry (versions, aliases, binding) sits below the engine and the gate.

    promote("prompt/categorize@7", to="production")   gate first; on pass production ← 7,
                                                      previous ← the old production
    rollback("prompt/categorize")                     production ↔ previous, one atomic step

A promotion reads where the alias points, runs the gate (slow: seconds to minutes), then
moves the alias under the lock only if it still points where it did (compare-and-swap):
two concurrent promotions of one alias cannot both win, and neither overwrites a version
it was not gated against.

Few-shot sets and indexes have no `production` to move. A prompt version pins the exact
few-shot set and index it renders (by digest, `binding.py`), so what serves is chosen
by the prompt's aliases alone: moving `production` of `fewshot/NAME` or rolling it back
would change nothing that serves, and is refused with what to do instead (`driftgate
retrain` registers a prompt version bound to a new set and points its `candidate` at it;
promote that prompt version, roll back the prompt). Other labels of a few-shot set or
index (e.g. `stable`) may be set: a prompt file that names `fewshot: NAME@stable` binds to
what the label points at when it is loaded, which makes it a new prompt identity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._strict import Strict
from ..errors import ConfigError
from ..errors import GateFailed as GateFailed  # defined there, re-exported
from ..gate import GatePolicy, GateVerdict
from ..workspace import Workspace
from ._fs import pause, whoami
from .aliases import PREVIOUS, PRODUCTION, AliasMoved, AliasState, AuditEntry, check_alias
from .core import Registry
from .versions import ArtifactRef, VersionNotFound, VersionRecord, parse_ref

ANY = object()  # `promote(expect=ANY)`: no compare-and-swap over the caller's step


class MoveResult(Strict):
    moved: bool
    target: str
    alias: str
    from_digest: str | None = None
    to_digest: str | None = None
    from_seq: int | None = None
    to_seq: int | None = None
    message: str
    entry: AuditEntry | None = None
    verdict: GateVerdict | None = None


def promote(
    ref: str,
    to: str = PRODUCTION,
    *,
    force: bool = False,
    reason: str | None = None,
    skip_gate: bool = False,
    suite: Path | str | None = None,
    policy: GatePolicy | Path | str | None = None,
    model: str | None = None,
    workspace: Workspace | Path | str | None = None,
    verdict: GateVerdict | None = None,
    expect: str | None | object = ANY,
) -> MoveResult:
    """Point alias `to` at the version `ref` names, after the gate passes (see module doc).

    `force` (with a `reason`) promotes despite a failing verdict; `skip_gate` (also needs
    `force` and `reason`) does not evaluate it. Both are recorded in the audit log.
    `verdict`: the caller gated already (e.g. `retrain`, against the version it was built
    from); it is recorded instead of evaluating the policy again, and must have passed.
    `expect`: the digest (or None: unset) the alias must still point at, read by the
    caller before its own evaluation (compare-and-swap over the caller's whole step).
    Raises GateFailed (exit 1), VersionNotFound or ConfigError (exit 2), AliasMoved
    (exit 4: the compare-and-swap lost to a concurrent move; nothing moved, run again).
    """
    reg = Registry.of(workspace)
    r = _checked_request(ref, to, force=force, reason=reason, skip_gate=skip_gate)
    # With a shared store: where the alias points on the store now, not a copy's view of it.
    state = reg.aliases.read(latest=True)
    cand = reg.find(r, state=state)
    expected = state.of(cand.target).get(to)
    if expect is not ANY and expected != expect:
        raise AliasMoved(
            f"{to} of {cand.target} moved while you were evaluating (a concurrent move won):"
            f" it pointed to {_show(reg, cand.kind, cand.name, expect)}, "  # type: ignore[arg-type]
            f"it now points to "
            f"{_show(reg, cand.kind, cand.name, expected)}; nothing moved",
            hint="run again: the evaluation must start from what is there now",
        )
    move = _Move(reg, cand, to, expected, _seq(reg, cand.kind, cand.name, expected))
    if expected == cand.digest:
        return move.result(f"{to} of {cand.target} already points to {cand.ref}; nothing moved")
    if verdict is not None:
        note = None
        if not verdict.passed and not force:
            raise GateFailed(verdict)
    else:
        verdict, note = _gate(
            move, skip_gate=skip_gate, force=force, suite=suite, policy=policy, model=model
        )
    pause("gate")
    entry = reg.aliases.transact(
        move.mutation(whoami(reg.workspace.root), reason, force, verdict, note)
    )
    msg = f"{to} of {cand.target}: {_show(reg, cand.kind, cand.name, expected)} → {cand.ref}"
    if force and verdict is not None and not verdict.passed:
        msg += " (gate failed; forced)"
    return move.result(msg, entry=entry, verdict=verdict)


def _checked_request(
    ref: str, to: str, *, force: bool, reason: str | None, skip_gate: bool
) -> ArtifactRef:
    """The ref to promote, after refusing what no gate could make right (exit 2)."""
    check_alias(to)
    r = parse_ref(ref)
    if r.selector == to:
        raise ConfigError(f"alias cycle: {ref} would point {to!r} at itself")
    if to == PREVIOUS:
        raise ConfigError("`previous` is kept by promote and rollback; it cannot be set directly")
    if (force or skip_gate) and not (reason and reason.strip()):
        raise ConfigError("--force needs --reason TEXT: an override is recorded with its why")
    if skip_gate and not force:
        raise ConfigError("--skip-gate needs --force --reason TEXT")
    _refuse_pinned_kind(r.kind, r.name, to)
    return r


@dataclass
class _Move:
    """One promotion: the version, the alias, and where the alias pointed when it was read."""

    reg: Registry
    cand: VersionRecord
    alias: str
    expected: str | None
    from_seq: int | None

    def result(
        self, message: str, *, entry: AuditEntry | None = None, verdict: GateVerdict | None = None
    ) -> MoveResult:
        return MoveResult(
            moved=entry is not None,
            target=self.cand.target,
            alias=self.alias,
            from_digest=self.expected,
            to_digest=self.cand.digest,
            from_seq=self.from_seq,
            to_seq=self.cand.seq,
            message=message,
            entry=entry,
            verdict=verdict,
        )

    def mutation(
        self,
        who: str,
        reason: str | None,
        force: bool,
        verdict: GateVerdict | None,
        note: str | None,
    ) -> Callable[[AliasState], AuditEntry]:
        """The alias change, applied under the lock only if the alias still points where
        it did when the gate started (compare-and-swap)."""
        cand, to, expected = self.cand, self.alias, self.expected

        def mutate(st: AliasState) -> AuditEntry:
            now = st.of(cand.target).get(to)
            if now != expected:
                raise AliasMoved(
                    f"{to} of {cand.target} moved while you were gating (a concurrent "
                    "promote or rollback won): it pointed to "
                    f"{_show(self.reg, cand.kind, cand.name, expected)}, it now points to "
                    f"{_show(self.reg, cand.kind, cand.name, now)}; nothing moved",
                    hint="run the promotion again: the gate must compare with what is there now",
                )
            aliases = st.aliases.setdefault(cand.target, {})
            aliases[to] = cand.digest
            if to == PRODUCTION and expected is not None:
                aliases[PREVIOUS] = expected
            return AuditEntry(
                ts=time.time(),
                who=who,
                action="promote",
                target=cand.target,
                alias=to,
                from_digest=expected,
                to_digest=cand.digest,
                from_seq=self.from_seq,
                to_seq=cand.seq,
                reason=reason,
                forced=force,
                gate_passed=verdict.passed if verdict else None,
                gate=verdict.summary() if verdict else note,
            )

        return mutate


def _gate(
    move: _Move,
    *,
    skip_gate: bool,
    force: bool,
    suite: Path | str | None,
    policy: GatePolicy | Path | str | None,
    model: str | None,
) -> tuple[GateVerdict | None, str | None]:
    """(verdict, None) when the policy guards the alias, else (None, why it was not gated).
    A failing verdict raises GateFailed unless forced."""
    from ..gate.evidence import gate_version
    from ..gate.policy import policy_for

    cand, ws = move.cand, move.reg.workspace
    if skip_gate:
        return None, "gate skipped (--skip-gate)"
    if cand.kind == "rule":
        return None, (
            "not gated here: a rule was gated on held-out traffic when retrain registered it, "
            "and its arm's canary judges it live (driftgate route check)"
        )
    if cand.kind != "prompt":
        return None, f"not gated: {cand.kind} versions have no eval gate yet"
    pol = policy_for(ws, cand.name, policy)
    if move.alias not in pol.aliases:
        return None, f"not gated: the policy guards {', '.join(pol.aliases) or 'no alias'}"
    verdict = gate_version(cand, move.expected, suite=suite, policy=pol, workspace=ws, model=model)
    if not verdict.passed and not force:
        raise GateFailed(verdict)
    return verdict, None


def rollback(
    target: str, *, reason: str | None = None, workspace: Workspace | Path | str | None = None
) -> MoveResult:
    """production ← previous and previous ← the rolled-back version, in one atomic step."""
    reg = Registry.of(workspace)
    r = parse_ref(target)
    if r.selector is not None:
        raise ConfigError(
            f"rollback takes KIND/NAME, not a version ({target!r})",
            hint="to move production to a given version: driftgate promote",
        )
    _refuse_pinned_kind(r.kind, r.name, PRODUCTION)
    who = whoami(reg.workspace.root)
    moved: dict[str, str] = {}

    def mutate(st: AliasState) -> AuditEntry:
        aliases = st.aliases.get(r.target, {})
        cur, prev = aliases.get(PRODUCTION), aliases.get(PREVIOUS)
        if cur is None:
            raise VersionNotFound(f"{r.target} has no production version to roll back")
        if prev is None:
            raise ConfigError(f"{r.target} has no previous version to roll back to")
        aliases[PRODUCTION], aliases[PREVIOUS] = prev, cur
        moved.update(cur=cur, prev=prev)
        return AuditEntry(
            ts=time.time(),
            who=who,
            action="rollback",
            target=r.target,
            alias=PRODUCTION,
            from_digest=cur,
            to_digest=prev,
            from_seq=_seq(reg, r.kind, r.name, cur),
            to_seq=_seq(reg, r.kind, r.name, prev),
            reason=reason,
        )

    entry = reg.aliases.transact(mutate)
    assert entry is not None
    return MoveResult(
        moved=True,
        target=r.target,
        alias=PRODUCTION,
        from_digest=entry.from_digest,
        to_digest=entry.to_digest,
        from_seq=entry.from_seq,
        to_seq=entry.to_seq,
        entry=entry,
        message=f"production of {r.target}: {_show(reg, r.kind, r.name, moved['cur'])} → "
        f"{_show(reg, r.kind, r.name, moved['prev'])} (rolled back)",
    )


def unset_alias(
    target: str,
    alias: str,
    *,
    reason: str | None = None,
    workspace: Workspace | Path | str | None = None,
) -> MoveResult:
    """Remove a label (not production or previous: those move by promote and rollback)."""
    reg = Registry.of(workspace)
    r = parse_ref(target)
    check_alias(alias)
    if alias in (PRODUCTION, PREVIOUS):
        raise ConfigError(f"{alias!r} cannot be unset; use promote or rollback")
    who = whoami(reg.workspace.root)

    def mutate(st: AliasState) -> AuditEntry | None:
        aliases = st.aliases.get(r.target, {})
        if alias not in aliases:
            return None
        old = aliases.pop(alias)
        return AuditEntry(
            ts=time.time(),
            who=who,
            action="unset",
            target=r.target,
            alias=alias,
            from_digest=old,
            from_seq=_seq(reg, r.kind, r.name, old),
            reason=reason,
        )

    entry = reg.aliases.transact(mutate)
    return MoveResult(
        moved=entry is not None,
        target=r.target,
        alias=alias,
        entry=entry,
        from_digest=entry.from_digest if entry else None,
        message=f"{alias} of {r.target} " + ("removed" if entry else "was not set"),
    )


def _refuse_pinned_kind(kind: str, name: str, alias: str) -> None:
    """Few-shot sets and indexes are served only through the prompt versions that pin
    them: their `production` would be an alias that does nothing (see module doc)."""
    if kind not in ("fewshot", "index") or alias not in (PRODUCTION, PREVIOUS):
        return
    what = "few-shot set" if kind == "fewshot" else "index"
    raise ConfigError(
        f"{kind}/{name} has no production to move: prompt versions pin their {what} by "
        "digest, so this alias would change nothing that serves",
        hint=f"`driftgate retrain PROMPT` registers a prompt version bound to a new {what} "
        "and points its `candidate` alias at it; promote that prompt version "
        "(`driftgate promote prompt/NAME@candidate`), or roll back the prompt "
        "(`driftgate rollback prompt/NAME`)",
    )


def _seq(reg: Registry, kind: str, name: str, digest: str | None) -> int | None:
    if digest is None:
        return None
    rec = reg.versions.get(kind, name, digest)
    return rec.seq if rec else None


def _show(reg: Registry, kind: str, name: str, digest: str | None) -> str:
    if digest is None:
        return "(unset)"
    seq = _seq(reg, kind, name, digest)
    return f"@{seq} ({digest})" if seq else digest
