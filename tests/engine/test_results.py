"""How a result record is filled: the answer, the parse and the weighted scores."""

from __future__ import annotations

from pathlib import Path

import driftgate
from driftgate.engine.plan import build_plan
from driftgate.engine.results import base_record, record_answer, record_scores, score_context
from driftgate.providers import Completion
from driftgate.scoring import Score, build_scorer


def test_a_record_is_filled_from_the_answer_and_scores(ws_root: Path):
    plan = build_plan(workspace=driftgate.Workspace.find(ws_root))
    arm = plan.arms[0]
    case = next(iter(plan.cases(plan.evalsets[0])))
    rec = base_record("r1", arm)
    assert list(rec)[:3] == ["run_id", "key", "evalset"] and rec["prompt"] == "cat@v1"
    record_answer(rec, Completion(text=" Groceries. ", latency_ms=3.0, cost_usd=0.5, cached=True))
    ctx = score_context(rec, arm, case, Completion(text=" Groceries. "))
    assert rec["parsed"] == ctx.parsed == "groceries" and rec["parse_error"] is None
    assert ctx.expected == case.expected and ctx.labels == arm.prompt.output.labels
    assert (rec["output"], rec["latency_ms"], rec["cost_usd"], rec["cached"]) == (
        " Groceries. ",
        3.0,
        0.5,
        True,
    )


def test_scores_are_weighted_and_scorer_errors_fail_the_case():
    scorers = [
        build_scorer({"type": "equals", "metric": "a", "weight": 3}),
        build_scorer({"type": "equals", "metric": "b"}),
        build_scorer({"type": "equals", "metric": "info", "weight": 0}),
    ]
    rec = base_record("r1", _FakeArm())
    record_scores(rec, scorers, [Score(1.0, True), Score(0.0, False), Score(0.0, False)])
    assert rec["score"] == 0.75 and rec["passed"] is False and rec["error"] is None
    assert [s["metric"] for s in rec["scores"]] == ["a", "b", "info"]
    rec = base_record("r1", _FakeArm())
    record_scores(
        rec, scorers[:1] + scorers[2:], [Score(1.0, True), Score(0.0, False, error="judge down")]
    )
    assert rec["score"] == 1.0  # the weight-0 scorer decides nothing about the score…
    assert (
        rec["passed"] is False and rec["error"] == "scorer info: judge down"
    )  # …but its error fails
    assert rec["error_kind"] == "scorer"


class _FakeArm:
    class prompt:  # noqa: N801 - stands in for a Prompt
        ref = "p"
        digest = "d"

    class model:  # noqa: N801 - stands in for a ModelConfig
        name = "m"
