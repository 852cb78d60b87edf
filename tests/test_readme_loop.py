"""The README's loop section, command by command, in a copy of the example workspace: the
commands as written (the shell `for` loop unrolled), checked for their exit codes and for
the loop reaching production."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import run_main
from driftgate.loops import loop_history
from driftgate.registry.core import Registry
from driftgate.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]


def readme_block(heading: str) -> list[list[str]]:
    """The first ```sh block under `heading`, as argv lists, `for … do … done` unrolled."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(heading) :]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands: list[list[str]] = []
    body: list[list[str]] | None = None
    times = 0
    for raw in block.splitlines():
        line = raw.split("  #")[0].strip()
        if line.startswith("for "):
            times, body = len(line.split(" in ")[1].split(";")[0].split()), []
        elif line == "done":
            commands += body * times
            body = None
        elif line.startswith("driftgate "):
            (body if body is not None else commands).append(shlex.split(line)[1:])
    return commands


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example workspace as the current folder, as a reader has it."""
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    root = tmp_path / "ws"
    root.mkdir()
    for name in ("prompts", "evalsets", "routes"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "pyproject.toml", root)
    monkeypatch.chdir(root)
    return root


@pytest.mark.slow
def test_readme_loop_section_runs_as_written(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = readme_block("### The loop")
    assert commands[0] == ["register"] and commands[-1][:2] == ["route", "status"]
    for argv in commands:
        code, out, err = run_main(capsys, monkeypatch, *argv)
        assert code == 0, (argv, out, err)
    ws = Workspace.find(root)
    actions = [e.action for e in loop_history(ws, "categorize")]
    assert actions.index("retrained") < actions.index("shadow") < actions.index("canary")
    assert "promote" in actions, actions
    aliases = Registry(ws).aliases_of("prompt/categorize")
    assert aliases["production"] != Registry(ws).find("prompt/categorize@2").digest


@pytest.mark.slow
def test_readme_retrain_section_runs_as_written(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The precondition the section builds on: the loop section's first three commands.
    for argv in readme_block("### The loop")[:3]:
        assert run_main(capsys, monkeypatch, *argv)[0] == 0
    for argv in readme_block("### Retrain"):
        code, out, err = run_main(capsys, monkeypatch, *argv)
        assert code == 0, (argv, out, err)
    assert (root / "evalsets" / "from-feedback.jsonl").is_file()
    assert "candidate" in Registry(Workspace.find(root)).aliases_of("prompt/categorize")
