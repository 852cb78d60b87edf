"""The objects scorers see and return, and the table scorers register in.

A scorer is a class registered by name with `@scorer("name")`, carrying a pydantic `Config`
(its suite-file options, unknown fields are errors) and a `score(ctx) -> Score` method
(`ascore` for scorers that call a model). `not-NAME` negates any scorer.

Building a scorer by name (loading the built-in module that registers it, or a plugin) is
`scoring/build.py`, which sits above the built-in modules; they import this module only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import Field

from .._strict import Strict
from ..errors import ScorerFailure as ScorerFailure  # defined there, re-exported


class ScorerConfig(Strict):
    """Options every scorer takes; a scorer's own Config subclasses this."""

    type: str
    metric: str | None = Field(None, description="Name of the metric in reports; defaults to type.")
    weight: float = Field(1.0, ge=0, description="Weight in the case's weighted score.")
    threshold: float | None = Field(
        None, description="The case passes this scorer when its value ≥ threshold."
    )

    # Options a built-in scorer renders per case from the case's variables (`{{ name }}`);
    # template syntax in any other option is refused when the scorer is built
    # (`build.py`), so it never stays a literal that fails every case. `verbatim` options
    # hold code, where `{{` may be the language's own.
    templated: ClassVar[frozenset[str]] = frozenset({"value"})
    verbatim: ClassVar[frozenset[str]] = frozenset({"code"})


@dataclass(slots=True)
class ScoreContext:
    """Everything known about one case's output when it is scored."""

    output: str | None
    parsed: Any = None
    parse_error: str | None = None
    expected: Any = None
    reference: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    case_id: str = ""
    segment: str | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    labels: list[str] | None = None  # the prompt's label set, when it has one
    finish_reason: str | None = None  # the provider's, when it gives one
    metadata: dict[str, Any] = field(default_factory=dict)  # the case's (per-case assertions)
    # The calls the model made ([{id, name, arguments}]) and the tools it was offered
    # (OpenAI's shape), when the prompt or the case declares tools.
    tool_calls: list[dict[str, str]] | None = None
    tools: list[dict[str, Any]] | None = None
    token_logprobs: list[float] | None = None  # the answer's, when the provider gave them


@dataclass(slots=True)
class Score:
    value: float
    passed: bool
    reason: str = ""
    error: str | None = None  # a scorer that could not score (judge failure…): never a pass
    data: dict[str, Any] | None = None  # extra detail kept with the result (judge reasoning…)


class Scorer:
    Config: ClassVar[type[ScorerConfig]] = ScorerConfig
    name: ClassVar[str] = ""
    # True when the default threshold logic does not apply (the scorer decides pass itself).
    binary: ClassVar[bool] = True

    def __init__(self, config: ScorerConfig) -> None:
        self.config = config

    @property
    def metric(self) -> str:
        return self.config.metric or self.config.type

    def score(self, ctx: ScoreContext) -> Score:  # pragma: no cover - abstract
        raise NotImplementedError

    async def ascore(self, ctx: ScoreContext) -> Score:
        return self.score(ctx)

    def finish(self, score: Score) -> Score:
        """Apply the configured threshold to a raw score."""
        if score.error is None and self.config.threshold is not None:
            score.passed = score.value >= self.config.threshold
        return score

    async def evaluate(self, ctx: ScoreContext) -> Score:
        try:
            raw = await self.ascore(ctx)
        except ScorerFailure as exc:
            return Score(0.0, False, reason=exc.message, error=exc.message)
        return self.finish(raw)

    @property
    def sync(self) -> bool:
        """True when scoring never awaits anything (no model call, no user coroutine): the
        engine may then score inline with `evaluate_sync`, e.g. answers served from the
        cache, instead of through its worker pool."""
        cls = type(self)
        return cls.ascore is Scorer.ascore and cls.evaluate is Scorer.evaluate

    @property
    def wants_logprobs(self) -> bool:
        """True when it scores the answer's token log-probabilities (`perplexity`): the
        run then asks every model for them (`logprobs: true`)."""
        return False

    def evaluate_sync(self, ctx: ScoreContext) -> Score:
        """What `evaluate` returns, without a coroutine; only for `sync` scorers."""
        try:
            raw = self.score(ctx)
        except ScorerFailure as exc:
            return Score(0.0, False, reason=exc.message, error=exc.message)
        return self.finish(raw)


class Negated(Scorer):
    """`not-NAME`: passes when NAME fails. Errors stay errors."""

    def __init__(self, inner: Scorer, config: ScorerConfig) -> None:
        super().__init__(config)
        self.inner = inner

    async def evaluate(self, ctx: ScoreContext) -> Score:
        return self._negate(await self.inner.evaluate(ctx))

    @property
    def sync(self) -> bool:
        return self.inner.sync

    @property
    def wants_logprobs(self) -> bool:
        return self.inner.wants_logprobs

    def evaluate_sync(self, ctx: ScoreContext) -> Score:
        return self._negate(self.inner.evaluate_sync(ctx))

    @staticmethod
    def _negate(s: Score) -> Score:
        if s.error is not None:
            return s
        return Score(1.0 - s.value, not s.passed, reason=f"not ({s.reason})", data=s.data)


SCORERS: dict[str, type[Scorer]] = {}
S = TypeVar("S", bound=type[Scorer])


def scorer(name: str) -> Callable[[S], S]:
    """Register a scorer class under `name`."""

    def deco(cls: S) -> S:
        cls.name = name
        SCORERS[name] = cls
        return cls

    return deco
