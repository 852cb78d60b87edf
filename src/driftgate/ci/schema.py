"""What a CI gate produces: plain pydantic models every output (summary, annotations,
JUnit, HTML, JSON) is rendered from, so one evaluation can be shown many ways."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .._strict import Strict
from ..compare.schema import Comparison
from ..gate import GateVerdict

ChangeKind = Literal[
    "prompt",
    "fewshot",
    "index",
    "corpus",
    "golden_set",
    "suite",
    "route",
    "policy",
    "settings",
    "other",
]
ChangeStatus = Literal["added", "modified", "deleted"]
SuiteStatus = Literal["passed", "failed", "provider_errors", "error"]
BaselineSource = Literal["stored", "worktree", "none"]

KIND_TEXT: dict[str, str] = {
    "prompt": "prompt",
    "fewshot": "few-shot set",
    "index": "retrieval index",
    "corpus": "index corpus",
    "golden_set": "golden set",
    "suite": "suite",
    "route": "route",
    "policy": "gate policy",
    "settings": "workspace settings",
    "other": "other",
}


class ChangedFile(Strict):
    path: str = Field(description="Workspace-relative path")
    repo_path: str = Field(description="Repository-relative path (what annotations name)")
    status: ChangeStatus
    kind: ChangeKind
    line: int | None = Field(None, description="First line the head added or changed")
    suites: list[str] = Field(default_factory=list, description="Suites that depend on it")

    @property
    def relevant(self) -> bool:
        return bool(self.suites)


class Annotation(Strict):
    """A GitHub workflow command: `::error file=F,line=L,title=T::message`."""

    level: Literal["error", "warning", "notice"]
    message: str
    file: str | None = Field(None, description="Repository-relative path")
    line: int | None = None
    title: str | None = None


class Usage(Strict):
    """Calls this gate made (cache misses), answers served from the cache, and the cost."""

    calls: int = 0
    cached: int = 0
    errors: int = 0
    cost_usd: float = 0.0

    def add(self, other: Usage) -> Usage:
        return Usage(
            calls=self.calls + other.calls,
            cached=self.cached + other.cached,
            errors=self.errors + other.errors,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class ArmOutcome(Strict):
    """One head arm (prompt × model) of a suite, gated against its base arm."""

    arm: str = Field(description="`PROMPT · MODEL` at the head")
    prompt: str
    prompt_name: str
    model: str
    prompt_source: str | None = Field(None, description="Workspace-relative prompt file")
    baseline_arm: str | None = None
    baseline_source: BaselineSource = "none"
    baseline_run: str | None = None
    head_run: str | None = None
    verdict: GateVerdict | None = None
    comparison: Comparison | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.verdict is not None and self.verdict.passed


class SuiteOutcome(Strict):
    suite: str = Field(description="Workspace-relative suite file")
    status: SuiteStatus
    changed: list[str] = Field(default_factory=list, description="Changed files it depends on")
    head_run: str | None = None
    head_verdict: str | None = Field(None, description="The head run's own verdict")
    arms: list[ArmOutcome] = Field(default_factory=list)
    gated: dict[str, str] = Field(
        default_factory=dict,
        description="The arms the gate evaluates (`PROMPT · MODEL`), each with what the change "
        "touched (`prompt changed`, `new arm`, `golden set changed`, ...)",
    )
    unchanged: list[str] = Field(
        default_factory=list,
        description="Arms the change left as they were at the base (same prompt digest, "
        "model, suite and golden sets): not run, not gated",
    )
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    policy_changed: list[str] = Field(default_factory=list)


class CallEstimate(Strict):
    """Calls one arm of one side needs, how many the response cache already answers,
    and what the rest would cost."""

    suite: str
    side: Literal["head", "base"]
    arm: str
    model: str
    calls: int
    cached: int
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = Field(None, description="Of the uncached calls; None = no known price")
    note: str | None = None


class CostEstimate(Strict):
    items: list[CallEstimate] = Field(default_factory=list)
    reused: list[str] = Field(default_factory=list, description="Base arms served by stored runs")

    @property
    def calls(self) -> int:
        return sum(i.calls for i in self.items)

    @property
    def cached(self) -> int:
        return sum(i.cached for i in self.items)

    @property
    def cached_share(self) -> float | None:
        return self.cached / self.calls if self.calls else None

    @property
    def cost_usd(self) -> float:
        return sum(i.cost_usd or 0.0 for i in self.items)

    @property
    def unpriced(self) -> list[str]:
        return sorted({i.model for i in self.items if i.cost_usd is None and i.calls > i.cached})


class CIReport(Strict):
    base_ref: str
    base_commit: str
    merge_base: str
    head_ref: str
    head_commit: str
    dirty: bool = False
    changed: list[ChangedFile] = Field(default_factory=list)
    suites: list[SuiteOutcome] = Field(default_factory=list)
    unaffected_suites: list[str] = Field(default_factory=list)
    annotations: list[Annotation] = Field(default_factory=list)
    estimate: CostEstimate | None = None
    dry_run: bool = False
    exit_code: int = 0
    message: str = ""

    @property
    def usage(self) -> Usage:
        total = Usage()
        for s in self.suites:
            total = total.add(s.usage)
        return total

    @property
    def passed(self) -> bool:
        return self.exit_code == 0
