"""A second replay of one file, or --repeat, is new traffic: fresh request ids."""

from __future__ import annotations

from driftgate.router.replay import ReplayRequest, repeated


def test_taken_ids_get_the_first_free_suffix_and_free_ones_are_kept() -> None:
    reqs = [ReplayRequest("a", {}, "x", None, "seg"), ReplayRequest("b", {}, "y", None)]
    out = repeated(reqs, {"a", "a~2"}, times=2)
    assert [r.id for r in out] == ["a~3", "b", "a~4", "b~2"]
    assert out[0].segment == "seg" and out[0].expected == "x"
