"""Every promptfoo key or assertion driftgate does not honour is an error naming the key,
the file and line, and the nearest supported alternative — never a silent skip."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import run_main

HEAD = "prompts: ['Hi {{ name }}']\n"
TEST = "tests:\n  - vars: {name: Ann}\n"


def _assert(line: str) -> str:
    return HEAD + TEST + "    assert:\n" + line  # the assertion is on line 5


CASES = [
    # (config, line, words the message must hold)
    (HEAD + "scenarios: []\n" + TEST, 2, ["'scenarios'", "hint: list the combined tests"]),
    (HEAD + "redteam: {}\n" + TEST, 2, ["'redteam'", "write the attacks as `tests`"]),
    (HEAD + "outputPath: out.html\n" + TEST, 2, ["'outputPath'", "--output"]),
    (
        _assert("      - {type: perplexity, value: 3}\n"),
        5,
        ["'perplexity' takes no `value`", "threshold"],
    ),
    (
        _assert("      - {type: tool-call-f1}\n"),
        5,
        ["`tool-call-f1` needs the expected tool names"],
    ),
    (
        _assert("      - {type: is-valid-openai-tools-call, value: x}\n"),
        5,
        ["takes no `value`", "config.tools"],
    ),
    (
        _assert("      - {type: is-valid-openai-function-call}\n"),
        5,
        ["legacy `functions`", "is-valid-openai-tools-call"],
    ),
    (_assert("      - {type: moderation}\n"), 5, ["'moderation'", "supported:"]),
    (
        _assert("      - {type: llm-rubric, value: x, rubricPrompt: y}\n"),
        5,
        ["'rubricPrompt'", "keys driftgate reads"],
    ),
    (
        _assert("      - {type: is-sql, value: {databaseType: MySQL}}\n"),
        5,
        ["'is-sql' options", "python"],
    ),
    (
        _assert("      - {type: javascript, value: file://check.js}\n"),
        5,
        ["javascript files", "python"],
    ),
    (_assert("      - {type: javascript, value: 'output.('}\n"), 5, ["does not compile"]),
    (_assert("      - {type: latency}\n"), 5, ["needs a `threshold`"]),
    (HEAD + "providers: [echo]\n" + TEST, 2, ["'echo'", "openai:gpt-4o-mini"]),
    (HEAD + "providers: [file://provider.py]\n" + TEST, 2, ["custom and scripted", "replay/"]),
    (
        HEAD + "providers: ['openai:completion:davinci']\n" + TEST,
        2,
        ["completion API", "openai:chat:MODEL"],
    ),
    (
        HEAD + "providers:\n  - id: openai:gpt-4o\n    config: {apiKey: sk-1}\n" + TEST,
        4,
        ["`apiKey`", "OPENAI_API_KEY"],
    ),
    (
        HEAD + "providers:\n  - id: openai:gpt-4o\n    config: {toolz: []}\n" + TEST,
        4,
        ["'toolz'", "supported:", "tool_choice, tools"],
    ),
    (
        HEAD + "providers:\n  - id: openai:gpt-4o\n    config: {tools: []}\n"
        "  - id: openai:gpt-4o-mini\n    config: {tools: [{function: {name: f}}]}\n" + TEST,
        6,
        ["providers 0 and 1 declare different tools", "one config per set of tools"],
    ),
    (
        HEAD + "providers:\n  - id: openai:gpt-4o\n    config: {tools: file://t.json}\n" + TEST,
        4,
        ["tools file 'file://t.json' not found"],
    ),
    (
        HEAD + "tests:\n  - vars: {name: Ann}\n    provider: openai:gpt-4o\n",
        4,
        ["test key 'provider'", "options: {provider: ...}"],
    ),
    (
        "prompts: [file://prompt.js]\n" + TEST,
        1,
        ["JavaScript prompt functions", "file://prompt.py:make_prompt"],
    ),
    (
        HEAD + "defaultTest:\n  options: {prefix: x}\n" + TEST,
        3,
        ["'prefix'", "transform, provider"],
    ),
]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    (tmp_path / "driftgate.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("config", "line", "words"), CASES, ids=[str(i) for i in range(len(CASES))]
)
def test_unsupported_is_an_error_naming_key_line_and_alternative(
    ws, capsys, monkeypatch, config, line, words
):
    (ws / "promptfooconfig.yaml").write_text(config)
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "--model", "sim/acme@v1"
    )
    assert code == 2, err
    assert f"promptfooconfig.yaml:{line}" in err, err
    for word in words:
        assert word in err, err
    assert "Traceback" not in err
    assert not (ws / "runs").exists()  # nothing written


def test_a_csv_column_driftgate_does_not_read_names_the_file_and_row(ws, capsys, monkeypatch):
    (ws / "tests.csv").write_text("name,__prefix\nAnn,Dear \n")
    (ws / "promptfooconfig.yaml").write_text(HEAD + "tests: file://tests.csv\n")
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "-m", "sim/acme@v1"
    )
    assert code == 2 and "tests.csv:2" in err and "'__prefix'" in err and "in the prompt" in err


def test_javascript_without_the_engine_says_how_to_get_it(ws, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "quickjs", None)  # import fails as when not installed
    (ws / "promptfooconfig.yaml").write_text(
        _assert("      - {type: javascript, value: 'output.length > 1'}\n")
    )
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "-m", "sim/acme@v1"
    )
    assert code == 2 and "promptfooconfig.yaml:5" in err
    assert "driftgate[js]" in err and "python" in err
