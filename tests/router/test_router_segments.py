"""Segments travel with routed requests (to the simulator and the log), the route's scorers
judge labeled answers, and a candidate arm at weight 0 needs no alias until it serves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import LABELS
from driftgate.errors import UnknownNameError
from driftgate.router import Router, check_canary, read_decisions
from driftgate.router.state import set_weights
from driftgate.workspace import Workspace

FAST = "latency_ms=0&latency_jitter_ms=0"
SEGMENTED = f'sim/acme@v1?{FAST}&accuracy=1&segment_accuracy={{"lumen": 0}}'


def write_route(root: Path, body: str) -> None:
    (root / "routes").mkdir(exist_ok=True)
    (root / "routes" / "cat.yaml").write_text(body)


async def serve(router: Router, n: int) -> None:
    for i in range(n):
        bank = "lumen" if i % 2 else "northwind"
        expected = LABELS[i % len(LABELS)]
        d = await router.complete(
            {"description": f"shop {i}", "bank": bank}, request_id=f"r{i}", expected=expected
        )
        ok = d.parsed == expected
        router.feedback(d.id, "accept" if ok else "edit", correction=None if ok else expected)
    await router.aclose()


def test_segment_by_reaches_the_simulator_the_log_and_the_status(ws_root: Path) -> None:
    write_route(ws_root, f"segment_by: bank\narms:\n  - {{name: main, prompt: cat@v1, "
                         f"model: '{SEGMENTED}', weight: 100}}\n")  # fmt: skip
    router = Router("cat", workspace=ws_root)
    asyncio.run(serve(router, 40))
    ws = Workspace.find(ws_root)
    decisions = read_decisions(ws, "cat")
    assert {d.segment for d in decisions} == {"lumen", "northwind"}
    # The simulator answered by segment: every answer wrong on lumen, right elsewhere.
    right = {
        seg: sum(
            d.parsed == LABELS[int(d.id[1:]) % len(LABELS)] for d in decisions if d.segment == seg
        )
        for seg in ("lumen", "northwind")
    }
    assert right == {"lumen": 0, "northwind": 20}
    (stats,) = check_canary(ws, router.spec).arms
    assert {g.segment: (g.labeled, g.quality) for g in stats.segments} == {
        "lumen": (20, 0.0),
        "northwind": (20, 1.0),
    }


def test_the_route_scorers_judge_labeled_answers(ws_root: Path) -> None:
    # A scorer that passes any answer containing "o": quality by it, not by equality.
    write_route(ws_root, "scorers: [{type: icontains, value: o}]\narms:\n"
                         f"  - {{name: main, prompt: cat@v1, model: 'sim/acme@v1?{FAST}&accuracy=0', weight: 100}}\n")  # fmt: skip
    router = Router("cat", workspace=ws_root)
    asyncio.run(serve(router, 40))
    (stats,) = check_canary(Workspace.find(ws_root), router.spec).arms
    assert stats.acceptance == 0.0  # every answer was wrong, and corrected
    contains_o = [
        d for d in read_decisions(Workspace.find(ws_root), "cat") if "o" in (d.output or "").lower()
    ]
    assert stats.quality == pytest.approx(len(contains_o) / 40)


def test_a_candidate_arm_without_its_alias_waits_until_it_serves(ws_root: Path) -> None:
    write_route(ws_root, "arms:\n"
                         f"  - {{name: main, prompt: cat@v1, model: 'sim/acme@v1?{FAST}', weight: 100}}\n"
                         "  - {name: candidate, prompt: cat@candidate, weight: 0}\n")  # fmt: skip
    router = Router("cat", workspace=ws_root)  # no `candidate` alias: fine at weight 0
    ws = Workspace.find(ws_root)
    with pytest.raises(UnknownNameError):
        set_weights(ws, router.spec, {"candidate": 0}, shadow_arms=["candidate"], reason="t")
        Router("cat", workspace=ws_root)  # mirrored now: it must resolve
