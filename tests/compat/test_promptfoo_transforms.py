"""promptfoo transforms (`options.transform`, an assertion's `transform`, defaultTest's)
and inline `javascript` are built when the config loads: an error names the file, the
line, the test and the key before any case runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import run_main
from driftgate.compat.promptfoo import translate
from driftgate.workspace import Workspace

HEAD = "prompts: ['Hi {{ name }}']\n"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    (tmp_path / "driftgate.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(ws: Path, capsys, monkeypatch, config: str) -> tuple[int, str]:
    (ws / "promptfooconfig.yaml").write_text(config)
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "--model", "sim/acme@v1"
    )
    return code, err


CASES = [
    # (config, line, words the message must hold)
    (
        HEAD + "tests:\n  - vars: {name: A}\n  - description: second\n    vars: {name: B}\n"
        "    options: {transform: 'output.('}\n",
        6,
        ["test 2 ('second')", "tests[1].options.transform", "does not compile"],
    ),
    (
        HEAD + "tests:\n  - vars: {name: A}\n    assert:\n"
        "      - {type: equals, value: x, transform: 'JSON.parse(output'}\n",
        5,
        ["test 1", "tests[0].assert[0].transform", "does not compile"],
    ),
    (
        HEAD + "defaultTest:\n  options:\n    transform: 'output.trim('\n"
        "tests:\n  - vars: {name: A}\n",
        4,
        ["defaultTest.options.transform", "does not compile"],
    ),
    (
        HEAD + "defaultTest:\n  assert:\n    - {type: equals, value: x, transform: '1 +'}\n"
        "tests:\n  - vars: {name: A}\n",
        4,
        ["defaultTest.assert[0].transform", "does not compile"],
    ),
    (
        HEAD + "tests:\n  - description: js\n    vars: {name: A}\n    assert:\n"
        "      - {type: javascript, value: 'output.includes('}\n",
        6,
        ["test 1 ('js')", "tests[0].assert[0]", "does not compile"],
    ),
    (
        HEAD + "tests:\n  - vars: {name: A}\n    options: {transform: file://nope.py}\n",
        4,
        ["tests[0].options.transform", "'nope.py' not found"],
    ),
]


@pytest.mark.parametrize(("config", "line", "words"), CASES, ids=[str(i) for i in range(6)])
def test_a_bad_transform_is_named_at_load(ws, capsys, monkeypatch, config, line, words):
    code, err = _run(ws, capsys, monkeypatch, config)
    assert code == 2, err
    assert f"promptfooconfig.yaml:{line}" in err, err
    for word in words:
        assert word in err, err
    assert not (ws / "runs").exists()  # refused before any case ran


def test_a_bad_transform_in_a_tests_file_names_that_file(ws, capsys, monkeypatch):
    (ws / "tests.yaml").write_text(
        "- vars: {name: A}\n- description: third\n  vars: {name: B}\n"
        "  options:\n    transform: 'output.('\n"
    )
    code, err = _run(ws, capsys, monkeypatch, HEAD + "tests: file://tests.yaml\n")
    assert code == 2 and "tests.yaml:5" in err and "test 2 ('third')" in err, err


def test_without_the_js_engine_a_transform_says_how_to_install_it(ws, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "quickjs", None)  # import fails as when not installed
    code, err = _run(
        ws,
        capsys,
        monkeypatch,
        HEAD + "tests:\n  - vars: {name: A}\n    options: {transform: output.trim()}\n",
    )
    assert code == 2 and "promptfooconfig.yaml:4" in err
    assert "pip install 'driftgate[js]'" in err, err


def test_a_python_transform_file_is_relative_to_the_config(ws, capsys, monkeypatch):
    (ws / "pf").mkdir()
    (ws / "pf" / "shout.py").write_text(
        "def get_transform(output, context):\n    return output.upper()\n"
    )
    (ws / "pf" / "promptfooconfig.yaml").write_text(
        HEAD + "tests:\n  - vars: {name: A}\n    options: {transform: file://shout.py}\n"
        "    assert: [{type: equals, value: X, transform: 'file://shout.py:get_transform'}]\n"
    )
    tr = translate(ws / "pf" / "promptfooconfig.yaml", Workspace.find())
    meta = tr.cases[0]["metadata"]
    assert meta["transform"] == "file://pf/shout.py"
    assert meta["assert"][0]["transform"] == "file://pf/shout.py:get_transform"
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "pf/promptfooconfig.yaml", "--model", "sim/acme@v1"
    )
    assert code in (0, 1), err  # ran: the transform file was found
    assert (ws / "runs").exists()
