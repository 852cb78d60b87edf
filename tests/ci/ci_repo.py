"""Real temporary git repositories holding a simulator workspace, for the CI gate tests."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

from conftest import LABELS, write_workspace
from driftgate.providers.base import Completion, CompletionRequest, ModelConfig, Provider

NEW = "cohort=new-bank-format"
OLD = "cohort=established"
CALLS: Counter[str] = Counter()


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def write_cases(root: Path, n: int = 40) -> None:
    """Half the cases in the segment `sim/acme@v2` is worse at (−10 points of accuracy)."""
    with (root / "evalsets" / "tx.jsonl").open("w") as fh:
        for i in range(n):
            fh.write(
                json.dumps(
                    {
                        "id": f"c{i:03d}",
                        "vars": {"description": f"merchant {i}"},
                        "expected": LABELS[i % len(LABELS)],
                        "segment": NEW if i % 2 == 0 else OLD,
                    }
                )
                + "\n"
            )


def make_repo(root: Path, *, model: str = "sim/acme@v1", n_cases: int = 40) -> Path:
    """A repository with one commit on `main` (the base), checked out on a new branch `pr`."""
    write_workspace(root, n_cases=n_cases, model=model)
    write_cases(root, n_cases)
    (root / "gates").mkdir()
    (root / "gates" / "default.yaml").write_text(
        "description: no overall drop beyond 8 points, no segment drop beyond 5\n"
        # 40 equal pass/fail outcomes rule out a drop of ~7 points, not less.
        "non_inferiority: {margin: 0.08}\n"
        "segments: {margin: 0.05, min_cases: 10}\n"
    )
    (root / ".gitignore").write_text("runs/\n.driftgate/\n")
    (root / "README.md").write_text("an example workspace\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    git(root, "config", "commit.gpgsign", "false")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "pr")
    return root


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def edit(root: Path, path: str, old: str, new: str) -> None:
    p = root / path
    text = p.read_text()
    assert old in text, f"{old!r} not in {path}"
    p.write_text(text.replace(old, new))


class CountingSim(Provider):
    """`count/sim/NAME@VERSION`: the simulator, counting the calls that reach it."""

    def __init__(self, config: ModelConfig) -> None:
        from driftgate.providers.simulator import SimProvider

        super().__init__(config)
        self.inner = SimProvider(config.model_copy(update={"id": config.id.removeprefix("count/")}))

    async def complete(self, request: CompletionRequest) -> Completion:
        CALLS[self.config.id] += 1
        return await self.inner.complete(request)
