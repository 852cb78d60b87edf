"""The whole loop on the simulator: serve with a canary, users give feedback, the bad canary
rolls itself back, prompt drift is read off the route's log, feedback retrains the few-shot
set, and the gate decides before it serves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from driftgate.drift import check_traffic
from driftgate.registry.core import Registry
from driftgate.retraining import retrain
from driftgate.router import Router, current_weights, labeled_cases, traffic_records
from driftgate.router.replay import ReplayRequest, replay
from driftgate.workspace import Workspace
from test_retrain import LABELS, MODEL, make_workspace

ROUTE = f"""
sticky_key: user
arms:
  - {{name: production, prompt: cat@few, model: "{MODEL}", weight: 80}}
  - {{name: candidate, prompt: cat@few, model: "sim/perfect@v1?accuracy=0.2", weight: 20}}
canary: {{min_feedback: 15, check_every: 10}}
"""


def requests(n: int, start: int, shape: str) -> list[ReplayRequest]:
    return [
        ReplayRequest(
            id=f"q{i}",
            vars={"description": shape.format(i=i), "user": f"u{i % 61}"},
            expected=LABELS[i % len(LABELS)],
            sticky=None,
        )
        for i in range(start, start + n)
    ]


def test_serve_feedback_rollback_drift_retrain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    root = make_workspace(tmp_path / "ws")
    (root / "routes").mkdir()
    (root / "routes" / "cat.yaml").write_text(ROUTE)
    ws = Workspace.find(root)

    # 1. Traffic like the golden set, then a new statement format; users label every answer.
    traffic = requests(150, 0, "merchant {i} shop") + requests(
        150, 150, "CNP {i}/03 ONLINE*{i} GBR"
    )
    router = Router("cat", workspace=root)
    result = asyncio.run(replay(router, traffic, concurrency=4, feedback=True))
    assert not result.errors

    # 2. The candidate (accepted ~20% vs ~75%) rolled itself back; users moved with it.
    spec = router.spec
    assert current_weights(ws, spec) == {"production": 100.0, "candidate": 0.0}
    assert router.last_canary is not None and "candidate" in router.last_canary.rollback_arms

    # 3. Prompt drift, read off the route's own log: the inputs moved away from the golden set.
    report = check_traffic(
        traffic_records(ws, "cat"), workspace=root, window=150, vectorizer="tfidf",
        check_unreviewed=False, save=False,
    )  # fmt: skip
    assert report.alert and "input_shift_window" in {
        s.name for s in report.signals if s.verdict == "drift"
    }

    # 4. Feedback becomes labels; retraining the few-shot set is gated, then the candidate
    # alias points at a new prompt version bound to the new set (no workspace file written).
    cases = labeled_cases(ws, "cat")
    assert len(cases) == 300  # every answer was accepted or corrected
    outcome = retrain("cat@few", route="cat", workspace=root)
    assert outcome.passed and outcome.applied and outcome.labels.used == 300
    (change,) = outcome.artifacts
    reg = Registry.of(ws)
    versions = {v.digest for v in reg.versions.list("fewshot", "cat")}
    assert versions == {change.old_digest, change.new_digest}  # what served, the candidate's
    assert reg.aliases_of("prompt/cat") == {"candidate": outcome.candidate_digest}
    new_examples = reg.find(change.version or "").model_dump_json()
    assert "CNP" in new_examples or "merchant" in new_examples  # served traffic taught it
