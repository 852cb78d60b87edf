"""Live route weights on a shared store (moto on loopback), with two workspace copies in
separate folders standing for two machines: a move made on one reaches a router serving on
the other within the staleness bound, and racing moves from both all land, each once in a
contiguous history."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from driftgate.artifacts.route import load_route
from driftgate.registry.shared import pull_state, push_state
from driftgate.router import Router, history, rollback_weights, set_weights
from driftgate.store.objects import ObjectStore
from driftgate.workspace import Workspace

STALENESS_S = 1.0
ROUTE = (
    "arms:\n"
    "  - {name: production, prompt: cat@v1, weight: 80}\n"
    "  - {name: canary-a, prompt: cat@v1, weight: 10}\n"
    "  - {name: canary-b, prompt: cat@v1, weight: 10}\n"
)


def two_machines(ws_root: Path, url: str) -> tuple[Workspace, Workspace]:
    (ws_root / "routes").mkdir()
    (ws_root / "routes" / "cat.yaml").write_text(ROUTE)
    with (ws_root / "driftgate.yaml").open("a") as fh:
        fh.write(f"store: {url}\nshared_store: {{staleness_s: {STALENESS_S}}}\n")
    other = ws_root.parent / "machine-b"
    shutil.copytree(ws_root, other)
    return Workspace.find(ws_root), Workspace.find(other)


def history_counters(store: ObjectStore) -> list[int]:
    keys = [o.key for o in store.list("state/routes/cat/history/")]
    return sorted(int(k.rpartition("/")[2].removesuffix(".json")) for k in keys)


def test_a_rollback_on_one_machine_reaches_a_router_on_the_other(
    ws_root: Path, s3_url: str
) -> None:
    a, b = two_machines(ws_root, s3_url)
    spec = load_route(a.root / "routes" / "cat.yaml")
    router = Router("cat", workspace=b)  # serving on machine B
    try:
        assert router.weights == {"production": 80, "canary-a": 10, "canary-b": 10}
        moved = rollback_weights(a, spec, "canary-a", reason="canary rollback: worse")
        assert moved is not None
        committed = time.monotonic()
        while router.weights["canary-a"] != 0:
            assert time.monotonic() - committed < STALENESS_S, "B still routes to canary-a"
            time.sleep(0.01)
        assert router.weights == {"production": 90, "canary-a": 0, "canary-b": 10}
        # and B's request path picks from the moved weights, with no restart
        assert {router.choose(f"user-{i}").name for i in range(300)} == {"production", "canary-b"}
    finally:
        router.close()
    assert router._refresher is None


def test_a_router_starts_from_the_stores_weights(ws_root: Path, s3_url: str) -> None:
    a, b = two_machines(ws_root, s3_url)
    spec = load_route(a.root / "routes" / "cat.yaml")
    set_weights(a, spec, {"production": 100, "canary-a": 0, "canary-b": 0}, reason="hold")
    router = Router("cat", workspace=b)
    try:
        assert router.weights == {"production": 100, "canary-a": 0, "canary-b": 0}
    finally:
        router.close()


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from driftgate.artifacts.route import load_route
    from driftgate.router import rollback_weights
    from driftgate.workspace import Workspace
    root, arm, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    ws = Workspace.find(Path(root))
    spec = load_route(ws.root / "routes" / "cat.yaml")
    import time
    time.sleep(max(0.0, start - time.time()))
    moved = rollback_weights(ws, spec, arm, reason=f"canary rollback of {arm}")
    sys.exit(0 if moved is not None else 5)
    """
)


def test_racing_rollbacks_from_two_machines_both_land(
    ws_root: Path, s3_url: str, s3_server: Any
) -> None:
    """Two machines roll back two canaries of one route at the same moment: each decides
    on the weights on the store, the loser of the swap decides again, both land."""
    a, b = two_machines(ws_root, s3_url)
    spec = load_route(a.root / "routes" / "cat.yaml")
    set_weights(a, spec, {"production": 80, "canary-a": 10, "canary-b": 10}, reason="start")
    # Both read the store's state, then hold 0.4 s before writing: the same ETag, one refused.
    env = {**os.environ, **s3_server.env(), "DRIFTGATE_REGISTRY_PAUSE": "route-write=0.4"}
    start = time.time() + 1.5  # after both interpreters are up
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(ws.root), arm, str(start)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ws, arm in ((a, "canary-a"), (b, "canary-b"))
    ]
    outcomes = [(p.wait(30), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    store = ObjectStore.from_url(s3_url)
    blob = store.get("state/routes/cat/state.json")
    assert blob is not None
    assert json.loads(blob.data)["weights"] == {"production": 100, "canary-a": 0, "canary-b": 0}
    assert history_counters(store) == [1, 2, 3]
    for ws in (a, b):  # each copy's history is the store's chain
        moves = history(ws, "cat")
        assert [m.counter for m in moves] == [1, 2, 3]
        assert all(sum(m.weights.values()) == 100 for m in moves)
    # A second rollback of the same canary, decided on the store's weights: nothing moves.
    assert rollback_weights(b, spec, "canary-a", reason="again") is None
    assert history_counters(store) == [1, 2, 3]


def test_concurrent_moves_in_threads_of_two_machines_never_lose_one(
    ws_root: Path, s3_url: str
) -> None:
    """Many read-modify-write moves from both copies at once: every one is counted."""
    a, b = two_machines(ws_root, s3_url)
    spec = load_route(a.root / "routes" / "cat.yaml")
    set_weights(a, spec, {"production": 80, "canary-a": 10, "canary-b": 10}, reason="start")
    steps = 6
    errors: list[BaseException] = []

    def shift(ws: Workspace, arm: str) -> None:
        from driftgate.router.state import update_weights

        try:
            for _ in range(steps):
                update_weights(
                    ws,
                    spec,
                    lambda live: {"production": live["production"] - 1, arm: live[arm] + 1},
                    reason=f"shift to {arm}",
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=shift, args=(ws, arm))
        for ws, arm in ((a, "canary-a"), (b, "canary-b"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    final = {"production": 80 - 2 * steps, "canary-a": 10 + steps, "canary-b": 10 + steps}
    store = ObjectStore.from_url(s3_url)
    blob = store.get("state/routes/cat/state.json")
    assert blob is not None and json.loads(blob.data)["weights"] == final
    assert history_counters(store) == list(range(1, 2 * steps + 2))


def test_push_and_pull_state_copy_route_state(ws_root: Path, s3_url: str) -> None:
    (ws_root / "routes").mkdir()
    (ws_root / "routes" / "cat.yaml").write_text(ROUTE)
    ws = Workspace.find(ws_root)  # no store: the files as they always were
    spec = load_route(ws.root / "routes" / "cat.yaml")
    rollback_weights(ws, spec, "canary-a", reason="worse")
    rollback_weights(ws, spec, "canary-b", reason="worse")
    assert "counter" not in (ws.state_dir / "routes/cat/state.json").read_text()
    store = ObjectStore.from_url(s3_url)
    assert push_state(store, ws.state_dir) == 3  # two history entries and the state
    assert push_state(store, ws.state_dir) == 0
    fresh = ws_root.parent / "other" / ".driftgate"
    assert pull_state(store, fresh) == 3
    copied = [json.loads(line) for line in (fresh / "routes/cat/history.jsonl").open()]
    assert [m["counter"] for m in copied] == [1, 2]
    assert copied[-1]["weights"] == {"production": 100, "canary-a": 0, "canary-b": 0}
    # The workspace, now on the store, continues the chain.
    with (ws_root / "driftgate.yaml").open("a") as fh:
        fh.write(f"store: {s3_url}\n")
    ws = Workspace.find(ws_root)
    set_weights(ws, spec, {"production": 90, "canary-a": 10, "canary-b": 0}, reason="retry a")
    assert history_counters(store) == [1, 2, 3]


def test_without_a_store_serving_starts_no_refresher(ws_root: Path) -> None:
    (ws_root / "routes").mkdir()
    (ws_root / "routes" / "cat.yaml").write_text(ROUTE)
    before = {t.name for t in threading.enumerate()}
    router = Router("cat", workspace=ws_root)
    try:
        assert router._refresher is None
        assert "driftgate-store-refresh" not in {t.name for t in threading.enumerate()} - before
    finally:
        router.close()


def test_a_router_serves_its_local_copy_when_the_store_does_not_answer(
    ws_root: Path, monkeypatch: Any
) -> None:
    import driftgate.registry.refresh as refresh

    (ws_root / "routes").mkdir()
    (ws_root / "routes" / "cat.yaml").write_text(ROUTE)
    with (ws_root / "driftgate.yaml").open("a") as fh:
        fh.write("store: s3://nowhere/team\nshared_store: {staleness_s: 0.2}\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(refresh, "FIRST_COPY_S", 0.3)
    started = time.monotonic()
    router = Router("cat", workspace=ws_root)
    try:
        assert time.monotonic() - started < 2.0
        assert router.weights == {"production": 80, "canary-a": 10, "canary-b": 10}
    finally:
        router.close()


def test_route_status_on_a_machine_without_a_router_shows_the_stores_weights(
    ws_root: Path, s3_url: str
) -> None:
    from driftgate.router.operations import route_status

    a, b = two_machines(ws_root, s3_url)
    spec = load_route(a.root / "routes" / "cat.yaml")
    rollback_weights(a, spec, "canary-b", reason="worse on A")
    status = route_status(b, load_route(b.root / "routes" / "cat.yaml"))
    assert status.weights == {"production": 90, "canary-a": 10, "canary-b": 0}
    assert status.last_move is not None and status.last_move.reason == "worse on A"
