"""Routes: which prompt version on which model serves a feature's traffic, and in what share.

A route file (YAML or JSON, in `routes/NAME.yaml`):

    name: categorize
    prompt: categorize                    # the prompt this route serves
    sticky_key: user_id                   # optional: hash of this request field pins an arm
    arms:                                 # live arms: their answers are returned to users
      - {name: production, prompt: categorize@few-shot, model: local/smollm2-135m, weight: 90}
      - {name: candidate,  prompt: categorize@rag,      model: local/smollm2-135m, weight: 10}
    shadow:                               # mirrored: answered and logged, never returned
      - {name: next-provider, prompt: categorize@few-shot, model: sim/acme@v2, sample: 1.0}
    fallbacks: [sim/acme@v1]              # models tried in order when an arm's model fails
    baseline: production                  # optional: the arm a canary is judged against
    segment_by: bank                      # optional: a request variable naming its segment
    scorers: [{type: label-match}]        # optional: how an answer is judged against its label
    canary: {min_feedback: 100, alpha: 0.05, margin: 0.03, check_every: 100, ramp: [25, 50, 100]}
    max_in_flight: 64                     # optional: calls in flight per model, per process

Prompt references are `NAME@VERSION` or `NAME@ALIAS` (`production`, `candidate`, …); an
alias is resolved by the registry at serving time, so a rollback moves the alias and no
route file changes. Live weights are percentages and must sum to 100.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from .._digest import digest as _digest
from .._files import ARTIFACT_NAME
from .._strict import Strict
from ..errors import ConfigError
from .loop_policy import LoopPolicy

_NAME = ARTIFACT_NAME  # one pattern for every artifact name


class RouteArm(Strict):
    """A live arm: a prompt version on a model, or a learned rule that picks, per request,
    one of the route's other arms (`choices`) to answer it."""

    name: str = Field(pattern=_NAME)
    prompt: str | None = Field(
        None, min_length=1, description="Prompt ref: NAME, NAME@VERSION or NAME@ALIAS."
    )
    model: str | None = Field(None, description="Model id; default: the prompt's own model.")
    weight: float = Field(ge=0, le=100, description="Percent of live traffic.")
    rule: str | None = Field(
        None,
        description="A learned rule of this route: `production`, `candidate`, another alias "
        "or a version number of `rule/ROUTE` (made by `driftgate retrain route/ROUTE`).",
    )
    choices: list[str] = Field(
        default_factory=list,
        description="A rule arm: the arms (live at any weight, or shadow) it picks among.",
    )

    @model_validator(mode="after")
    def _prompt_or_rule(self) -> RouteArm:
        if self.rule is None:
            if self.prompt is None:
                raise ValueError(f"arm {self.name!r} needs a `prompt` (or a `rule`)")
            if self.choices:
                raise ValueError(f"arm {self.name!r}: `choices` belong to a `rule` arm")
            return self
        if self.prompt is not None or self.model is not None:
            raise ValueError(
                f"arm {self.name!r}: a rule arm serves its choices' prompts and models; "
                "remove `prompt` and `model`"
            )
        if len(set(self.choices)) < 2:
            raise ValueError(f"arm {self.name!r}: a rule arm needs two or more `choices`")
        return self

    @property
    def prompt_ref(self) -> str:
        """The prompt of a prompt arm (a rule arm has none: see `RouteSpec.prompts_of`)."""
        if self.prompt is None:
            raise ConfigError(
                f"arm {self.name!r} is a rule arm and serves no single prompt",
                field=f"arms[{self.name}]",
                hint="this needs a prompt arm (e.g. as the route's baseline)",
            )
        return self.prompt


class ShadowArm(Strict):
    name: str = Field(pattern=_NAME)
    prompt: str = Field(min_length=1)
    model: str | None = None
    sample: float = Field(1.0, ge=0, le=1, description="Share of requests mirrored to this arm.")

    @property
    def prompt_ref(self) -> str:
        return self.prompt


class CanaryPolicy(Strict):
    """How a live arm other than the baseline is judged, stepped up and rolled back.

    Quality is each labeled answer's score (the route's `scorers`, else the label match; a
    reject without correction scores 0), compared with the baseline's by an always-valid
    confidence sequence (`stats.sequential`) at `alpha`: the guard looks after every
    batch of feedback and stays within `alpha` however often it looks. A ramp step (and
    promotion by `driftgate loop`) needs the lower bound of canary − baseline above
    −`margin`; a rollback needs the upper bound below 0. The default margin, 3 points,
    separates an equal canary (reaches 100% in ~4,000 feedback events at 25%) from one
    5 points worse (ramped fully in < 5% of trials: `bench/canary.py`).
    """

    min_feedback: int = Field(
        30, ge=1, description="Labeled answers per arm before quality is compared."
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="Error rate of each decision, over all looks."
    )
    margin: float = Field(
        0.03,
        gt=0,
        lt=1,
        description="Quality drop (share of labeled answers) a canary may have and still "
        "count as not worse.",
    )
    max_error_rate: float = Field(
        0.2, ge=0, le=1, description="Provider error share that rolls a canary back outright."
    )
    min_requests: int = Field(20, ge=1, description="Requests per arm before errors count.")
    check_every: int = Field(
        20, ge=1, description="A serving router checks after this many feedback events."
    )
    auto_rollback: bool = Field(True, description="Move the canary's weight to the baseline.")
    ramp: list[float] = Field(
        default_factory=list,
        description="Canary weights to step up through while it stays healthy, e.g. "
        "[25, 50, 100]: each step needs `min_feedback` new events on the canary at the "
        "weight before. Empty: the canary keeps its weight until someone moves it.",
    )

    @field_validator("ramp")
    @classmethod
    def _ramp_valid(cls, ramp: list[float]) -> list[float]:
        if any(not 0 < r <= 100 for r in ramp):
            raise ValueError("ramp weights are percentages in (0, 100]")
        if ramp != sorted(set(ramp)):
            raise ValueError("ramp weights must increase step by step")
        return ramp


class LearnPolicy(Strict):
    """How `driftgate retrain route/NAME` trains the route's rule (see `driftgate.routing`).

    learn:
      arm: learned                       # the rule arm whose `choices` the rule picks among
      objective: {min_quality_vs_best: 0.99}   # or max_cost_per_1k, or tradeoff (λ)
      features: {text: [description], categorical: [bank]}
    """

    arm: str = Field(description="The rule arm that serves the trained rule.")
    objective: dict[str, Any] = Field(
        description="`min_quality_vs_best`, `max_cost_per_1k` and/or `tradeoff` "
        "(driftgate.routing.Objective)."
    )
    features: dict[str, Any] = Field(
        default_factory=dict,
        description="Request features the rule reads: `text`, `numeric`, `categorical`, "
        "`segment` (driftgate.routing.FeatureSpec); default: the segment only.",
    )
    kind: Literal["cost-aware", "cascade", "routellm"] = Field(
        "cost-aware",
        description="`cost-aware` (a quality model per choice, cost-weighted), `cascade` "
        "(cheap first, escalate when it is likely wrong) or `routellm` (text classifier).",
    )
    holdout: float = Field(
        0.3, gt=0, lt=1, description="Newest share of labeled traffic held out to gate on."
    )
    min_labeled: int = Field(
        200, ge=10, description="Labeled requests answered by every choice needed to train."
    )
    margin: float = Field(
        0.02, ge=0, lt=1, description="Quality drop beyond the objective's the gate tolerates."
    )

    @field_validator("objective")
    @classmethod
    def _objective_valid(cls, v: dict[str, Any]) -> dict[str, Any]:
        from ..routing.objective import Objective

        Objective.model_validate(v)
        return v

    @field_validator("features")
    @classmethod
    def _features_valid(cls, v: dict[str, Any]) -> dict[str, Any]:
        from ..routing.features import FeatureSpec

        FeatureSpec.model_validate(v)
        return v


class RouteSpec(Strict):
    name: str = Field(pattern=_NAME)
    description: str | None = None
    prompt: str | None = Field(None, description="Name of the prompt this route serves.")
    sticky_key: str | None = Field(
        None, description="Request field whose hash keeps a user on one arm (consistent canary)."
    )
    arms: list[RouteArm] = Field(min_length=1)
    shadow: list[ShadowArm] = Field(default_factory=list)
    fallbacks: list[str] = Field(
        default_factory=list, description="Model ids tried in order on failure."
    )
    baseline: str | None = Field(
        None, description="The arm canaries are judged against; default: the first arm."
    )
    segment_by: str | None = Field(
        None,
        description="Request variable whose value is the request's segment (per-segment "
        "quality in `route status`); `Router.complete(segment=...)` overrides it.",
    )
    scorers: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Scorers (as in a suite) that judge an answer against its label from "
        "feedback; default: the answer equals the label.",
    )
    canary: CanaryPolicy = Field(default_factory=CanaryPolicy)
    learn: LearnPolicy | None = Field(
        None, description="How `driftgate retrain route/NAME` trains the route's rule."
    )
    max_in_flight: int | None = Field(
        None,
        ge=1,
        description="Calls in flight to each of this route's models at once, per serving "
        "process (more wait); default: no cap beyond the provider's own.",
    )

    @field_validator("scorers")
    @classmethod
    def _scorers_have_type(cls, scorers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, s in enumerate(scorers):
            if not isinstance(s.get("type"), str):
                raise ValueError(f"scorer #{i + 1} needs a `type` (e.g. equals, label-match)")
        return scorers

    loop: LoopPolicy | None = Field(
        None, description="How `driftgate loop` retrains and ramps candidates on this route."
    )

    @field_validator("arms")
    @classmethod
    def _arms_valid(cls, arms: list[RouteArm]) -> list[RouteArm]:
        _unique([a.name for a in arms], "arm")
        total = sum(a.weight for a in arms)
        # Weights are percentages written by people: a tolerance absorbs 33.3 + 33.3 + 33.4.
        if not math.isclose(total, 100.0, abs_tol=1e-6):
            shares = ", ".join(f"{a.name}={a.weight:g}" for a in arms)
            raise ValueError(f"live arm weights must sum to 100, got {total:g} ({shares})")
        return arms

    @field_validator("shadow")
    @classmethod
    def _shadow_valid(cls, shadow: list[ShadowArm], info: ValidationInfo) -> list[ShadowArm]:
        _unique([s.name for s in shadow], "shadow arm")
        live = {a.name for a in info.data.get("arms", [])}
        clash = [s.name for s in shadow if s.name in live]
        if clash:
            raise ValueError(
                f"shadow arm name {clash[0]!r} is also a live arm; arm names must be unique"
            )
        return shadow

    @model_validator(mode="after")
    def _choices_are_arms(self) -> RouteSpec:
        served = {a.name for a in self.arms if a.rule is None} | {s.name for s in self.shadow}
        for arm in self.arms:
            unknown = [c for c in arm.choices if c not in served]
            if unknown:
                raise ValueError(
                    f"arm {arm.name!r}: choice {unknown[0]!r} is not a prompt arm or shadow "
                    f"of this route ({', '.join(sorted(served))})"
                )
        return self

    @model_validator(mode="after")
    def _learn_names_a_rule_arm(self) -> RouteSpec:
        if self.learn is not None:
            arm = next((a for a in self.arms if a.name == self.learn.arm), None)
            if arm is None or arm.rule is None:
                rule_arms = [a.name for a in self.arms if a.rule is not None]
                raise ValueError(
                    f"learn.arm {self.learn.arm!r} is not a rule arm of this route "
                    f"(rule arms: {', '.join(rule_arms) or 'none'}); add one, e.g. "
                    "{name: learned, rule: candidate, choices: [cheap, strong], weight: 0}"
                )
        return self

    def prompts_of(self, arm: RouteArm | ShadowArm) -> list[str]:
        """The prompt refs an arm may serve: its own, or its choices' for a rule arm."""
        if isinstance(arm, ShadowArm) or arm.rule is None:
            return [arm.prompt] if arm.prompt else []
        return [p for c in arm.choices for p in self.prompts_of(self.arm(c))]

    @field_validator("fallbacks")
    @classmethod
    def _fallbacks_valid(cls, fallbacks: list[str]) -> list[str]:
        if any(not f.strip() for f in fallbacks):
            raise ValueError("a fallback model id must not be empty")
        _unique(fallbacks, "fallback model")
        return fallbacks

    @field_validator("baseline")
    @classmethod
    def _baseline_valid(cls, baseline: str | None, info: ValidationInfo) -> str | None:
        live = [a.name for a in info.data.get("arms", [])]
        if baseline is not None and live and baseline not in live:
            raise ValueError(f"baseline {baseline!r} is not a live arm ({', '.join(live)})")
        return baseline

    @property
    def baseline_arm(self) -> str:
        return self.baseline or self.arms[0].name

    @property
    def digest(self) -> str:
        """Version identity of the routing rules (description excluded)."""
        # Unset new fields stay out, so routes written before them keep their identity.
        data = self.model_dump(mode="json", exclude={"description"})
        for field in ("max_in_flight", "learn"):  # unset: identities from before they existed
            if data[field] is None:
                del data[field]
        for arm in data["arms"]:
            if arm["rule"] is None:  # prompt arms keep the identity they had before rules
                del arm["rule"], arm["choices"]
        return _digest(data)

    @property
    def live_arms(self) -> list[RouteArm]:
        """Arms that receive traffic (weight > 0)."""
        return [a for a in self.arms if a.weight > 0]

    def arm(self, name: str) -> RouteArm | ShadowArm:
        every: list[RouteArm | ShadowArm] = [*self.arms, *self.shadow]
        for a in every:
            if a.name == name:
                return a
        from ..errors import UnknownNameError

        raise UnknownNameError("route arm", name, [a.name for a in every])

    def with_weights(self, weights: dict[str, float]) -> RouteSpec:
        """A copy with new live weights (validated), e.g. to move a canary from 10 to 50."""
        unknown = set(weights) - {a.name for a in self.arms}
        if unknown:  # shadow arms included: they take no live traffic, so have no weight
            from ..errors import UnknownNameError

            raise UnknownNameError("live arm", sorted(unknown)[0], [a.name for a in self.arms])
        data: dict[str, Any] = self.model_dump()
        for a in data["arms"]:
            a["weight"] = weights.get(a["name"], a["weight"])
        try:
            return RouteSpec.model_validate(data)
        except ValidationError as exc:
            from .._files import validation_error

            raise validation_error(exc, f"route {self.name!r}") from None


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"duplicate {what} {n!r}")
        seen.add(n)


def load_route(path: Path | str) -> RouteSpec:
    """Load a route file; the name defaults to the file stem. Errors name file/line/field."""
    from .._files import load_data, load_model, read_text

    path = Path(path)
    text = read_text(path)
    data = load_data(path, text)
    if isinstance(data, dict) and "name" not in data:
        data = {"name": path.stem.split(".")[0], **data}
    spec = load_model(RouteSpec, path, data=data, text=text)
    _check_scorers(spec, path)
    return spec


def _check_scorers(spec: RouteSpec, path: Path) -> None:
    """Build the route's scorers once, so a typo fails when the file is read (exit 2), not
    at the first canary check of a serving process."""
    if not spec.scorers:
        return
    from ..errors import ConfigError, UnknownNameError
    from ..scoring.build import build_scorer

    for i, options in enumerate(spec.scorers):
        try:
            build_scorer(options, source=str(path), index=i)
        except UnknownNameError as exc:
            raise ConfigError(
                exc.bare, path=path, line=exc.line, field=exc.field, hint=exc.hint
            ) from None
