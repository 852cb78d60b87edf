"""`driftgate demo` (what `make demo` runs): the whole story, offline, on the real classifier."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import run_main
from driftgate.errors import ConfigError
from driftgate.examples.story import prepare
from driftgate.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]


def _rate(line: str, segment: str) -> float:
    found = re.search(rf"{segment} (\d+\.\d)%", line)
    assert found, line
    return float(found.group(1)) / 100


def test_the_demo_tells_the_story_from_the_drop_to_the_rollback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "demo"
    code, out, err = run_main(capsys, monkeypatch, "demo", "-w", str(REPO), "--dir", str(dest))
    assert code == 0, err
    steps = {m.group(2): m.group(0) for m in re.finditer(r"^ *(\d+)\. (\w+) .*$", out, re.M)}
    assert list(steps)[:3] == ["eval", "production", "serve"]
    # The drop on the new bank's format, with intervals, then the recovery after the loop.
    eval_line, recovered = steps["eval"], steps["recovered"]
    assert _rate(eval_line, "new bank format") < 0.8 < _rate(eval_line, "established")
    assert "[" in eval_line and "→" in eval_line  # intervals, and a link to the report
    assert _rate(recovered, "new bank format") >= 0.85
    loop_lines = [line for line in out.splitlines() if re.match(r" *\d+\. loop ", line)]
    assert "alarm, retrained, shadow" in loop_lines[0] and "prompt drift" in loop_lines[0]
    assert "promote —" in loop_lines[-1] and "is production" in loop_lines[-1]
    assert "→ @1" in steps["rollback"] and "rolled back" in steps["rollback"]
    assert "What to run next" in out
    reports = sorted(p.name for p in (tmp_path / "demo-reports").iterdir())
    assert any(name.endswith("-eval.md") for name in reports)
    assert any(name.endswith("-recovered.html") for name in reports)
    assert (dest / "driftgate.yaml").is_file()  # the story ran in the copy


def test_an_existing_folder_that_is_not_a_demo_is_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a demo workspace"):
        prepare(Workspace.find(REPO), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_the_workspace_or_a_folder_around_it_is_never_the_demo_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be the workspace"):
        prepare(Workspace.find(REPO), REPO.parent)


def test_a_folder_that_is_not_the_example_workspace_is_refused(tmp_path: Path) -> None:
    (tmp_path / "driftgate.yaml").write_text("suite: x.yaml\n")
    with pytest.raises(ConfigError, match="not the example workspace"):
        prepare(Workspace.find(tmp_path), tmp_path / "demo")
