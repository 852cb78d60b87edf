from pathlib import Path

import pytest

from driftgate.errors import ConfigError, UnknownNameError
from driftgate.workspace import Workspace


def test_find_from_subfolder_and_settings(ws_root: Path):
    ws = Workspace.find(ws_root / "prompts")
    assert ws.root == ws_root.resolve()
    assert ws.settings.suite == "evalsets/main.suite.yaml"
    assert ws.default_suite_path() == (ws_root / "evalsets" / "main.suite.yaml").resolve()


def test_pyproject_tool_table(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[tool.driftgate]\nruns_dir = "out"\n')
    ws = Workspace.find(tmp_path)
    assert ws.runs_dir == (tmp_path / "out").resolve()


def test_pyproject_typo_is_an_error(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[tool.driftgate]\nrun_dir = "out"\n')
    with pytest.raises(ConfigError) as err:
        Workspace.find(tmp_path)
    assert "pyproject.toml" in str(err.value) and "run_dir" in str(err.value)


def test_prompt_lookup_by_version_and_close_match(ws_root: Path):
    ws = Workspace.find(ws_root)
    assert ws.find_prompt("cat@v1").version == "v1"
    assert ws.find_prompt("cat").name == "cat"
    with pytest.raises(UnknownNameError) as err:
        ws.find_prompt("cta")
    assert "did you mean 'cat'" in str(err.value)


def test_paths_outside_workspace_are_refused(ws_root: Path):
    ws = Workspace.find(ws_root)
    with pytest.raises(ConfigError, match="outside the workspace"):
        ws.evalset("../../etc/passwd.csv")
    with pytest.raises(ConfigError, match="outside the workspace"):
        ws.inside("file:///etc/passwd")


def test_unknown_evalset_lists_names(ws_root: Path):
    ws = Workspace.find(ws_root)
    with pytest.raises(UnknownNameError, match="did you mean 'tx'"):
        ws.evalset("tz")
