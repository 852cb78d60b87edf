"""Traffic logs on a shared store (moto on loopback): decisions served on one machine and
feedback given on another meet in both machines' logs, and the canary is judged on both."""

from __future__ import annotations

import shutil
from pathlib import Path

from driftgate.router import Router, read_decisions, read_feedback
from driftgate.router.log import pull_traffic, traffic_dir
from driftgate.store.objects import ObjectStore
from driftgate.workspace import Workspace

ROUTE = "arms:\n  - {name: production, prompt: cat@v1, weight: 100}\n"


def two_machines(ws_root: Path, url: str) -> tuple[Workspace, Workspace]:
    (ws_root / "routes").mkdir()
    (ws_root / "routes" / "cat.yaml").write_text(ROUTE)
    with (ws_root / "driftgate.yaml").open("a") as fh:
        fh.write(f"store: {url}\nshared_store: {{staleness_s: 0, flush_rows: 5}}\n")
    other = ws_root.parent / "machine-b"
    shutil.copytree(ws_root, other)
    return Workspace.find(ws_root), Workspace.find(other)


def test_decisions_and_feedback_meet_across_machines(ws_root: Path, s3_url: str) -> None:
    a, b = two_machines(ws_root, s3_url)
    served = Router("cat", workspace=a)
    try:
        ids = [
            served.complete_sync({"description": f"merchant {i}"}, request_id=f"r{i}").id
            for i in range(12)
        ]
    finally:
        served.close()  # publishes what the last flush left
    store = ObjectStore.from_url(s3_url)
    parts = store.list("state/traffic/cat/")
    assert parts and all(o.key.endswith(".jsonl") for o in parts)

    assert sorted(d.id for d in read_decisions(b, "cat")) == sorted(ids)  # copied from A
    reviewer = Router("cat", workspace=b)
    try:
        reviewer.feedback("r3", "reject")
        reviewer.feedback("r4", "edit", correction="rent")
    finally:
        reviewer.close()
    got = {fb.request_id: fb.verdict for fb in read_feedback(a, "cat")}
    assert got == {"r3": "reject", "r4": "edit"}
    # Copied once: reading again adds nothing, and A's own segment was never rewritten.
    assert pull_traffic(a, "cat", force=True) == 0
    assert len(read_decisions(a, "cat")) == 12
    assert len(list(traffic_dir(a, "cat").glob("feedback-*.jsonl"))) == 1


def test_without_a_store_the_log_stays_local(ws_root: Path) -> None:
    (ws_root / "routes").mkdir()
    (ws_root / "routes" / "cat.yaml").write_text(ROUTE)
    ws = Workspace.find(ws_root)
    router = Router("cat", workspace=ws)
    try:
        router.complete_sync({"description": "x"}, request_id="only")
        assert router.log._publishers == {}
    finally:
        router.close()
    assert pull_traffic(ws, "cat", force=True) == 0
    assert [d.id for d in read_decisions(ws, "cat")] == ["only"]
