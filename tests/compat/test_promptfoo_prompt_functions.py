"""promptfoo prompt functions: `file://prompt.py:make_prompt` (a string or chat messages
from `context['vars']`, per case), `file://prompt.py` run as a script, and the refusals
(JavaScript, a function outside the workspace's own code, a bad return value)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_main
from driftgate.compat.promptfoo import translate
from driftgate.workspace import Workspace

PROMPTS_PY = """\
import json
import sys


def make_prompt(context):
    return f"Translate to French: {context['vars']['text']}"


def make_chat(context):
    v = context["vars"]
    return [
        {"role": "system", "content": "You translate to " + v.get("lang", "French") + "."},
        {"role": "user", "content": v["text"]},
    ]


def as_json_text(context):
    return json.dumps([{"role": "user", "content": context["vars"]["text"].upper()}])


def returns_number(context):
    return 3


def needs_provider(context):
    return context["provider"]["id"]


from os.path import join as reexported  # noqa: E402  a standard-library function

if __name__ == "__main__":
    context = json.loads(sys.argv[1])
    print("Script says: " + context["vars"]["text"])
"""


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    (tmp_path / "driftgate.yaml").write_text("{}\n")
    (tmp_path / "pf").mkdir()
    (tmp_path / "pf" / "prompts.py").write_text(PROMPTS_PY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


TESTS = "tests:\n  - vars: {text: Hello}\n  - vars: {text: Bye, lang: German}\n"


def _config(ws: Path, prompts: str) -> Path:
    path = ws / "pf" / "promptfooconfig.yaml"
    path.write_text(prompts + TESTS)
    return path


def test_functions_give_each_case_its_messages(ws):
    path = _config(
        ws,
        "prompts:\n  - file://prompts.py:make_prompt\n  - file://prompts.py:make_chat\n"
        "  - id: file://prompts.py:as_json_text\n    label: shout\n  - file://prompts.py\n",
    )
    tr = translate(path, Workspace.find())
    names = [p["name"] for p in tr.prompts]
    assert names == ["prompts-make_prompt", "prompts-make_chat", "shout", "prompts"]
    assert all(len(p["messages"]) == 1 and "insert" in p["messages"][0] for p in tr.prompts)
    bye = tr.cases[1]["vars"]
    assert bye["_prompt_prompts_make_prompt"] == [
        {"role": "user", "content": "Translate to French: Bye"}
    ]
    assert bye["_prompt_prompts_make_chat"] == [
        {"role": "system", "content": "You translate to German."},
        {"role": "user", "content": "Bye"},
    ]
    assert bye["_prompt_shout"] == [{"role": "user", "content": "BYE"}]  # JSON text → chat
    assert bye["_prompt_prompts"] == [{"role": "user", "content": "Script says: Bye"}]
    assert tr.cases[0]["vars"]["_prompt_prompts_make_chat"][0]["content"] == (
        "You translate to French."
    )


def test_a_config_with_a_prompt_function_runs(ws, capsys, monkeypatch):
    _config(ws, "prompts: [file://prompts.py:make_chat]\n")
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "pf/promptfooconfig.yaml", "--model", "sim/acme@v1"
    )
    assert code in (0, 1), err
    rows = []
    for run in (ws / "runs").iterdir():
        for seg in (run / "results").glob("*.jsonl"):
            rows += [json.loads(line) for line in seg.read_text().splitlines()]
    sent = {r["case_id"]: r["messages"] for r in rows}
    assert sent["2"] == [
        {"role": "system", "content": "You translate to German."},
        {"role": "user", "content": "Bye"},
    ]


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("file://prompt.js", ["JavaScript prompt functions", "file://prompt.py:make_prompt"]),
        ("file://prompts.py:nope", ["has no function 'nope'"]),
        ("file://prompts.py:reexported", ["outside the workspace"]),
        ("file://prompts.txt:make", ["needs a Python file"]),
        ("file://prompts.py:returns_number", ["for case 1", "string or a non-empty list"]),
        ("file://prompts.py:needs_provider", ["raised KeyError for case 1", "only `vars`"]),
    ],
)
def test_prompt_function_errors(ws, capsys, monkeypatch, prompt, words):
    (ws / "pf" / "prompts.txt").write_text("Hi")
    _config(ws, f"prompts: ['{prompt}']\n")
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "pf/promptfooconfig.yaml", "--model", "sim/acme@v1"
    )
    assert code == 2, err
    assert "promptfooconfig.yaml:1" in err, err
    for word in words:
        assert word in err, err
    assert not (ws / "runs").exists()
