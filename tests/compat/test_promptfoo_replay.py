"""A promptfoo config run on recorded outputs (`replay/FILE` as its provider, or
`--model replay/FILE`): each case passes or fails on its recorded answer; `finish-reason`
compares the recorded provider's reason as given (promptfoo ignores case only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_main

# Tests are numbered as driftgate numbers a promptfoo config's tests: 1, 2, … in order.
CONFIG = """\
description: Capitals, recorded
prompts: ['What is the capital of {{ country }}?']
providers: [replay/recorded.jsonl]
defaultTest:
  assert:
    - {type: not-icontains, value: "as an AI"}
tests:
  - description: france
    vars: {country: France}
    assert:
      - {type: icontains, value: paris}
      - {type: finish-reason, value: STOP}
  - description: japan
    vars: {country: Japan}
    assert:
      - {type: icontains, value: tokyo}
      - {type: finish-reason, value: stop}
  - description: peru cut short
    vars: {country: Peru}
    assert:
      - {type: icontains, value: lima}
      - {type: finish-reason, value: length}
  - description: chile, anthropic's reason
    vars: {country: Chile}
    assert:
      - {type: finish-reason, value: stop}
  - description: json
    vars: {country: Spain}
    assert:
      - {type: is-json, value: {type: object, required: [capital]}}
      - {type: javascript, value: "JSON.parse(output).capital === 'Madrid'"}
      - {type: latency, threshold: 500}
"""
ROWS = [
    {"case_id": "1", "output": "Paris.", "finish_reason": "stop", "latency_ms": 120},
    {"case_id": "2", "output": "As an AI, I think Tokyo.", "finish_reason": "stop"},
    {"case_id": "3", "output": "The capital of Peru is", "finish_reason": "length"},
    {"case_id": "4", "output": "Santiago.", "finish_reason": "end_turn"},
    {"case_id": "5", "output": '{"capital": "Madrid"}', "latency_ms": 900},
]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    (tmp_path / "driftgate.yaml").write_text("{}\n")
    (tmp_path / "recorded.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _rows(root: Path) -> dict[str, dict]:
    out = {}
    for run in (root / "runs").iterdir():
        for seg in (run / "results").glob("*.jsonl"):
            for line in seg.read_text().splitlines():
                row = json.loads(line)
                out[row["case_id"]] = row
    return out


def _asserts(row: dict) -> dict[str, tuple[bool, str]]:
    (score,) = row["scores"]
    return {a["metric"]: (a["passed"], a["reason"]) for a in score["data"]["asserts"]}


EXPECTED = {
    "1": True,  # "STOP" matches "stop": promptfoo compares ignoring case
    "2": False,  # "as an AI" in the answer: defaultTest fails it
    "3": False,  # no "lima" (cut short), though the finish reason is "length" as asserted
    "4": False,  # "end_turn" is not "stop": the reason is compared as given, not mapped
    "5": False,  # the JSON checks pass; the recorded 900 ms is over the 500 ms budget
}


@pytest.mark.parametrize("how", ["provider", "--model"])
def test_a_promptfoo_config_on_recorded_outputs(ws, capsys, monkeypatch, how):
    config = (
        CONFIG
        if how == "provider"
        else CONFIG.replace(
            "providers: [replay/recorded.jsonl]\n", "providers: [openai:gpt-4o-mini]\n"
        )
    )
    (ws / "promptfooconfig.yaml").write_text(config)
    argv = ["run", "-c", "promptfooconfig.yaml"]
    if how == "--model":
        argv += ["--model", "replay/recorded.jsonl"]
    code, _, err = run_main(capsys, monkeypatch, *argv)
    assert code == 1, err  # cases fail, as recorded
    rows = _rows(ws)
    assert {k: r["passed"] for k, r in rows.items()} == EXPECTED
    assert all(r["model"] == "replay/recorded.jsonl" and r["error"] is None for r in rows.values())
    assert _asserts(rows["1"])["finish-reason"][0] is True
    assert _asserts(rows["3"])["finish-reason"][0] is True
    assert _asserts(rows["3"])["icontains"][0] is False
    passed, reason = _asserts(rows["4"])["finish-reason"]
    assert passed is False and "'end_turn'" in reason
    json_checks = _asserts(rows["5"])
    assert json_checks["json-valid"][0] and json_checks["javascript"][0]
    assert json_checks["latency"][0] is False


def test_a_recorded_answer_without_a_finish_reason_keeps_the_old_default(ws, capsys, monkeypatch):
    (ws / "recorded.jsonl").write_text(json.dumps({"case_id": "1", "output": "Paris"}) + "\n")
    (ws / "promptfooconfig.yaml").write_text(
        "prompts: ['{{ country }}']\nproviders: [replay/recorded.jsonl]\n"
        "tests:\n  - vars: {country: France}\n    assert: [{type: finish-reason, value: stop}]\n"
    )
    code, _, err = run_main(capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml")
    assert code == 0, err
