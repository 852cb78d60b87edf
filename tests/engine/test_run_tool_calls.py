"""Tool calls through a run: a conversation case with tools is sent, the calls the model
made are scored, stored, read back, served from the cache, queried, and replayed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import driftgate
from conftest import run_main
from driftgate.store.query import query
from driftgate.store.runs import RunStore

PROMPT = """\
name: weather
model: sim/perfect@v1
messages:
  - {role: system, content: "Call a tool when one fits."}
  - {insert: messages}
tools:
  - type: function
    function:
      name: get_weather
      parameters:
        type: object
        properties: {city: {type: string}, unit: {type: string, enum: [c, f]}}
        required: [city]
"""
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
CASES = [
    {"id": "w1", "messages": [{"role": "user", "content": "Weather in Paris?"}],
     "expected": {"name": "get_weather", "arguments": {"city": "Paris"}}},
    {"id": "w2", "messages": [{"role": "user", "content": "Time in Oslo?"}], "tools": [TIME],
     "expected": [{"name": "get_time", "arguments": {"city": "Oslo"}}]},
    {"id": "w3", "messages": [
        {"role": "user", "content": "Weather in Lima?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Lima"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "19C"},
        {"role": "user", "content": "And in Quito, in fahrenheit?"}],
     "expected": {"name": "get_weather", "arguments": {"city": "Quito", "unit": "f"}}},
]  # fmt: skip
SUITE = """\
prompts: [weather]
evalsets: [weather]
scorers:
  - {type: tool-call}
  - {type: tool-call-f1, weight: 0}
  - {type: tool-call-valid, weight: 0}
pass_threshold: 1.0
"""


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    root = tmp_path / "ws"
    for d in ("prompts", "evalsets", "outputs"):
        (root / d).mkdir(parents=True)
    (root / "driftgate.yaml").write_text("suite: evalsets/weather.suite.yaml\n")
    (root / "prompts" / "weather.yaml").write_text(PROMPT)
    (root / "evalsets" / "weather.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES))
    (root / "evalsets" / "weather.suite.yaml").write_text(SUITE)
    return root


def test_a_run_sends_tools_scores_the_calls_and_stores_them(ws: Path):
    run = driftgate.run(workspace=ws)
    assert run.passed and len(run.results) == 3
    by_id = {r.case_id: r for r in run.results}
    w2 = by_id["w2"]
    assert w2.tool_calls and w2.tool_calls[0]["name"] == "get_time"  # the case's own tool
    assert [s.passed for s in w2.scores] == [True, True, True]
    w3 = by_id["w3"]
    assert w3.messages and w3.messages[2]["content"] is None and w3.messages[3]["role"] == "tool"
    assert json.loads(w3.tool_calls[0]["arguments"]) == {"city": "Quito", "unit": "f"}  # type: ignore[index]
    # Read back from disk as the reports and comparisons read it.
    stored = {r.case_id: r for r in RunStore(ws / "runs").results(run.id)}
    assert stored["w3"].tool_calls == w3.tool_calls and stored["w3"].messages == w3.messages
    # A re-run is served from the cache with the same calls.
    again = driftgate.run(workspace=ws)
    assert all(r.cached for r in again.results)
    assert {r.case_id: r.tool_calls for r in again.results} == {
        k: v.tool_calls for k, v in by_id.items()
    }
    cols, rows = query(
        ws / "runs",
        f"select case_id, tool_calls->>'$[0].name' from results where run_id = '{run.id}' order by 1",
    )
    assert rows == [("w1", "get_weather"), ("w2", "get_time"), ("w3", "get_weather")]


def test_changed_tools_are_a_changed_prompt_and_a_cache_miss(ws: Path):
    first = driftgate.run(workspace=ws)
    (ws / "prompts" / "weather.yaml").write_text(PROMPT.replace("enum: [c, f]", "enum: [c, f, k]"))
    second = driftgate.run(workspace=ws)
    assert second.results[0].prompt_digest != first.results[0].prompt_digest
    assert not any(r.cached for r in second.results)


def test_wrong_calls_fail_with_what_differed(ws: Path):
    run = driftgate.run(
        workspace=ws, models=["sim/acme@v1?accuracy=0&refusal_rate=0&format_error_rate=0"]
    )
    assert not run.passed
    reasons = [r.scores[0].reason for r in run.results]
    assert all("expected" in why for why in reasons), reasons


def test_recorded_tool_calls_are_replayed_and_scored(ws: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DRIFTGATE_WORKSPACE", str(ws))
    rows = [
        {"id": "w1", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"id": "w2", "output": "It is noon in Oslo."},
        {"id": "w3", "tool_calls": [{"id": "x", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Quito", "unit": "c"}'}}]},
    ]  # fmt: skip
    (ws / "outputs" / "rec.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = driftgate.run(workspace=ws, models=["replay/outputs/rec.jsonl"])
    got = {r.case_id: (r.passed, r.scores[0].reason) for r in run.results}
    assert got["w1"] == (True, "called get_weather with the expected arguments")
    assert got["w2"] == (False, "no tool call (answered in text: 'It is noon in Oslo.')")
    assert got["w3"] == (False, 'get_weather: unit="c" (expected "f")')


def test_runs_written_before_tool_calls_still_load_and_query(ws: Path):
    run = driftgate.run(workspace=ws)
    results = ws / "runs" / run.id / "results"
    for seg in results.glob("*.jsonl"):
        old = [json.loads(line) for line in seg.read_text().splitlines()]
        seg.write_text(
            "".join(
                json.dumps({k: v for k, v in r.items() if k != "tool_calls"}) + "\n" for r in old
            )
        )
    (ws / "runs" / run.id / "results.parquet").unlink(missing_ok=True)
    assert all(r.tool_calls is None for r in RunStore(ws / "runs").results(run.id))
    import duckdb

    from driftgate.store.query import _dedup_jsonl_sql

    # An old Parquet copy (no tool_calls column) beside a new run's segments.
    con = duckdb.connect()
    segs = [str(p) for p in results.glob("*.jsonl")]
    con.execute(
        f"COPY (SELECT * EXCLUDE (tool_calls) FROM ({_dedup_jsonl_sql(segs)})) TO '{ws / 'runs' / run.id / 'results.parquet'}' (FORMAT parquet)"
    )
    new = driftgate.run(workspace=ws, no_cache=True, models=["sim/perfect@v1?latency_ms=1"])
    (ws / "runs" / new.id / "results.parquet").unlink(missing_ok=True)
    cols, rows = query(
        ws / "runs", "select run_id, count(tool_calls) from results group by 1 order by 2"
    )
    assert dict(rows) == {run.id: 0, new.id: 3}


def test_driftgate_run_on_a_tool_suite(
    ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(ws)
    code, out, err = run_main(capsys, monkeypatch, "run", "-c", "evalsets/weather.suite.yaml")
    assert code == 0, err
    assert "3 passed" in out
