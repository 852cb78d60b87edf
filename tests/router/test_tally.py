"""Incremental per-arm counts: only new whole lines are read; joins in any order."""

from __future__ import annotations

from pathlib import Path

from driftgate.router.log import Decision, Feedback
from driftgate.router.tally import Tally


def decision(rid: str, arm: str = "a", *, shadow: bool = False, parsed: str = "x") -> Decision:
    return Decision(
        id=rid, ts=0, route="r", route_digest="D", arm=arm, shadow=shadow, prompt="p",
        prompt_digest="p", model="m", vars={}, parsed=parsed,
    )  # fmt: skip


def feedback(rid: str, verdict: str, ts: float, correction: str | None = None) -> Feedback:
    return Feedback(request_id=rid, ts=ts, route="r", verdict=verdict, correction=correction)


def test_feedback_joins_in_either_order_and_the_latest_word_counts() -> None:
    t = Tally("D")
    t.add_feedback(feedback("q1", "accept", ts=1))  # before its decision is seen
    assert t.get(("a", False, "p"), "feedback") == 0
    t.add_decision(decision("q1"))
    assert (t.get(("a", False, "p"), "feedback"), t.get(("a", False, "p"), "accepted")) == (1, 1)
    t.add_feedback(feedback("q1", "edit", ts=2, correction="y"))  # the user changed their mind
    assert (t.get(("a", False, "p"), "feedback"), t.get(("a", False, "p"), "accepted")) == (1, 0)
    t.add_feedback(feedback("q1", "accept", ts=0.5))  # an older word: ignored
    assert t.get(("a", False, "p"), "accepted") == 0
    t.add_decision(decision("q1", "s", shadow=True, parsed="Y"))  # shadow scored on the label
    assert (t.get(("s", True, "p"), "labeled"), t.get(("s", True, "p"), "agreed")) == (1, 1)
    t.add_decision(decision("q2").model_copy(update={"route_digest": "OLD"}))
    assert t.get(("a", False, "p"), "requests") == 1  # another route version's traffic


def test_update_reads_only_new_whole_lines(tmp_path: Path) -> None:
    seg = tmp_path / "decisions-h-1-1.jsonl"
    line = lambda rid: (decision(rid).model_dump_json() + "\n").encode()  # noqa: E731
    seg.write_bytes(line("q1") + line("q2"))
    t = Tally("D", tmp_path)
    t.update()
    assert t.get(("a", False, "p"), "requests") == 2
    whole = line("q3")
    with seg.open("ab") as fh:
        fh.write(whole[:20])  # a line still being written
    t.update()
    assert t.get(("a", False, "p"), "requests") == 2
    with seg.open("ab") as fh:
        fh.write(whole[20:])
    (tmp_path / "feedback-h-1-1.jsonl").write_text(
        feedback("q3", "accept", 1).model_dump_json() + "\n"
    )
    t.update()
    t.update()  # nothing new: nothing counted twice
    assert t.get(("a", False, "p"), "requests") == 3 and t.get(("a", False, "p"), "accepted") == 1
