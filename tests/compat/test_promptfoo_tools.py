"""promptfoo's tools: a provider's `config.tools` become the prompts' tools, and the
`is-valid-openai-tools-call` and `tool-call-f1` assertions score recorded tool calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_main

CONFIG = """\
prompts: ['What is the weather in {{ city }}?']
providers:
  - id: openai:gpt-4o-mini
    config:
      tools: file://tools.yaml
      tool_choice: auto
tests:
  - vars: {city: Paris}
    assert:
      - type: is-valid-openai-tools-call
      - type: tool-call-f1
        value: [get_weather]
  - vars: {city: Rome}
    assert:
      - type: is-valid-openai-tools-call
  - vars: {city: Oslo}
    assert:
      - type: tool-call-f1
        value: get_weather, get_time
        threshold: 0.6
"""
TOOLS = """\
- type: function
  function:
    name: get_weather
    parameters:
      type: object
      properties: {city: {type: string}}
      required: [city]
"""
OUTPUTS = [
    {"id": "1", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
    {"id": "2", "tool_calls": [{"name": "get_weather", "arguments": {"city": 5}}]},
    {"id": "3", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRIFTGATE_WORKSPACE", str(tmp_path))
    (tmp_path / "driftgate.yaml").write_text("{}\n")
    (tmp_path / "promptfooconfig.yaml").write_text(CONFIG)
    (tmp_path / "tools.yaml").write_text(TOOLS)
    (tmp_path / "outputs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in OUTPUTS))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_provider_tools_are_the_prompts_and_tool_assertions_score_replayed_calls(
    ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    from driftgate.compat.promptfoo import translate
    from driftgate.workspace import Workspace

    tr = translate(ws / "promptfooconfig.yaml", Workspace.find(ws))
    (prompt,) = tr.prompts
    assert prompt["tools"][0]["function"]["name"] == "get_weather"
    assert prompt["tool_choice"] == "auto" and "_tools" not in tr.models[0]
    code, out, err = run_main(
        capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "--model", "replay/outputs.jsonl"
    )
    assert code == 1, err  # case 2's call does not validate
    rows = {}
    for seg in ws.glob("runs/*/results/*.jsonl"):
        rows.update({r["case_id"]: r for r in map(json.loads, seg.read_text().splitlines())})
    passed = {k: r["passed"] for k, r in rows.items()}
    assert passed == {"1": True, "2": False, "3": True}
    reasons = [a["reason"] for a in rows["2"]["scores"][0]["data"]["asserts"]]
    assert reasons == ["get_weather: 5 is not of type 'string' (at city)"]
    (f1,) = rows["3"]["scores"][0]["data"]["asserts"]
    assert f1["value"] == pytest.approx(2 / 3) and "missing get_time" in f1["reason"]
