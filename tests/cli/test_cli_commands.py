"""The command modules load on demand: `driftgate run` imports only what `run` needs, while
help, unknown commands and `from driftgate.cli import app` see every command in order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import driftgate.cli as cli
from conftest import run_main


def test_every_registered_command_is_mapped_to_its_module():
    app = cli.load_commands()
    registered = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    mapped = [n for names in cli.COMMAND_MODULES.values() for n in names]
    assert sorted(registered) == sorted(mapped)
    for command in app.registered_commands:
        module = command.callback.__module__.rpartition(".")[2]
        assert command.name in cli.COMMAND_MODULES[module]
    # Help lists commands, then groups, each in the order of COMMAND_MODULES.
    order = list(cli.COMMAND_MODULES)
    ranks = [order.index(c.callback.__module__.rpartition(".")[2]) for c in app.registered_commands]
    assert ranks == sorted(ranks)
    assert [g.name for g in app.registered_groups] == [
        "runs",
        "registry",
        "drift",
        "route",
        "models",
        "sim",
        "import",
        "review",
        "store",
    ]
    assert cli.app is app  # the attribute, once loaded


def _modules_after(*argv: str) -> tuple[str, set[str]]:
    code = (
        "import sys\nfrom driftgate.cli import main\n"
        f"sys.argv = ['driftgate', *{list(argv)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('MODULES', sorted(m for m in sys.modules if m.startswith('driftgate.cli.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    head, _, tail = out.rpartition("MODULES ")
    return head, set(eval(tail))  # noqa: S307 - our own printed list


def test_a_command_loads_only_its_module():
    text, loaded = _modules_after("run", "--help")
    assert "Usage: driftgate run [OPTIONS]" in text and "--no-cache" in text
    assert loaded == {"driftgate.cli._app", "driftgate.cli._common", "driftgate.cli.run"}
    _, loaded = _modules_after("ci", "--help")  # a lone command needs the group: all load
    assert {f"driftgate.cli.{m}" for m in cli.COMMAND_MODULES} <= loaded


def test_help_lists_every_command():
    text, loaded = _modules_after("--help")
    assert {f"driftgate.cli.{m}" for m in cli.COMMAND_MODULES} <= loaded
    listed = [line.split()[0] for line in text.split("Commands:")[1].splitlines() if line.strip()]
    assert listed[:4] == ["run", "show", "query", "init"] and listed[-9:] == [
        "runs",
        "registry",
        "drift",
        "route",
        "models",
        "sim",
        "import",
        "review",
        "store",
    ]
    assert len(listed) == sum(len(v) for v in cli.COMMAND_MODULES.values())


def test_the_exit_hook_is_registered_once(monkeypatch):
    import atexit

    registered = []
    monkeypatch.setattr(atexit, "register", lambda f: registered.append(f))
    monkeypatch.setattr(cli, "_exit_hook", False)
    cli._skip_exit_collection()
    cli._skip_exit_collection()
    assert registered == [cli._freeze_unless_audited]


def test_commands_exit_quietly(tmp_path):
    """No leak reports from extensions that audit their objects at exit (duckdb)."""
    env_code = "import os; os.environ['DRIFTGATE_HOME'] = {home!r}\n".format(
        home=str(tmp_path / "home")
    )
    for argv in (
        ["init", str(tmp_path)],
        ["query", "select 1 AS one", "-w", str(tmp_path)],
        ["--help"],
    ):
        code = (
            env_code
            + f"import sys\nsys.argv = ['driftgate', *{argv!r}]\nfrom driftgate.cli import main\nmain()\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "leak" not in out.stderr, out.stderr[-500:]


def test_audit_says_how_to_name_an_unknown_actor(
    ws_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftgate.registry import promote, register_artifacts

    for var in ("DRIFTGATE_USER", "USER", "LOGNAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    register_artifacts(ws_root)
    promote("prompt/cat@1", "stable", skip_gate=True, force=True, reason="t", workspace=ws_root)
    code, out, err = run_main(capsys, monkeypatch, "audit", "-w", str(ws_root))
    assert code == 0 and "unknown" in out
    assert "set DRIFTGATE_USER" in err
