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
from collections.abc import Callable, Iterator
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

    @property
    def ref(self) -> str:
        """The prompt version the arm runs (`name@version`)."""
        return self.arm.prompt.ref


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
    """The base arm each head arm is compared with, or None: like with like.

    1. The same arm: the same prompt version on the same model.
    2. Its model changed: the only arm of that prompt version on each side.
    3. Its version changed (the suite names `cat@v2` where the base named `cat@v1`): the
       one base arm of that prompt name, on the same model (else on any model), whose
       version the head no longer runs, when the head likewise has one new version there.
    Anything else (a prompt new to the suite, ambiguous renames) has no base arm."""
    return [_pair(h, head, base) for h in head]


def _pair(h: ArmSpec, head: list[ArmSpec], base: list[ArmSpec]) -> ArmSpec | None:
    same = [b for b in base if b.ref == h.ref and b.model_name == h.model_name]
    if same:
        return same[0]
    match = _only_pair(h, head, base, lambda x: x.ref == h.ref)
    base_refs = {b.ref for b in base}
    if match is not None or h.ref in base_refs:
        return match
    head_refs = {x.ref for x in head}
    gone = [b for b in base if b.ref not in head_refs]
    new = [x for x in head if x.ref not in base_refs]
    on_model = _only_pair(
        h, new, gone, lambda x: x.prompt_name == h.prompt_name and x.model_name == h.model_name
    )
    return on_model or _only_pair(h, new, gone, lambda x: x.prompt_name == h.prompt_name)


def _only_pair(
    h: ArmSpec, head: list[ArmSpec], base: list[ArmSpec], alike: Callable[[ArmSpec], bool]
) -> ArmSpec | None:
    """The base arm `alike` picks, when it picks exactly one arm on each side (`h` among
    the head's): a unique correspondence, never a guess among several."""
    bs = [b for b in base if alike(b)]
    hs = [x for x in head if alike(x)]
    return bs[0] if len(bs) == 1 and hs == [h] else None


def changed_arms(
    head: SidePlan, base: SidePlan | None, pairs: list[ArmSpec | None], suite_wide: str | None
) -> dict[int, str]:
    """The head arms the change touched, each with the reason; the others run and render
    exactly as at the base, so gating them would compare an arm with itself.

    `suite_wide` is a reason that touches every arm (a changed gate policy or workspace
    settings, which the suite's identity does not cover)."""
    if base is None:
        return {i: "new suite" for i in range(len(head.arms))}
    if head.suite_key != base.suite_key:
        suite_wide = suite_wide or "suite settings changed"
    elif head.evalsets != base.evalsets:
        suite_wide = suite_wide or "golden set changed"
    touched: dict[int, str] = {}
    for i, (h, b) in enumerate(zip(head.arms, pairs, strict=True)):
        if b is None:
            touched[i] = "new arm"
        elif h.ref != b.ref and h.digest != b.digest:
            touched[i] = f"new version (base: {b.ref})"
        elif h.digest != b.digest:
            touched[i] = "prompt changed"  # its text, params, few-shot set or index
        elif h.model_name != b.model_name or h.arm.model != b.arm.model:
            touched[i] = f"model changed (base: {b.model_name})"
        elif suite_wide:
            touched[i] = suite_wide
    return touched


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
            # The head's folders are outside this tree's root on purpose.
            "dirs_outside_workspace": True,
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
