"""The base side of a CI comparison: its arms, stored results that answer for them, and,
when there are none, an evaluation of the base commit in a temporary git worktree.

An arm's results can be reused from any stored run that is *provably the same
experiment*: a finished run of the same suite settings (all but the prompt list), the same
golden-set digests and case selection, with an arm of the same prompt digest on the same
model. Prompt and golden-set digests are in every manifest, and a prompt's digest is that
of its bound definition (`registry.binding`), which pins its few-shot set and index
(corpus included) by digest: equal digests render the same messages, so no file needs
checking besides.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._digest import digest
from ..engine.plan import Arm, Plan, build_plan
from ..store.records import CaseResult, RunManifest
from ..store.runs import RunStore
from ..workspace import Settings, Workspace, load_settings
from .git import Repo


@dataclass
class ArmSpec:
    """What identifies one arm's results among stored runs (its bound prompt's digest
    and its model)."""

    arm: Arm

    @property
    def name(self) -> str:
        return self.arm.name

    @property
    def prompt_name(self) -> str:
        return self.arm.prompt.name

    @property
    def model_name(self) -> str:
        return self.arm.model.name

    @property
    def digest(self) -> str:
        return self.arm.prompt.digest


@dataclass
class SidePlan:
    """One side (head or base) of one suite, planned but not run."""

    plan: Plan
    suite_rel: str
    suite_key: str
    evalsets: dict[str, str]
    arms: list[ArmSpec]

    @property
    def expected(self) -> int:
        """Results one arm of a complete run has."""
        return sum(self.plan.counts.values()) * self.plan.repeat


def suite_key(suite_data: dict) -> str:
    """Identity of a suite's settings, its prompt list excluded (a run of other prompts
    under the same settings answers for the prompts it shares)."""
    return digest({k: v for k, v in suite_data.items() if k != "prompts"})


def plan_side(ws: Workspace, suite_path: Path, repo: Repo) -> SidePlan:
    """Plan a suite in a workspace (the head's, a snapshot's or a worktree's)."""
    plan = build_plan(suite_path, workspace=ws)
    data = plan.suite.model_dump(mode="json", exclude_defaults=False)
    return SidePlan(
        plan=plan,
        suite_rel=Path(suite_path).resolve().relative_to(ws.root).as_posix(),
        suite_key=suite_key(data),
        evalsets={es.name: es.digest() for es in plan.evalsets},
        arms=[ArmSpec(arm) for arm in plan.arms],
    )


def pair_arms(head: list[ArmSpec], base: list[ArmSpec]) -> list[ArmSpec | None]:
    """The base arm each head arm is compared with: the same prompt name on the same model;
    else the only arm of that prompt name on both sides (its model changed)."""
    out: list[ArmSpec | None] = []
    for h in head:
        same = [b for b in base if b.prompt_name == h.prompt_name and b.model_name == h.model_name]
        if same:
            out.append(same[0])
            continue
        by_name = [b for b in base if b.prompt_name == h.prompt_name]
        heads_of_name = [x for x in head if x.prompt_name == h.prompt_name]
        out.append(by_name[0] if len(by_name) == 1 and len(heads_of_name) == 1 else None)
    return out


# ---- stored runs ---------------------------------------------------------------------------
class StoredRuns:
    """The manifests of the workspace's runs, read once, searched per arm."""

    def __init__(self, store: RunStore, repo: Repo) -> None:
        self.store = store
        self.repo = repo
        self.manifests = list(reversed(store.list()))  # newest first

    def refresh(self) -> None:
        self.manifests = list(reversed(self.store.list()))

    def find(self, side: SidePlan, arm: ArmSpec) -> tuple[RunManifest, list[CaseResult]] | None:
        """The newest stored run whose results for `arm` are complete and provably the
        same experiment (see the module docstring), with those results."""
        for m in self.manifests:
            if not self._same_experiment(m, side, arm):
                continue
            results = [
                r
                for r in self.store.results(m.id)
                if r.prompt_digest == arm.digest and r.model == arm.model_name
            ]
            if len(results) == side.expected:
                return m, results
        return None

    def _same_experiment(self, m: RunManifest, side: SidePlan, arm: ArmSpec) -> bool:
        s = m.settings
        if m.status != "finished" or "suite" not in s or m.verdict == "provider_errors":
            return False
        if s.get("limit") is not None or s.get("sample") is not None or s.get("filter"):
            return False
        if s.get("repeat") != side.plan.repeat or suite_key(s["suite"]) != side.suite_key:
            return False
        if {e.name: e.digest for e in m.evalsets} != side.evalsets:
            return False
        if not any(p.digest == arm.digest for p in m.prompts):
            return False
        if not any(
            md.get("id") == arm.arm.model.id and (md.get("label") or md["id"]) == arm.model_name
            for md in m.models
        ):
            return False
        return True


# ---- other trees of the repository ---------------------------------------------------------
def shared_settings(root: Path, head: Workspace) -> Settings:
    """The settings of a workspace at another commit, with the head's runs, cache and state
    folders: results land where the next gate finds them, and cached answers are shared."""
    settings = load_settings(root) if root.is_dir() else Settings()
    return settings.model_copy(
        update={
            "runs_dir": str(head.runs_dir),
            "cache_dir": str(head.cache_dir),
            "state_dir": str(head.state_dir),
        }
    )


@contextlib.contextmanager
def tree_workspace(
    repo: Repo, commit: str, head: Workspace, *, worktree: bool
) -> Iterator[Workspace | None]:
    """The workspace at `commit`: a cheap exported snapshot (for planning and digests) or a
    real worktree (for running). None when the workspace did not exist at that commit."""
    ctx = repo.worktree(commit) if worktree else repo.snapshot(commit)
    with ctx as root:
        yield Workspace(root, shared_settings(root, head)) if root.is_dir() else None
