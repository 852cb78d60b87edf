"""The review queue: what is queued and why, in what order; decisions stored once as
feedback (with the reviewer) and as golden cases, with the leakage guard; per-segment needs."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from conftest import LABELS
from driftgate.errors import ConfigError
from driftgate.retraining.labels import collect_labels
from driftgate.review import record_review, review_queue
from driftgate.router import Router, read_feedback
from driftgate.workspace import Workspace


def test_queue_orders_by_reason_and_says_why(served: Workspace) -> None:
    queue = review_queue(served, "cat")
    reasons = [i.reason for i in queue.items]
    assert reasons[:4] == ["rejected"] * 4
    assert reasons[4:8] == ["edited"] * 4
    assert all(i.suggestion == "rent" for i in queue.items[4:8])
    assert queue.counts["rejected"] == 4 and queue.counts["edited"] == 4
    # Every disagreement is one where the shadow's answer differs from the live one.
    for item in queue.items:
        if item.reason == "disagreement":
            assert any(a != item.answer for a in item.shadows.values())
            assert "shadow other answered" in item.why
    assert queue.labels == LABELS
    assert {n.segment for n in queue.needs} == {"lumen", "northwind"}
    assert all(n.needed > 0 and n.missing == n.needed - n.golden for n in queue.needs)


def test_a_correction_becomes_feedback_and_a_golden_case_once(served: Workspace) -> None:
    item = review_queue(served, "cat").items[0]
    out = record_review(served, item.id, "correct", label="dining", reviewer="ana")
    assert out.golden_added and out.expected == "dining" and not out.duplicate
    golden = [json.loads(line) for line in (served.root / "evalsets/reviewed.jsonl").open()]
    assert golden == [
        {
            "id": item.request_id,
            "vars": item.vars,
            "expected": "dining",
            "segment": item.segment,
            "metadata": golden[0]["metadata"],
        }
    ]
    assert golden[0]["metadata"]["reviewer"] == "ana"
    (event,) = [fb for fb in read_feedback(served, "cat") if fb.reviewer]
    assert (event.request_id, event.verdict, event.correction, event.reviewer) == (
        item.request_id, "edit", "dining", "ana",
    )  # fmt: skip
    # Reviewed: out of the queue; a second decision stores nothing and names the first.
    assert item.id not in {i.id for i in review_queue(served, "cat").items}
    again = record_review(served, item.id, "accept", reviewer="bo")
    assert again.duplicate and again.reviewed_by == "ana"
    assert len((served.root / "evalsets/reviewed.jsonl").read_text().splitlines()) == 1
    assert len([fb for fb in read_feedback(served, "cat") if fb.reviewer]) == 1


def test_racing_reviewers_store_one_decision(served: Workspace) -> None:
    item = review_queue(served, "cat").items[0]
    outcomes = []

    def review(who: str) -> None:
        outcomes.append(record_review(served, item.id, "correct", label="rent", reviewer=who))

    threads = [threading.Thread(target=review, args=(w,)) for w in ("ana", "bo", "cy")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.duplicate for o in outcomes) == [False, True, True]
    assert len((served.root / "evalsets/reviewed.jsonl").read_text().splitlines()) == 1


def test_leakage_guard_keeps_golden_inputs_out(served: Workspace) -> None:
    # A request whose input equals a golden case: reviewed, but not added again.
    golden_vars = {"description": "merchant 3"}
    with (served.root / "evalsets/tx.jsonl").open() as fh:
        assert any(json.loads(line)["vars"] == golden_vars for line in fh)

    async def serve_one() -> None:
        router = Router("cat", workspace=served.root)
        await router.complete(golden_vars, request_id="dup")
        await router.aclose()

    asyncio.run(serve_one())
    out = record_review(served, "cat/dup", "correct", label="rent", reviewer="ana")
    assert not out.golden_added and "golden set (case c003)" in (out.golden_skipped or "")
    # What is reviewed into the golden set never trains a retrain (same id).
    item = next(i for i in review_queue(served, "cat").items if i.reason == "edited")
    record_review(served, item.id, "accept", reviewer="ana")
    from driftgate.registry.prompts import find_prompt
    from driftgate.suite import load_suite

    (served.root / "evalsets/main.suite.yaml").write_text(
        (served.root / "evalsets/main.suite.yaml")
        .read_text()
        .replace("evalsets: [tx]", "evalsets: [tx, reviewed]")
    )
    suite = load_suite(served.root / "evalsets/main.suite.yaml")
    golden = [served.evalset(ref) for ref in suite.evalsets]
    _, rows = collect_labels(
        served, route="cat", labels=None, golden=golden, prompt=find_prompt(served, "cat@v1")
    )
    assert item.request_id not in {r["id"] for r in rows}


def test_skip_moves_an_item_to_the_end_and_bad_input_is_refused(served: Workspace) -> None:
    first = review_queue(served, "cat").items[0]
    record_review(served, first.id, "skip", reviewer="ana")
    queue = review_queue(served, "cat")
    assert queue.items[-1].id == first.id and queue.items[-1].skipped
    with pytest.raises(ConfigError, match="not a label of the prompt"):
        record_review(served, first.id, "correct", label="caviar", reviewer="ana")
    with pytest.raises(ConfigError, match="needs the right answer"):
        record_review(served, first.id, "correct", label=" ", reviewer="ana")
    with pytest.raises(ConfigError, match="no answer 'nope'"):
        record_review(served, "cat/nope", "accept", reviewer="ana")
    with pytest.raises(ConfigError, match="unknown review action"):
        record_review(served, first.id, "maybe", reviewer="ana")
    assert not (served.root / "evalsets/reviewed.jsonl").exists()  # nothing stored


def test_inputs_far_from_every_golden_case_are_queued_as_drifted(served: Workspace) -> None:
    async def serve_new_format() -> None:
        router = Router("cat", workspace=served.root)
        for i in range(3):
            text = f"Zahlung QX-{i} 9981 ÜBERWEISUNG KTO {i}"
            await router.complete({"description": text, "bank": "lumen"}, request_id=f"new{i}")
        await router.aclose()

    asyncio.run(serve_new_format())
    queue = review_queue(served, "cat")
    drifted = {i.request_id for i in queue.items if i.reason == "drifted"}
    assert {"new0", "new1", "new2"} <= drifted
    assert not drifted & {f"r{i:02d}" for i in range(40)}  # the usual inputs are not
