"""The registry on a shared store (moto on loopback): two workspace copies in separate
folders stand for two machines; what one registers or moves, the other finds, and racing
moves through the store neither get lost nor both win."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from driftgate.errors import ConfigError
from driftgate.registry import Registry, promote, register_artifacts, rollback
from driftgate.registry.serving import Resolver
from driftgate.registry.shared import pull_state, push_state
from driftgate.store.objects import ObjectStore
from driftgate.workspace import Workspace

FORCE = {"force": True, "skip_gate": True, "reason": "test"}
STALENESS_S = 0.5


def two_machines(ws_root: Path, url: str) -> tuple[Path, Path]:
    """The fixture workspace with `store: URL`, and a copy of it in another folder."""
    with (ws_root / "driftgate.yaml").open("a") as fh:
        fh.write(f"store: {url}\nshared_store: {{staleness_s: {STALENESS_S}}}\n")
    other = ws_root.parent / "machine-b"
    shutil.copytree(ws_root, other)
    return ws_root, other


def new_version(root: Path, i: int) -> str:
    """Register version i of prompt `cat` (its model differs) on this copy; its digest."""
    p = root / "prompts" / "cat.yaml"
    text = p.read_text()
    model = "sim/perfect@v1" + (f"?seed={i}" if i else "")
    p.write_text("".join(ln if not ln.startswith("model:") else f"model: {model}\n"
                         for ln in text.splitlines(keepends=True)))  # fmt: skip
    ((rec, _),) = register_artifacts(root, "prompt/cat")
    return rec.digest


def audit_counters(store: ObjectStore) -> list[int]:
    keys = [o.key for o in store.list("state/registry/audit/")]
    return sorted(int(k.rpartition("/")[2].removesuffix(".json")) for k in keys)


def stored_aliases(store: ObjectStore) -> dict[str, Any]:
    blob = store.get("state/registry/aliases.json")
    assert blob is not None
    return json.loads(blob.data)["aliases"]


CHILD = textwrap.dedent(
    """
    import os, sys
    from driftgate.errors import AliasMoved
    from driftgate.registry import promote
    root, ref, to = sys.argv[1:4]
    try:
        promote(ref, to, workspace=root, force=True, skip_gate=True, reason="race")
    except AliasMoved as exc:
        print(exc, file=sys.stderr)
        sys.exit(3)
    """
)


def race(s3_server: Any, moves: list[tuple[Path, str, str]], pause: str) -> list[tuple[int, str]]:
    """Run each (workspace copy, ref, alias) promotion in its own process at once."""
    env = {**os.environ, **s3_server.env(), "DRIFTGATE_REGISTRY_PAUSE": pause}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(root), ref, to],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for root, ref, to in moves
    ]
    out = []
    for p in procs:
        _, err = p.communicate(timeout=30)
        out.append((p.returncode, err))
    return out


def test_racing_promotions_on_two_machines_one_wins_and_the_chain_is_contiguous(
    ws_root: Path, s3_url: str, s3_server: Any
) -> None:
    a, b = two_machines(ws_root, s3_url)
    d = [new_version(a, i) for i in range(3)]
    promote("prompt/cat@1", workspace=a, **FORCE)
    # Both read production = @1, gate, then load the store's state and hold it 0.5 s
    # before writing: both write against the same ETag, and the store refuses one.
    results = race(
        s3_server,
        [(a, "prompt/cat@2", "production"), (b, "prompt/cat@3", "production")],
        pause="gate=1.0,write=0.5",
    )
    codes = sorted(code for code, _ in results)
    assert codes == [0, 3], results
    loser = next(err for code, err in results if code == 3)
    assert "moved while you were gating" in loser and "nothing moved" in loser
    winner = d[1] if results[0][0] == 0 else d[2]
    store = ObjectStore.from_url(s3_url)
    assert stored_aliases(store)["prompt/cat"] == {"production": winner, "previous": d[0]}
    assert audit_counters(store) == [1, 2]
    for root in (a, b):  # each copy's state and audit log are the store's
        reg = Registry.of(root)
        assert reg.aliases.read(latest=True).of("prompt/cat")["production"] == winner
        assert [e.counter for e in reg.aliases.audit()] == [1, 2]


def test_concurrent_moves_of_different_aliases_all_land(
    ws_root: Path, s3_url: str, s3_server: Any
) -> None:
    """Moves that do not conflict are retried on the state another machine made: none is
    lost, and the chain numbers every one once."""
    a, b = two_machines(ws_root, s3_url)
    d = [new_version(a, i) for i in range(2)]
    labels = ["blue", "green", "red", "amber"]
    moves = [
        (root, "prompt/cat@2", label) for root, label in zip([a, b, a, b], labels, strict=True)
    ]
    results = race(s3_server, moves, pause="write=0.3")
    assert [code for code, _ in results] == [0, 0, 0, 0], results
    store = ObjectStore.from_url(s3_url)
    assert stored_aliases(store)["prompt/cat"] == {label: d[1] for label in labels}
    assert audit_counters(store) == [1, 2, 3, 4]
    entries = Registry.of(b).aliases.audit()
    assert sorted(e.alias for e in entries) == sorted(labels)
    assert [e.counter for e in entries] == [1, 2, 3, 4]


def test_register_on_one_machine_resolves_on_the_other(ws_root: Path, s3_url: str) -> None:
    a, b = two_machines(ws_root, s3_url)
    d0 = new_version(a, 0)
    promote("prompt/cat@1", workspace=a, **FORCE)
    resolver = Resolver(b)  # a serving process on machine B
    try:
        assert resolver.resolve("prompt/cat").digest == d0
        d1 = new_version(a, 1)
        promote("prompt/cat@2", workspace=a, **FORCE)
        deadline = time.monotonic() + STALENESS_S + 1.0
        while resolver.resolve("prompt/cat").digest != d1:
            assert time.monotonic() < deadline, "B never saw the promotion"
            time.sleep(0.02)
        assert resolver.resolve("prompt/cat").seq == 2
    finally:
        assert resolver.refresher is not None
        resolver.refresher.unwatch([resolver.state_path])
    # The writing path on B: @2 by number (pulled on the miss), and a rollback from B.
    assert Registry.of(b).find("cat@2").digest == d1
    back = rollback("prompt/cat", workspace=b, reason="from b")
    assert back.to_digest == d0
    assert Registry.of(a).aliases.read(latest=True).of("prompt/cat")["production"] == d0
    # Sequence numbers stay unique across machines: B's new content takes @3.
    (b / "prompts" / "cat.yaml").write_text(
        (b / "prompts" / "cat.yaml").read_text().replace("temperature: 0", "temperature: 0.5")
    )
    ((rec, created),) = register_artifacts(b, "prompt/cat")
    assert created and rec.seq == 3
    assert Registry.of(a).find("cat@3").digest == rec.digest


def test_a_crashed_writers_audit_entry_is_written_by_the_next(ws_root: Path, s3_url: str) -> None:
    a, b = two_machines(ws_root, s3_url)
    for i in range(2):
        new_version(a, i)
    promote("prompt/cat@1", workspace=a, **FORCE)
    promote("prompt/cat@2", workspace=a, **FORCE)
    store = ObjectStore.from_url(s3_url)
    store.delete("state/registry/audit/000000000002.json")  # died right after the commit
    rollback("prompt/cat", workspace=b)
    assert audit_counters(store) == [1, 2, 3]
    assert [e.action for e in Registry.of(b).aliases.audit()] == ["promote", "promote", "rollback"]


def test_a_local_state_made_before_the_store_is_not_overwritten(ws_root: Path, s3_url: str) -> None:
    new_version(ws_root, 0)
    promote("prompt/cat@1", workspace=ws_root, **FORCE)  # no store yet
    with (ws_root / "driftgate.yaml").open("a") as fh:
        fh.write(f"store: {s3_url}\n")
    with pytest.raises(ConfigError, match="store migrate"):
        rollback("prompt/cat", workspace=ws_root)


def test_push_and_pull_state_copy_the_registry_both_ways(ws_root: Path, s3_url: str) -> None:
    d = [new_version(ws_root, i) for i in range(2)]  # a workspace without a store
    promote("prompt/cat@1", workspace=ws_root, **FORCE)
    promote("prompt/cat@2", workspace=ws_root, **FORCE)
    state_dir = Workspace.find(ws_root).state_dir
    store = ObjectStore.from_url(s3_url)
    pushed = push_state(store, state_dir)
    assert pushed == 2 + 2 + 1  # two versions, two audit entries, the alias state
    assert push_state(store, state_dir) == 0  # idempotent
    assert audit_counters(store) == [1, 2]

    fresh = ws_root.parent / "empty" / ".driftgate"
    assert pull_state(store, fresh) == 2 + 2 + 1
    assert pull_state(store, fresh) == 0
    for rel in ("registry/aliases.json", "registry/audit.jsonl"):
        assert (fresh / rel).read_bytes() == (state_dir / rel).read_bytes()
    assert sorted(p.name for p in (fresh / "registry/prompt/cat").glob("*.json")) == sorted(
        f"{x}.json" for x in d
    )
    # The pushed registry is usable through the store: a move continues its chain.
    with (ws_root / "driftgate.yaml").open("a") as fh:
        fh.write(f"store: {s3_url}\n")
    rollback("prompt/cat", workspace=ws_root)
    assert audit_counters(store) == [1, 2, 3]
    # A version registered elsewhere after the push takes the next number.
    assert new_version(ws_root, 7) != d[1]
    assert Registry.of(ws_root).find("cat@3")


def test_a_corrupt_state_on_the_store_is_refused_and_repaired_from_its_chain(
    ws_root: Path, s3_url: str
) -> None:
    from driftgate.registry import StateCorrupted, repair

    a, b = two_machines(ws_root, s3_url)
    d = [new_version(a, i) for i in range(2)]
    promote("prompt/cat@1", workspace=a, **FORCE)
    promote("prompt/cat@2", workspace=a, **FORCE)
    store = ObjectStore.from_url(s3_url)
    blob = store.get("state/registry/aliases.json")
    assert blob is not None
    store.put("state/registry/aliases.json", blob.data.replace(d[1].encode(), d[0].encode()))
    with pytest.raises(StateCorrupted, match="checksum"):
        rollback("prompt/cat", workspace=b)
    problem, state = repair(b)
    assert problem and state.of("prompt/cat") == {"production": d[1], "previous": d[0]}
    assert audit_counters(store) == [1, 2, 3]
    assert stored_aliases(store)["prompt/cat"]["production"] == d[1]
    assert rollback("prompt/cat", workspace=a).to_digest == d[0]  # usable again, from A
    assert audit_counters(store) == [1, 2, 3, 4]
