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


# ---- confinement through names (issue #16 item 5) ------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def test_a_golden_set_named_through_a_link_out_is_refused(ws_root: Path, outside: Path):
    (outside / "secret.jsonl").write_text('{"id": "a", "vars": {"description": "x"}}\n')
    (ws_root / "evalsets" / "leak.jsonl").symlink_to(outside / "secret.jsonl")
    with pytest.raises(ConfigError) as err:
        Workspace.find(ws_root).evalset("leak")
    msg = str(err.value)
    assert "'leak'" in msg and "leak.jsonl" in msg and str(outside / "secret.jsonl") in msg
    assert "outside the workspace" in msg


def test_a_link_inside_the_workspace_is_fine(ws_root: Path):
    (ws_root / "evalsets" / "alias.jsonl").symlink_to(ws_root / "evalsets" / "tx.jsonl")
    assert Workspace.find(ws_root).evalset("alias").validate() == 40


@pytest.mark.parametrize("name", ["..", ".", "../x", "a/b", "-rf", ".hidden"])
def test_golden_set_and_route_names_are_checked(ws_root: Path, name: str):
    from driftgate.router import load_route_ref

    ws = Workspace.find(ws_root)
    if "/" not in name:  # a name with '/' is a path for golden sets (and confined as one)
        with pytest.raises(ConfigError, match="invalid golden set name"):
            ws.evalset(name)
    with pytest.raises(ConfigError, match=f"invalid route name {name!r}"):
        load_route_ref(ws, name)


def test_a_prompt_file_linked_out_is_refused(ws_root: Path, outside: Path):
    (outside / "evil.yaml").write_text((ws_root / "prompts" / "cat.yaml").read_text())
    (ws_root / "prompts" / "evil.yaml").symlink_to(outside / "evil.yaml")
    with pytest.raises(ConfigError) as err:
        Workspace.find(ws_root).find_prompt("cat@v1")
    assert "evil.yaml" in str(err.value) and str(outside / "evil.yaml") in str(err.value)


def test_route_names_route_files_cannot_escape(ws_root: Path, outside: Path):
    from driftgate.router import load_route_ref

    ws = Workspace.find(ws_root)
    (ws_root / "routes").mkdir()
    arms = "arms:\n  - {name: a, prompt: cat@v1, weight: 100}\n"
    (outside / "r.yaml").write_text(arms)
    (ws_root / "routes" / "r.yaml").symlink_to(outside / "r.yaml")
    with pytest.raises(ConfigError, match="outside the workspace"):
        load_route_ref(ws, "r")
    (ws_root / "routes" / "dots.yaml").write_text("name: '..'\n" + arms)
    with pytest.raises(ConfigError) as err:
        load_route_ref(ws, "dots")
    assert "dots.yaml" in str(err.value) and "[name]" in str(err.value)


@pytest.mark.parametrize("key", ["runs_dir", "cache_dir", "state_dir", "prompts_dir"])
def test_dir_settings_outside_the_workspace_need_an_opt_in(tmp_path: Path, key: str):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "driftgate.yaml").write_text(f"{key}: ../elsewhere\n")
    with pytest.raises(ConfigError) as err:
        Workspace.find(root)
    msg = str(err.value)
    assert "driftgate.yaml" in msg and f"[{key}]" in msg and "dirs_outside_workspace" in msg
    (root / "driftgate.yaml").write_text(f"{key}: ../elsewhere\ndirs_outside_workspace: true\n")
    ws = Workspace.find(root)
    assert getattr(ws, key) == (tmp_path / "elsewhere").resolve()


def test_dir_setting_outside_in_pyproject_names_the_table(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[tool.driftgate]\nruns_dir = "/tmp"\n')
    with pytest.raises(ConfigError) as err:
        Workspace.find(tmp_path)
    assert "pyproject.toml" in str(err.value) and "[tool.driftgate.runs_dir]" in str(err.value)
