"""`driftgate ci`: gate a pull request's prompt changes, base against head.

    report = run_ci(CIOptions(base="origin/main", summary=Path("gate.md")))
    report.exit_code   # 0 passed · 1 gate failed · 2 bad input · 3 provider errors

1. The changed files (`git diff BASE...HEAD`: against the merge base) and the suites that
   depend on them (`changes.py`); nothing relevant changed → nothing runs, exit 0.
2. Changed files must parse; one that does not fails the gate with an annotation on it.
3. Each affected suite is planned at the head and, from an exported snapshot of the merge
   base, at the base; head arms are paired with base arms (`baseline.pair_arms`).
4. Cost guard: calls, cached share and price of everything still to run (`cost.py`);
   `--dry-run` stops here, `--budget-usd` refuses to go on above the budget.
5. The head is run (through the response cache). Base results come from stored runs that
   are provably the same experiment (the head's own run included, when a change left an
   arm's inputs untouched); the rest is run in a temporary worktree of the merge base, with
   the head's runs folder and cache, so the next gate on these commits calls nothing.
6. Each head arm is gated against its base arm by its policy (`driftgate.gate`); the
   comparison feeds the comment, the annotations, JUnit and HTML (`driftgate.report.ci`
   and `driftgate.report.ci_outputs`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import Field

from .._model import Strict
from ..workspace import Workspace
from .git import Repo
from .model import CIReport


class CIOptions(Strict):
    """What `driftgate ci` is asked to do (the CLI's options, as a model)."""

    base: str = Field(description="Base ref: the branch the pull request merges into.")
    head: str | None = Field(None, description="Head ref (default: the checked-out commit).")
    suites: list[str] = Field(default_factory=list, description="Only these suite files.")
    dry_run: bool = False
    budget_usd: float | None = Field(None, ge=0)
    summary: Path | None = None
    junit: Path | None = None
    html: Path | None = None
    policy: Path | None = None
    allow_dirty: bool = False
    max_flipped: int = Field(10, ge=0)


def run_ci(
    options: CIOptions,
    *,
    workspace: Workspace | Path | str | None = None,
    echo: Callable[[str], None] = print,
) -> CIReport:
    """Run the gate and return its report; bad input raises a DriftgateError (exit 2).
    Rendering and writing the outputs `options` names (comment, job summary, annotations,
    JUnit, HTML) is the report layer's: `driftgate.report.ci_outputs.run_gate` does both."""
    from .evaluate import Gate

    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    return Gate(ws, options, echo).run()


@contextlib.contextmanager
def head_workspace(
    gate_ws: Workspace, repo: Repo, head: str, on_checkout: bool
) -> Iterator[Workspace]:
    """The workspace at the head: the checkout itself, or a temporary worktree when
    `--head` names another commit."""
    from ..errors import ConfigError
    from .baseline import tree_workspace

    if on_checkout:
        yield gate_ws
        return
    with tree_workspace(repo, head, gate_ws, worktree=True) as hws:
        if hws is None:
            raise ConfigError(
                f"the workspace folder does not exist at head {head[:12]}", field="head"
            )
        yield hws
