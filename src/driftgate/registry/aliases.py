"""Alias state (production, candidate, previous, any label) and its append-only audit log.

    .driftgate/registry/aliases.json   {"counter": N, "aliases": {"prompt/cat": {"production": DIGEST}}, …,
                                        "checksum": "sha256 of the rest"}
    .driftgate/registry/audit.jsonl    one line per move: who, when, what, from, to, why, verdict
    .driftgate/registry/.aliases.lock  writers hold it for the few milliseconds of a move

Readers (the serving path) never lock: the state file is replaced atomically (temp file +
rename), so they see the old state or the new one. Writers do a compare-and-swap under the
lock: a move states where the alias pointed when its gate started, and fails if another
process moved it since.

Commit point: a move is done when the new state file is renamed into place. Its audit line
is appended right after; the state also carries that entry as `last_move`, so if a process
dies between the two, the next writer appends the missing line before doing anything else.
A state file that does not parse or whose checksum does not match is refused; `repair`
rebuilds it from the audit log, whose entries each hold the target's aliases after the move.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from .._digest import canonical_json
from .._strict import Strict
from ..errors import AliasMoved as AliasMoved  # defined there, re-exported
from ..errors import ConfigError
from ..errors import StateCorrupted as StateCorrupted  # defined there, re-exported
from ..store._atomic import write_atomic
from ..store.objects import Blob, ObjectChanged
from ._fs import append_line, locked, pause
from ._shared import CAS_ATTEMPTS, SharedState, backoff, chain_entries, last_counter, mirror
from .versions import is_digest_like

PRODUCTION = "production"
PREVIOUS = "previous"
CANDIDATE = "candidate"
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
Action = Literal["promote", "rollback", "unset", "repair"]


class AuditEntry(Strict):
    counter: int = Field(0, description="State counter this move produced")
    ts: float
    who: str
    action: Action
    target: str = Field(description="kind/name ('*' for a repair)")
    alias: str = ""
    from_digest: str | None = None
    to_digest: str | None = None
    from_seq: int | None = None
    to_seq: int | None = None
    reason: str | None = None
    forced: bool = False
    gate_passed: bool | None = None
    gate: str | None = Field(None, description="One-line gate verdict summary")
    after: dict[str, str] = Field(
        default_factory=dict, description="The target's aliases after the move (for repair)"
    )


class AliasState(Strict):
    format: int = 1
    counter: int = 0
    updated_at: float | None = None
    aliases: dict[str, dict[str, str]] = Field(default_factory=dict)
    last_move: AuditEntry | None = None
    checksum: str = ""

    def of(self, target: str) -> dict[str, str]:
        return dict(self.aliases.get(target, {}))

    def compute_checksum(self) -> str:
        body = self.model_dump(mode="json", exclude={"checksum"})
        return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


def check_alias(alias: str) -> str:
    if not _ALIAS.match(alias) or is_digest_like(alias) or alias.isdigit():
        raise ConfigError(
            f"invalid alias name {alias!r}",
            hint="start with a letter; letters, digits, '_', '.', '-'; not a digest or a number",
        )
    return alias


class AliasStore:
    def __init__(self, root: Path, shared: SharedState | None = None) -> None:
        self.root = Path(root)
        self.path = self.root / "aliases.json"
        self.audit_path = self.root / "audit.jsonl"
        self.lock_path = self.root / ".aliases.lock"
        # With a shared store (shared.py) the state and the audit chain live there; the
        # files above are this machine's copy of them.
        self.shared = shared

    # ---- reading ---------------------------------------------------------------------
    def read(self, *, latest: bool = False) -> AliasState:
        """The current state; a missing file is the empty state. Raises StateCorrupted.

        With a shared store the local copy is refreshed from it first when it is older
        than the store's staleness bound (`latest`: always)."""
        if self.shared is not None and (latest or not self.shared.fresh(self.path)):
            with locked(self.lock_path):
                self._pull(moving=False)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return AliasState()
        return parse_state(raw, self.path)

    def audit(self, target: str | None = None) -> list[AuditEntry]:
        """Audit entries in order; a torn or unreadable line is skipped."""
        if self.shared is not None:
            with locked(self.lock_path):
                self._sync_audit(None)
        out: list[AuditEntry] = []
        for entry in _iter_audit(self.audit_path):
            if target is None or entry.target == target:
                out.append(entry)
        return out

    # ---- writing ---------------------------------------------------------------------
    def transact(self, mutate: Callable[[AliasState], AuditEntry | None]) -> AuditEntry | None:
        """Apply one move under the lock: `mutate` edits `state.aliases` and returns the
        entry describing it (None = nothing to do). Returns the committed entry.

        With a shared store the move is a compare-and-swap of the store's state: when
        another machine moved first, `mutate` runs again on what is there now (so its
        from-pointer check sees that move), up to CAS_ATTEMPTS times."""
        with locked(self.lock_path):
            for attempt in range(CAS_ATTEMPTS):
                state, etag = self._load()
                self._catch_up(state)
                entry = mutate(state)
                if entry is None:
                    return None
                state.counter += 1
                entry.counter = state.counter
                if entry.target != "*":
                    entry.after = state.of(entry.target)
                state.last_move = entry
                state.updated_at = entry.ts
                pause("write")
                try:
                    self._write(state, etag)
                except ObjectChanged:
                    backoff(attempt)
                    continue
                pause("audit")
                self._record(entry)
                return entry
        raise AliasMoved(
            f"the alias state on {self.shared.store.url if self.shared else self.path} kept "
            f"changing under this move ({CAS_ATTEMPTS} attempts); nothing moved",
            hint="other machines are moving aliases right now; run again",
        )

    def _load(self) -> tuple[AliasState, str | None]:
        """The state to move from and the ETag it was read at (None: local, or absent)."""
        if self.shared is None:
            return self.read(), None
        blob = self._pull(moving=True)
        return (parse_state(blob.data, self.path), blob.etag) if blob else (AliasState(), None)

    def _pull(self, *, moving: bool) -> Blob | None:
        """Copy the store's state (verified) and its audit chain to the local files. Called
        under the lock. When the store has no state but this copy has one, it was made
        before the store: readers keep reading it, a move is refused (`driftgate store
        migrate` copies it there with its audit log first)."""
        assert self.shared is not None
        blob = self.shared.get(self.path)
        if blob is None:
            if moving and self.path.is_file() and self.read_local().counter > 0:
                raise ConfigError(
                    f"the shared store {self.shared.store.url} has no alias state, but "
                    f"{self.path} has one (made before the store was set)",
                    hint="`driftgate store migrate` copies the registry to the store first",
                )
            self.shared.pulled(self.path)
            return None
        state = parse_state(blob.data, self.shared.store.where(self.shared.key(self.path)))
        mirror(self.path, blob.data)
        # Entries up to the state's; the last one may be missing (its writer died right
        # after the commit): `_catch_up` writes it.
        self._sync_audit(state.counter)
        self.shared.pulled(self.path)
        return blob

    def read_local(self) -> AliasState:
        try:
            return parse_state(self.path.read_bytes(), self.path)
        except FileNotFoundError:
            return AliasState()

    def _sync_audit(self, upto: int | None) -> None:
        """Append to the local audit log the store's entries it lacks (up to `upto`)."""
        assert self.shared is not None
        last = last_counter(self.audit_path)
        if upto is not None and last >= upto:
            return
        for raw in chain_entries(self.shared, self.root / "audit", last, upto):
            append_line(self.audit_path, raw.decode())

    def _write(self, state: AliasState, etag: str | None = None) -> None:
        state.aliases = {t: a for t, a in sorted(state.aliases.items()) if a}
        state.checksum = state.compute_checksum()
        data = state.model_dump_json(indent=2)
        if self.shared is not None:
            # The commit point with a store; raises ObjectChanged when another machine won.
            self.shared.replace(self.path, data, etag)
            self.shared.pulled(self.path)
        write_atomic(self.path, data)

    def _record(self, entry: AuditEntry) -> None:
        """The committed move's audit entry: in the store's chain (create-only under its
        counter), then in the local log."""
        line = entry.model_dump_json()
        if self.shared is not None:
            self.shared.create(self.root / "audit" / f"{entry.counter:012d}.json", line)
        append_line(self.audit_path, line)

    def _catch_up(self, state: AliasState) -> None:
        """Write the audit entry of a move whose process died right after committing it."""
        last = state.last_move
        if last is None:
            return
        if last_counter(self.audit_path) < last.counter:
            self._record(last)

    def repair(self, who: str) -> tuple[str | None, AliasState]:
        """Rebuild the state from the audit log. Returns (problem found, new state).

        A corrupt file is kept next to the new one (`aliases.json.corrupt-TIME`) for a look.
        With a shared store the store's state is what is checked and replaced (If-Match).
        """
        with locked(self.lock_path):
            for attempt in range(CAS_ATTEMPTS):
                etag = self._copy_for_repair()
                try:
                    return self._repair(who, etag)
                except ObjectChanged:
                    backoff(attempt)
        raise AliasMoved(
            f"the alias state kept changing during the repair ({CAS_ATTEMPTS} attempts)",
            hint="other machines are moving aliases right now; run again",
        )

    def _copy_for_repair(self) -> str | None:
        """With a store: its state copied here as it is (even corrupt, for a look) with its
        whole audit chain; the ETag it was read at."""
        if self.shared is None:
            return None
        blob = self.shared.get(self.path)
        if blob is not None:
            mirror(self.path, blob.data)
        self._sync_audit(None)
        return blob.etag if blob else None

    def _repair(self, who: str, etag: str | None) -> tuple[str | None, AliasState]:
        problem: str | None = None
        current: AliasState | None = None
        try:
            current = self.read_local()
            self._catch_up(current)
        except StateCorrupted as exc:
            problem = exc.message
            backup = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, backup)
        entries = list(_iter_audit(self.audit_path))
        rebuilt = AliasState()
        for e in entries:
            if e.action == "repair":
                continue
            if e.after:
                rebuilt.aliases[e.target] = dict(e.after)
            else:
                rebuilt.aliases.pop(e.target, None)
        rebuilt.counter = max([e.counter for e in entries] + [current.counter if current else 0])
        if current is not None and current.aliases == rebuilt.aliases:
            return None, current
        if problem is None and current is not None:
            problem = "the alias state disagrees with the audit log"
        entry = AuditEntry(ts=time.time(), who=who, action="repair", target="*", reason=problem)
        rebuilt.counter += 1
        entry.counter = rebuilt.counter
        rebuilt.last_move = entry
        rebuilt.updated_at = entry.ts
        self._write(rebuilt, etag)
        self._record(entry)
        return problem, rebuilt


def parse_state(raw: bytes, path: Path | str) -> AliasState:
    hint = "`driftgate registry repair` rebuilds it from the audit log"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StateCorrupted(
            f"{path}: corrupt alias state (invalid JSON: {exc})", hint=hint
        ) from None
    try:
        state = AliasState.model_validate(data)
    except ValidationError as exc:
        raise StateCorrupted(
            f"{path}: corrupt alias state ({exc.errors()[0]['msg']})", hint=hint
        ) from None
    if state.checksum != state.compute_checksum():
        raise StateCorrupted(
            f"{path}: alias state fails its checksum (edited or damaged)", hint=hint
        )
    for target, aliases in state.aliases.items():
        for alias, value in aliases.items():
            if not is_digest_like(value):
                raise StateCorrupted(
                    f"{path}: alias {alias!r} of {target} points to {value!r}, not a version "
                    "digest (an alias may not point to another alias)",
                    hint=hint,
                )
    return state


def _iter_audit(path: Path) -> Iterator[AuditEntry]:
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break  # torn tail of a killed writer
            try:
                yield AuditEntry.model_validate_json(line)
            except (ValidationError, ValueError):
                continue
