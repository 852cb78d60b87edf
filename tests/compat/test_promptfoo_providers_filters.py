"""promptfoo's per-provider `prompts:` (only those prompt × model arms run) and a test's
`options.provider` (the grader of its model-graded assertions), and what cannot map."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_main
from driftgate.compat.promptfoo import translate
from driftgate.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    (tmp_path / "driftgate.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


ARMS = """\
prompts:
  - id: 'Short: {{ q }}'
    label: short
  - id: 'Long: {{ q }}'
    label: long
  - file://extra.txt
providers:
  - id: sim/acme@v1
    prompts: [short, file://extra.txt]
  - id: sim/acme@v2
    label: v2
    prompts: long
  - sim/perfect@v1
tests:
  - vars: {q: Hi}
"""


def test_provider_prompts_pick_the_arms(ws, capsys, monkeypatch):
    (ws / "extra.txt").write_text("Extra: {{ q }}")
    (ws / "promptfooconfig.yaml").write_text(ARMS)
    tr = translate(ws / "promptfooconfig.yaml", Workspace.find())
    assert [m.get("prompts") for m in tr.models] == [["short", "extra"], ["long"], None]
    code, _, err = run_main(capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml")
    assert code in (0, 1), err
    arms = set()
    for run in (ws / "runs").iterdir():
        for seg in (run / "results").glob("*.jsonl"):
            arms |= {
                (r["prompt"], r["model"]) for r in map(json.loads, seg.read_text().splitlines())
            }
    assert arms == {
        ("short", "sim/acme@v1"),
        ("extra", "sim/acme@v1"),
        ("long", "v2"),
        ("short", "sim/perfect@v1"),
        ("long", "sim/perfect@v1"),
        ("extra", "sim/perfect@v1"),
    }


def test_a_tests_grader_judges_its_own_model_graded_asserts(ws):
    (ws / "promptfooconfig.yaml").write_text(
        "prompts: ['{{ q }}']\n"
        "defaultTest:\n  options: {provider: openai:gpt-4o}\n"
        "tests:\n"
        "  - vars: {q: a}\n"
        "    options: {provider: 'anthropic:messages:claude-sonnet-4'}\n"
        "    assert:\n"
        "      - {type: llm-rubric, value: polite}\n"
        "      - {type: factuality, value: x, provider: 'ollama:chat:llama3'}\n"
        "  - vars: {q: b}\n"
        "    assert: [{type: llm-rubric, value: polite}]\n"
    )
    tr = translate(ws / "promptfooconfig.yaml", Workspace.find())
    first, second = (c["metadata"]["assert"] for c in tr.cases)
    assert [a["model"] for a in first] == ["anthropic/claude-sonnet-4", "ollama_chat/llama3"]
    assert second[0]["model"] == "openai/gpt-4o"  # defaultTest's grader, not the test's


def _err(ws: Path, capsys, monkeypatch, config: str) -> tuple[int, str]:
    (ws / "promptfooconfig.yaml").write_text(config)
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "--model", "sim/acme@v1"
    )
    return code, err


@pytest.mark.parametrize(
    ("config", "line", "words"),
    [
        (
            "prompts: [{id: 'a {{ q }}', label: a}]\n"
            "providers:\n  - {id: sim/acme@v1, prompts: [b]}\ntests: [{vars: {q: x}}]\n",
            3,
            ["providers[0].prompts", "'b' names no prompt", "hint: name prompts", "a"],
        ),
        (
            "prompts: [{id: 'a {{ q }}', label: a}, {id: 'b {{ q }}', label: b}]\n"
            "providers:\n  - {id: sim/acme@v1, prompts: [a]}\ntests: [{vars: {q: x}}]\n",
            2,
            ["prompt 'b' runs on no provider"],
        ),
        (
            "prompts: ['{{ q }}']\ndefaultTest:\n  assert: [{type: llm-rubric, value: ok}]\n"
            "tests:\n  - vars: {q: x}\n    options: {provider: openai:gpt-4o}\n",
            6,
            ["cannot re-grade defaultTest's", "assert[0]", "defaultTest.options.provider"],
        ),
        (
            "prompts: ['{{ q }}']\ntests:\n  - vars: {q: x}\n    options: {provider: echo}\n",
            4,
            ["tests[0].options.provider", "'echo' is not supported"],
        ),
    ],
)
def test_what_cannot_map_is_an_error(ws, capsys, monkeypatch, config, line, words):
    code, err = _err(ws, capsys, monkeypatch, config)
    assert code == 2, err
    assert f"promptfooconfig.yaml:{line}" in err, err
    for word in words:
        assert word in err, err
