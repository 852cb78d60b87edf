"""Every `driftgate` command in the README's ```sh blocks, run as written.

The blocks run in README order, each command through the CLI in-process, in the workspace
it is written for: the commands after `driftgate init my-workspace && cd my-workspace` in a
fresh `init`, every other block in one copy of the example workspace (the repository's own
prompts/, evalsets/, routes/), so a block may build on the ones above it as a reader's
session does. Exit 0 and 1 are results; 2 (bad usage or input) fails the test.

A command that cannot run here is listed in SKIPPED with the reason, and a placeholder the
reader fills in is listed in PLACEHOLDERS with how the test fills it: a new README command
is either run or named here, never skipped silently.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import run_main
from driftgate.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]

# Commands not run, by a prefix of their argv, with why.
SKIPPED: dict[tuple[str, ...], str] = {
    ("models", "pull"): "downloads the local model from PyPI (network)",
    ("run", "-c", "evalsets/quickstart.suite.yaml"): (
        "needs the pulled local model; tests/test_quickstart_local.py runs it (slow)"
    ),
    ("run", "--model", "openai/gpt-4o-mini"): "a hosted model: needs an API key and network",
    ("run", "-c", "examples/promptfoo/promptfooconfig.yaml"): (
        "the config's hosted model: needs an API key and network (run with --model sim/… below)"
    ),
    ("sim", "serve"): "a server that runs until stopped; tests/providers cover it",
    ("serve",): "long-running server; tests/gateway drive it in-process and on uvicorn",
    ("ui",): "long-running server; tests/ui drive it in-process and in headless Chromium",
    ("ci",): "needs a git repository with origin/main; tests/ci runs the gate on one",
    ("drift", "tune"): "needs 20 past checks (a schedule's history); tests/drift tune on one",
    ("store", "migrate"): (
        "needs a bucket: tests/store/test_migrate.py runs it against S3 on loopback (moto)"
    ),
}


def _latest_run(root: Path) -> str:
    from driftgate.store.runs import RunStore

    return RunStore(Workspace.find(root).runs_dir).resolve_id("latest")


def _two_runs(root: Path) -> tuple[str, str]:
    from driftgate.store.runs import RunStore

    ids = RunStore(Workspace.find(root).runs_dir).ids()  # oldest first
    assert len(ids) >= 2, "compare RUN_A RUN_B needs two runs above it in the README"
    return ids[-2], ids[-1]


def _request_id(root: Path) -> str:
    ids = re.findall(r'^\{"id":\s*"([^"]+)"', _traffic_text(root), re.M)
    assert ids, "route feedback REQUEST_ID needs served requests above it in the README"
    return ids[-1]


def _traffic_text(root: Path) -> str:
    folder = root / ".driftgate" / "traffic" / "categorize"
    return "".join(p.read_text() for p in sorted(folder.glob("decisions-*.jsonl")))


# Placeholders the reader fills in: how the test fills them, from the workspace's state.
PLACEHOLDERS: dict[str, Callable[[Path], str]] = {
    "RUN_A": lambda root: _two_runs(root)[0],
    "RUN_B": lambda root: _two_runs(root)[1],
    "RUN_ID": _latest_run,
    "REQUEST_ID": _request_id,
}


@dataclass
class Command:
    heading: str
    argv: list[str]

    def __str__(self) -> str:
        return f"[{self.heading}] driftgate {shlex.join(self.argv)}"


def _statements(block: str) -> list[list[str]]:
    """Shell statements of a block (comments dropped, `;` and `&&` split, `for` unrolled)."""
    out: list[list[str]] = []
    body: list[list[str]] | None = None
    times = 0
    for line in block.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words = list(lexer)
        parts: list[list[str]] = [[]]
        for word in words:
            if word in (";", "&&"):
                parts.append([])
            else:
                parts[-1].append(word)
        for part in filter(None, parts):
            if part[0] == "for":
                times, body = len(part[3:]), []
            elif part[0] == "do":
                if part[1:]:
                    body = (body or []) + [part[1:]]
            elif part[0] == "done":
                out += (body or []) * times
                body = None
            else:
                (body if body is not None else out).append(part)
    return out


def readme_blocks() -> list[tuple[str, list[list[str]]]]:
    """(heading, statements) of every ```sh block, in README order."""
    text = (REPO / "README.md").read_text()
    blocks = []
    heading = ""
    for match in re.finditer(r"^(#{2,4} [^\n]+)$|^```sh\n(.*?)^```", text, re.M | re.S):
        if match.group(1):
            heading = match.group(1).lstrip("# ").strip()
        else:
            blocks.append((heading, _statements(match.group(2))))
    return blocks


def _skip_reason(argv: list[str]) -> str | None:
    for prefix, reason in SKIPPED.items():
        if tuple(argv[: len(prefix)]) == prefix:
            return reason
    return None


def commands() -> tuple[list[Command], list[Command]]:
    """(fresh-init commands, example-workspace commands), skips left out."""
    fresh: list[Command] = []
    example: list[Command] = []
    for heading, statements in readme_blocks():
        target = example
        for words in statements:
            if words[:2] == ["cd", "my-workspace"]:
                target = fresh  # the rest of this block runs in the new workspace
                continue
            if words[0] != "driftgate" or words[1:2] == ["init"] or _skip_reason(words[1:]):
                continue
            target.append(Command(heading, words[1:]))
    return fresh, example


def test_readme_is_parsed_and_every_skip_is_still_in_it() -> None:
    fresh, example = commands()
    assert len(fresh) >= 5 and len(example) >= 30, (fresh, example)
    every = [w[1:] for _, st in readme_blocks() for w in st if w[0] == "driftgate"]
    for prefix in SKIPPED:
        assert any(tuple(w[: len(prefix)]) == prefix for w in every), f"stale skip {prefix}"
    text = " ".join(" ".join(w) for w in every)
    for name in PLACEHOLDERS:
        assert name in text, f"stale placeholder {name}"
    # Words in capitals that are not filled in would reach the CLI as they are.
    for cmd in fresh + example:
        for word in cmd.argv:
            assert not re.fullmatch(r"[A-Z_]{4,}", word) or word in PLACEHOLDERS, cmd


def _run_all(
    cmds: list[Command],
    root: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(root)
    failures, codes = [], []
    for cmd in cmds:
        argv = [PLACEHOLDERS[w](root) if w in PLACEHOLDERS else w for w in cmd.argv]
        code, out, err = run_main(capsys, monkeypatch, *argv)
        codes.append(f"exit {code}: {cmd}")
        if code not in (0, 1):
            failures.append(f"{cmd} → exit {code}\n{out[-1500:]}\n{err[-1500:]}")
    assert not failures, "\n\n".join(failures + codes)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "160")
    return tmp_path


def test_readme_commands_in_a_fresh_init(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = home / "my-workspace"
    monkeypatch.chdir(home)
    assert run_main(capsys, monkeypatch, "init", "my-workspace")[0] == 0
    _run_all(commands()[0], root, capsys, monkeypatch)


@pytest.mark.slow
def test_readme_commands_in_the_example_workspace(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = home / "example"
    root.mkdir()
    for name in ("prompts", "evalsets", "routes", "gates", "examples"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "pyproject.toml", root)
    _run_all(commands()[1], root, capsys, monkeypatch)
