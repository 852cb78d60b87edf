"""What a run stores: its manifest and one record per (case, prompt, model, repeat).

Both are pydantic models so a typo in code or a hand-edited file is an error, and
`driftgate schema` can publish them for other tools.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .._strict import Strict

# `partial`: a sharded run some of whose shards have finished and others not yet.
RunStatus = Literal["running", "finished", "failed", "interrupted", "partial"]


class ScoreRecord(Strict):
    metric: str
    value: float
    passed: bool
    weight: float = 1.0
    reason: str = ""
    error: str | None = None
    data: dict[str, Any] | None = None


class CaseResult(Strict):
    """One scored output. `key` is unique within a run: resume relies on it."""

    run_id: str
    key: str = Field(description="prompt|model|evalset|case_id|repeat")
    evalset: str
    case_id: str
    segment: str | None = None
    tags: list[str] = Field(default_factory=list)
    prompt: str = Field(description="Prompt ref (NAME or NAME@VERSION)")
    prompt_digest: str
    model: str = Field(description="Model label (its id unless labelled)")
    repeat: int = 0
    messages: list[dict[str, Any]] | None = Field(
        None, description="The rendered chat messages (a conversation's may hold tool calls)"
    )
    expected: Any = None
    output: str | None = None
    tool_calls: list[dict[str, str]] | None = Field(
        None, description="The tool calls the model made: [{id, name, arguments (JSON text)}]"
    )
    parsed: Any = None
    parse_error: str | None = None
    scores: list[ScoreRecord] = Field(default_factory=list)
    score: float | None = Field(None, description="Weighted mean of the scores")
    passed: bool = False
    error: str | None = Field(None, description="Provider or template error; never a pass")
    error_kind: str | None = None
    attempts: int = 1
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    cached: bool = False
    fingerprint: str | None = None
    confidence: float | None = Field(
        None, description="The answer's probability among the prompt's labels, when known"
    )
    label_probs: dict[str, float] | None = Field(
        None, description="The provider's probabilities over the prompt's labels (sum 1)"
    )
    ts: float = Field(description="Unix time the result was recorded")


class PromptInfo(Strict):
    ref: str
    name: str
    version: str | None = None
    digest: str
    source: str | None = None


class EvalSetInfo(Strict):
    name: str
    path: str
    digest: str
    cases: int | None = None


class Summary(Strict):
    results: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    pass_rate: float | None = None
    error_rate: float | None = None
    mean_score: float | None = None
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    by_arm: dict[str, dict[str, Any]] = Field(default_factory=dict)
    by_segment: dict[str, dict[str, Any]] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)


class RunManifest(Strict):
    id: str
    status: RunStatus = "running"
    suite: str | None = None
    suite_digest: str | None = None
    description: str | None = None
    created_at: float
    finished_at: float | None = None
    git_revision: str | None = None
    git_dirty: bool | None = None
    driftgate_version: str
    prompts: list[PromptInfo] = Field(default_factory=list)
    models: list[dict[str, Any]] = Field(default_factory=list)
    evalsets: list[EvalSetInfo] = Field(default_factory=list)
    scorers: list[dict[str, Any]] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    planned: int | None = Field(None, description="Number of results the run will produce")
    summary: Summary | None = None
    pass_threshold: float | None = None
    max_error_rate: float | None = None
    verdict: Literal["passed", "below_threshold", "provider_errors", "incomplete"] | None = None
    resumed: int = Field(0, description="How many times the run was resumed")
    stopped_early: bool = Field(
        False, description="The run stopped before its plan: provider errors over max_error_rate"
    )
    writer_pid: int | None = Field(
        None, description="Process writing the run while it is running (to tell a killed one)"
    )
    writer_host: str | None = Field(None, description="Host of that process")
    shards: int | None = Field(
        None,
        description="How many runners write the run (`run --shard I/N`); each shard's state "
        "is in shards/<I>.json, and the run finishes when every shard has",
    )
