"""Stored result fields are bounded by `max_stored_chars`, with a marker (#16 item 9)."""

from __future__ import annotations

import json
from pathlib import Path

from driftgate import engine
from driftgate.engine.results import bounded_text


def test_bounded_text_marks_the_cut_and_the_size():
    assert bounded_text("abc", 3) == "abc"
    cut = bounded_text("x" * 5000, 1000)
    assert cut.startswith("x" * 1000) and not cut.startswith("x" * 1001)
    assert "truncated by driftgate: 5,000 characters, the first 1,000 kept" in cut


def test_a_huge_answer_is_scored_whole_and_stored_bounded(tmp_path: Path, monkeypatch):
    root = tmp_path / "ws"
    (root / "prompts").mkdir(parents=True)
    (root / "evalsets").mkdir()
    (root / "driftgate.yaml").write_text("max_stored_chars: 1000\n")
    (root / "prompts" / "echo.yaml").write_text(
        "name: echo\nmodel: sim/perfect@v1\nmessages:\n  - {role: user, content: '{{ text }}'}\n"
    )
    big = "y" * 5000
    case = {"id": "a", "vars": {"text": "z" * 3000}, "expected": big}
    (root / "evalsets" / "g.jsonl").write_text(json.dumps(case) + "\n")
    (root / "s.suite.yaml").write_text(
        "prompts: [echo]\nevalsets: [g]\nscorers:\n  - {type: equals}\n"
    )
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    run = engine.run(root / "s.suite.yaml", workspace=root, progress="off")
    (rec,) = list(run.store.results(run.id))
    assert rec.passed is True  # the scorer compared the whole answer
    assert rec.output is not None and len(rec.output) < 1200
    assert "truncated by driftgate: 5,000 characters" in rec.output
    assert rec.messages is not None
    assert "truncated by driftgate: 3,000 characters" in rec.messages[0]["content"]
