"""`driftgate --version`: the installed version, exit 0, without loading any command."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

import driftgate
from conftest import run_main
from driftgate.cli._app import package_version


def test_version_prints_the_package_metadata_version(capsys, monkeypatch) -> None:
    code, out, err = run_main(capsys, monkeypatch, "--version")
    assert (code, out, err) == (0, f"driftgate {version('driftgate')}\n", "")


def test_version_falls_back_to_dunder_version_without_metadata(capsys, monkeypatch) -> None:
    def missing(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr("importlib.metadata.version", missing)
    monkeypatch.setattr(driftgate, "__version__", "9.8.7-src")
    assert package_version() == "9.8.7-src"
    code, out, _ = run_main(capsys, monkeypatch, "--version")
    assert (code, out) == (0, "driftgate 9.8.7-src\n")


def test_version_is_listed_in_help(capsys, monkeypatch) -> None:
    code, out, _ = run_main(capsys, monkeypatch, "--help")
    assert code == 0
    assert "--version" in out and "Print driftgate's version and exit." in out


def test_version_loads_no_command_module() -> None:
    # A fresh process: `--version` answers from the root callback, so it stays cheaper
    # than `--help` (which imports every command module).
    probe = (
        "import sys\nsys.argv = ['driftgate', '--version']\nfrom driftgate.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('driftgate.cli.') "
        "and m != 'driftgate.cli._app')\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == [f"driftgate {version('driftgate')}", "[]"]
