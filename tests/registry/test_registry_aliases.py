"""Aliases: promote / rollback cycles, the audit log, compare-and-swap, crashes, repair."""

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from driftgate.errors import ConfigError
from driftgate.registry import (
    AliasMoved,
    Registry,
    StateCorrupted,
    VersionNotFound,
    promote,
    register_artifacts,
    repair,
    rollback,
    unset_alias,
)
from driftgate.registry.aliases import AliasStore

FORCE = {"force": True, "skip_gate": True, "reason": "test"}


def add_versions(root: Path, n: int) -> list[str]:
    """Register n versions of prompt `cat` (different models); returns their digests."""
    digests = []
    p = root / "prompts" / "cat.yaml"
    base = p.read_text()
    for i in range(n):
        p.write_text(
            base.replace("sim/perfect@v1", f"sim/perfect@v1?seed={i}" if i else "sim/perfect@v1")
        )
        ((rec, _),) = register_artifacts(root, "prompt/cat")
        digests.append(rec.digest)
    return digests


def state_of(root: Path) -> dict:
    return json.loads((root / ".driftgate/registry/aliases.json").read_text())


def test_promote_rollback_promote_cycles(ws_root: Path):
    d = add_versions(ws_root, 3)
    reg = Registry.of(ws_root)
    first = promote("prompt/cat@1", workspace=ws_root, **FORCE)
    assert (
        first.moved
        and first.from_digest is None
        and reg.aliases_of("prompt/cat") == {"production": d[0]}
    )
    promote("prompt/cat@2", workspace=ws_root, **FORCE)
    assert reg.aliases_of("prompt/cat") == {"production": d[1], "previous": d[0]}
    for _ in range(3):
        back = rollback("prompt/cat", workspace=ws_root, reason="bad canary")
        assert (back.from_seq, back.to_seq) == (2, 1)
        assert reg.aliases_of("prompt/cat") == {"production": d[0], "previous": d[1]}
        promote("prompt/cat@2", workspace=ws_root, **FORCE)
        assert reg.aliases_of("prompt/cat") == {"production": d[1], "previous": d[0]}
    promote("prompt/cat@3", workspace=ws_root, **FORCE)
    assert reg.aliases_of("prompt/cat") == {"production": d[2], "previous": d[1]}
    same = promote("prompt/cat@3", workspace=ws_root, **FORCE)
    assert not same.moved and "already" in same.message
    log = reg.aliases.audit("prompt/cat")
    assert [e.action for e in log] == ["promote", "promote"] + ["rollback", "promote"] * 3 + [
        "promote"
    ]
    assert [e.counter for e in log] == list(range(1, 10))
    assert log[2].reason == "bad canary" and log[2].from_seq == 2 and log[2].to_seq == 1
    assert log[0].forced and log[0].gate == "gate skipped (--skip-gate)" and log[0].who
    assert state_of(ws_root)["counter"] == 9


def test_labels_and_bad_moves_change_nothing(ws_root: Path):
    add_versions(ws_root, 2)
    promote("prompt/cat@1", "candidate", workspace=ws_root, **FORCE)
    before = state_of(ws_root)
    with pytest.raises(VersionNotFound):
        promote("prompt/cat@7", workspace=ws_root, **FORCE)
    with pytest.raises(ConfigError, match="alias cycle"):
        promote("prompt/cat@candidate", "candidate", workspace=ws_root, **FORCE)
    with pytest.raises(ConfigError, match="previous"):
        promote("prompt/cat@1", "previous", workspace=ws_root, **FORCE)
    with pytest.raises(ConfigError, match="--reason"):
        promote("prompt/cat@1", workspace=ws_root, force=True)
    with pytest.raises(ConfigError, match="invalid alias"):
        promote("prompt/cat@1", "abcdef", workspace=ws_root, **FORCE)
    with pytest.raises(ConfigError, match="no previous"):
        promote("prompt/cat@1", workspace=ws_root, **FORCE)
        rollback("prompt/cat", workspace=ws_root)
    assert (
        state_of(ws_root)["aliases"]["prompt/cat"]["candidate"]
        == before["aliases"]["prompt/cat"]["candidate"]
    )
    # An alias given as the version promotes the version it points to (not the alias).
    promote("prompt/cat@candidate", "staging", workspace=ws_root, **FORCE)
    assert (
        Registry.of(ws_root).aliases_of("prompt/cat")["staging"]
        == before["aliases"]["prompt/cat"]["candidate"]
    )
    assert unset_alias("prompt/cat", "staging", workspace=ws_root).moved
    assert "staging" not in Registry.of(ws_root).aliases_of("prompt/cat")


def test_a_move_fails_if_the_alias_moved_while_gating(ws_root: Path, monkeypatch):
    add_versions(ws_root, 3)
    promote("prompt/cat@1", workspace=ws_root, **FORCE)
    import driftgate.registry.moves as moves

    real_pause = moves.pause

    def someone_else_promotes(point: str) -> None:
        if point == "gate":
            monkeypatch.setattr(moves, "pause", real_pause)
            promote("prompt/cat@3", workspace=ws_root, **FORCE)

    monkeypatch.setattr(moves, "pause", someone_else_promotes)
    with pytest.raises(AliasMoved, match="moved while you were gating"):
        promote("prompt/cat@2", workspace=ws_root, **FORCE)
    aliases = Registry.of(ws_root).aliases_of("prompt/cat")
    assert aliases["production"] == Registry.of(ws_root).find("cat@3").digest
    assert len(Registry.of(ws_root).aliases.audit()) == 2


def _promote_child(root: str, ref: str, pause: str) -> None:
    os.environ["DRIFTGATE_REGISTRY_PAUSE"] = pause
    try:
        promote(ref, workspace=root, **FORCE)
    except AliasMoved:
        os._exit(3)
    except BaseException:  # noqa: BLE001
        os._exit(4)
    os._exit(0)


def test_two_concurrent_promotes_one_wins(ws_root: Path):
    d = add_versions(ws_root, 3)
    promote("prompt/cat@1", workspace=ws_root, **FORCE)
    ctx = multiprocessing.get_context("fork")
    # Both read production = @1, then "gate" for 0.4 s, then race for the lock.
    procs = [
        ctx.Process(target=_promote_child, args=(str(ws_root), ref, "gate=0.4"))
        for ref in ("prompt/cat@2", "prompt/cat@3")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(10)
    codes = sorted(p.exitcode for p in procs)
    assert codes == [0, 3]
    winner = d[1] if procs[0].exitcode == 0 else d[2]
    assert Registry.of(ws_root).aliases_of("prompt/cat") == {"production": winner, "previous": d[0]}
    assert len(Registry.of(ws_root).aliases.audit()) == 2


def test_sigkill_during_promote_leaves_old_or_new_state(ws_root: Path):
    d = add_versions(ws_root, 2)
    promote("prompt/cat@1", workspace=ws_root, **FORCE)
    old = {"production": d[0]}
    new = {"production": d[1], "previous": d[0]}
    ctx = multiprocessing.get_context("fork")
    seen = set()
    # Kill before, inside and after the locked write; with pauses of 0.06 s at the write and
    # the audit append, the later delays land between the steps of the move.
    for delay in (0.0, 0.03, 0.06, 0.09, 0.12, 0.15):
        p = ctx.Process(
            target=_promote_child, args=(str(ws_root), "prompt/cat@2", "write=0.06,audit=0.06")
        )
        p.start()
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        p.join(5)
        store = AliasStore(ws_root / ".driftgate/registry")
        state = store.read()  # never corrupt: checksum verified
        aliases = state.of("prompt/cat")
        assert aliases in (old, new)
        seen.add("new" if aliases == new else "old")
        if aliases == new:
            # Put production back for the next round; this also writes any audit line the
            # killed process committed in the state but did not get to append.
            rollback("prompt/cat", workspace=ws_root, reason="reset")
            unset_previous(ws_root)
    assert "old" in seen  # killed at once: never moved (typically "new" too, by timing)
    entries = Registry.of(ws_root).aliases.audit()
    assert [e.counter for e in entries] == list(range(1, len(entries) + 1))
    assert all(e.after for e in entries if e.action != "unset")


def unset_previous(root: Path) -> None:
    store = AliasStore(root / ".driftgate/registry")

    def drop(st):
        from driftgate.registry.aliases import AuditEntry

        st.aliases["prompt/cat"].pop("previous", None)
        return AuditEntry(
            ts=time.time(), who="test", action="unset", target="prompt/cat", alias="previous"
        )

    store.transact(drop)


def test_audit_line_lost_by_a_crash_is_written_by_the_next_move(ws_root: Path):
    add_versions(ws_root, 2)
    store = Registry.of(ws_root).aliases
    promote("prompt/cat@1", workspace=ws_root, **FORCE)
    promote("prompt/cat@2", workspace=ws_root, **FORCE)
    lines = store.audit_path.read_text().splitlines()
    store.audit_path.write_text("\n".join(lines[:-1]) + "\n")  # as if killed before the append
    rollback("prompt/cat", workspace=ws_root)
    assert [e.counter for e in store.audit()] == [1, 2, 3]
    assert [e.action for e in store.audit()] == ["promote", "promote", "rollback"]


@pytest.mark.parametrize("damage", ["truncate", "edit", "alias-to-alias"])
def test_corrupt_state_is_refused_and_repaired_from_the_audit_log(ws_root: Path, damage: str):
    d = add_versions(ws_root, 2)
    promote("prompt/cat@1", workspace=ws_root, **FORCE)
    promote("prompt/cat@2", workspace=ws_root, **FORCE)
    path = ws_root / ".driftgate/registry/aliases.json"
    good = path.read_text()
    if damage == "truncate":
        path.write_text(good[: len(good) // 2])
    elif damage == "edit":
        path.write_text(good.replace(d[1], d[0]))
    else:
        # A consistent checksum, but an alias that names another alias: still refused.
        from driftgate.registry.aliases import AliasState

        data = json.loads(good)
        data["aliases"]["prompt/cat"]["production"] = "candidate"
        data["checksum"] = AliasState.model_validate(data).compute_checksum()
        path.write_text(json.dumps(data))
    with pytest.raises(StateCorrupted, match="repair"):
        rollback("prompt/cat", workspace=ws_root)
    with pytest.raises(StateCorrupted):
        promote("prompt/cat@1", workspace=ws_root, **FORCE)
    problem, state = repair(ws_root)
    assert problem and state.of("prompt/cat") == {"production": d[1], "previous": d[0]}
    assert Registry.of(ws_root).aliases.read().of("prompt/cat")["production"] == d[1]
    assert list(path.parent.glob("aliases.json.corrupt-*"))
    assert repair(ws_root)[0] is None  # healthy now: nothing to do
    rollback("prompt/cat", workspace=ws_root)  # and usable again
    assert Registry.of(ws_root).aliases_of("prompt/cat")["production"] == d[0]


def test_ungated_moves_say_why_in_the_audit_log(ws_root: Path):
    from driftgate.artifacts.route import RouteSpec
    from driftgate.registry import resolve

    (ws_root / "routes").mkdir()
    (ws_root / "routes/cat.yaml").write_text(
        "arms:\n  - {name: main, prompt: cat@production, weight: 100}\n"
    )
    register_artifacts(ws_root)
    route = promote("route/cat@1", workspace=ws_root)  # no eval gate for routes (yet)
    assert route.moved and route.verdict is None
    assert isinstance(resolve("route/cat", workspace=ws_root).definition, RouteSpec)
    label = promote("prompt/cat@1", "candidate", workspace=ws_root)  # the policy guards production
    assert label.moved and label.verdict is None
    gates = [e.gate for e in Registry.of(ws_root).aliases.audit()]
    assert gates == [
        "not gated: route versions have no eval gate yet",
        "not gated: the policy guards production",
    ]
