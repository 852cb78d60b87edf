"""`driftgate review queue | decide`: the same queue and decisions as the UI's Review page."""

from __future__ import annotations

import json

import pytest

from conftest import run_main
from driftgate.router import read_feedback
from driftgate.workspace import Workspace


def test_queue_then_decide_from_the_terminal(
    served: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = str(served.root)
    code, out, _ = run_main(capsys, monkeypatch, "review", "queue", "cat", "-n", "3", "-w", ws)
    assert code == 0 and "4 rejected" in out and "4 edited" in out and "still to label" in out
    code, out, _ = run_main(capsys, monkeypatch, "review", "queue", "cat", "--json", "-w", ws)
    queue = json.loads(out)
    first = queue["items"][0]["id"]
    code, out, _ = run_main(capsys, monkeypatch, "review", "decide", first, "correct",
                            "--label", "rent", "--reviewer", "ana", "-w", ws)  # fmt: skip
    assert code == 0 and "recorded 'rent'" in out and "added to the golden set" in out
    code, out, _ = run_main(capsys, monkeypatch, "review", "decide", first, "accept",
                            "--reviewer", "bo", "-w", ws)  # fmt: skip
    assert code == 0 and "already reviewed by ana" in out
    assert [fb.reviewer for fb in read_feedback(served, "cat") if fb.reviewer] == ["ana"]
    code, _, err = run_main(capsys, monkeypatch, "review", "decide", "cat/r01", "correct",
                            "--label", "caviar", "--reviewer", "ana", "-w", ws)  # fmt: skip
    assert code == 2 and "not a label of the prompt" in err
