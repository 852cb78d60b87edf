"""Plans keep small golden sets in memory after validating them; large ones are streamed."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftgate.engine import plan as plan_mod
from driftgate.engine.plan import RunOptions, build_plan
from driftgate.workspace import Workspace

OPTIONS = [
    RunOptions(),
    RunOptions(filter=["segment:cohort=new"]),
    RunOptions(limit=7),
    RunOptions(sample=9, seed=4),
    RunOptions(cases={"tx": ["c003", "c010", "c999"]}),
    RunOptions(filter=["tag:even"], limit=3),
]


def selected(ws_root: Path, options: RunOptions) -> tuple[list[str], bool]:
    plan = build_plan(workspace=Workspace.find(ws_root), options=options)
    ids = [c.id for es in plan.evalsets for c in plan.cases(es)]
    assert len(ids) == plan.counts["tx"]
    return ids, "tx" in plan.kept


@pytest.mark.parametrize("options", OPTIONS, ids=range(len(OPTIONS)))
def test_kept_and_streamed_cases_are_the_same(
    ws_root: Path, monkeypatch: pytest.MonkeyPatch, options
):
    kept, was_kept = selected(ws_root, options)
    assert was_kept
    monkeypatch.setattr(plan_mod, "KEEP_CASES", 5)  # more cases than that: streamed
    streamed, was_kept = selected(ws_root, options)
    assert not was_kept and streamed == kept and kept == sorted(kept)


def test_large_files_are_never_kept(ws_root: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(
        plan_mod, "KEEP_BYTES", (ws_root / "evalsets" / "tx.jsonl").stat().st_size - 1
    )
    ids, was_kept = selected(ws_root, RunOptions())
    assert not was_kept and len(ids) == 40


def test_kept_cases_are_the_filtered_ones(ws_root: Path):
    plan = build_plan(workspace=Workspace.find(ws_root), options=RunOptions(filter=["tag:odd"]))
    assert [c.id for c in plan.kept["tx"]] == [f"c{i:03d}" for i in range(1, 40, 2)]
