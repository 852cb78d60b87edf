"""Run options are held to the suite file's bounds, and absurd plans need --force (#16 item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_main, write_workspace
from driftgate.engine import options as options_mod
from driftgate.engine.plan import RunOptions, build_plan
from driftgate.errors import ConfigError
from driftgate.workspace import Workspace


@pytest.mark.parametrize(
    "options, field, words",
    [
        ({"repeat": 1_000_000_000}, "repeat (--repeat)", "less than or equal to 100"),
        ({"repeat": 0}, "repeat (--repeat)", "greater than or equal to 1"),
        ({"max_concurrency": 5000}, "max_concurrency (--max-concurrency)", "4096"),
        ({"max_error_rate": 1.5}, "max_error_rate (--max-error-rate)", "less than or equal"),
        ({"limit": 0}, "limit (--limit)", "greater than or equal to 1"),
        ({"sample": -3}, "sample (--sample)", "greater than or equal to 1"),
        ({"repeat": "many"}, "repeat (--repeat)", "integer"),
    ],
)
def test_options_are_validated_like_the_suite_file(options, field, words):
    with pytest.raises(ConfigError) as err:
        RunOptions(**options)
    assert f"[{field}]" in str(err.value) and words in str(err.value)


def test_options_within_bounds_are_kept():
    o = RunOptions(repeat=100, max_concurrency=4096, limit=1, sample=5, max_error_rate=0.0)
    assert (o.repeat, o.max_concurrency, o.limit, o.sample) == (100, 4096, 1, 5)


def test_cli_repeat_over_the_suite_bound_exits_2_and_writes_nothing(
    ws_root: Path, capsys, monkeypatch
):
    monkeypatch.chdir(ws_root)
    code, _, err = run_main(capsys, monkeypatch, "run", "-q", "--repeat", "1000000000")
    assert code == 2 and "--repeat" in err and "100" in err and "Traceback" not in err
    assert not (ws_root / "runs").exists() or not any((ws_root / "runs").iterdir())


def test_an_absurd_plan_is_refused_unless_forced(ws_root: Path, monkeypatch):
    ws = Workspace.find(ws_root)
    monkeypatch.setattr(options_mod, "MAX_PLANNED_CALLS", 100)
    with pytest.raises(ConfigError) as err:
        build_plan(workspace=ws, options=RunOptions(repeat=3))  # 40 cases x 1 arm x 3
    msg = str(err.value)
    assert "120 calls" in msg and "over the limit of 100" in msg and "--force" in msg
    assert build_plan(workspace=ws, options=RunOptions(repeat=3, force=True)).planned == 120


def test_the_real_limit_is_a_million_calls(tmp_path: Path, monkeypatch, capsys):

    root = write_workspace(tmp_path / "ws", n_cases=10_001)
    monkeypatch.chdir(root)
    code, _, err = run_main(capsys, monkeypatch, "run", "-q", "--repeat", "100")
    assert code == 2 and "1,000,100 calls" in err and "--force" in err
    assert not (root / "runs").exists() or not any((root / "runs").iterdir())
