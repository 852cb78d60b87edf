"""A trained routing rule: plain coefficients in a versioned JSON format, and the choice it
makes per request.

Two ways of choosing, both a matrix product and a comparison (numpy only; no scikit-learn
at serving):

- `cost-aware`: one quality model per choice (logistic: the probability its answer is
  right); pick the choice with the highest `p − tradeoff × cost ÷ cost_scale`.
- `cascade` and `routellm`: one model of the cheap choice's answer (`cascade`: the
  probability it is right; `routellm`: the probability the strong choice does better, as
  in RouteLLM's classifier routers); escalate to the strong choice past `threshold`.

Files are never unpickled: a rule is JSON validated field by field (a wrong shape, a
non-finite number or an unknown format is refused with the file and field named).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError, model_validator

from .._digest import digest as _digest
from .._strict import Strict
from ..errors import ConfigError
from .features import FittedFeatures, RequestFeatures, featurize
from .objective import Objective

if TYPE_CHECKING:
    import numpy as np

    from ..embedding import Embedder

FORMAT: Literal["driftgate.routing-rule/1"] = "driftgate.routing-rule/1"
Kind = Literal["cost-aware", "cascade", "routellm"]


class RoutingRule(Strict):
    format: Literal["driftgate.routing-rule/1"] = FORMAT
    kind: Kind
    choices: list[str] = Field(min_length=2)
    features: FittedFeatures
    coef: list[list[float]] = Field(
        description="cost-aware: one row per choice; cascade/routellm: one row."
    )
    intercept: list[float]
    costs: dict[str, float] = Field(description="Mean USD per request of each choice.")
    tradeoff: float = Field(0.0, ge=0)
    cheap: str | None = None
    strong: str | None = None
    threshold: float | None = None
    objective: Objective
    training_digest: str = Field(description="sha256 of the training examples.")
    trained_at: float = Field(default_factory=time.time)
    n_train: int = 0
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Held-out figures measured when it was trained."
    )

    @model_validator(mode="after")
    def _shapes(self) -> RoutingRule:
        rows = len(self.choices) if self.kind == "cost-aware" else 1
        if len(self.coef) != rows or len(self.intercept) != rows:
            raise ValueError(f"a {self.kind} rule has {rows} coefficient row(s)")
        dim = self.features.dim
        if any(len(row) != dim for row in self.coef):
            raise ValueError(f"each coefficient row must have {dim} values (the feature size)")
        numbers = [*(x for row in self.coef for x in row), *self.intercept, *self.costs.values()]
        if not all(math.isfinite(x) for x in numbers):
            raise ValueError("coefficients, intercepts and costs must be finite numbers")
        if set(self.costs) != set(self.choices):
            raise ValueError("costs must name exactly the rule's choices")
        if self.kind != "cost-aware" and (
            self.cheap not in self.choices or self.strong not in self.choices
            or self.threshold is None
        ):  # fmt: skip
            raise ValueError(f"a {self.kind} rule needs `cheap`, `strong` and `threshold`")
        return self

    @property
    def digest(self) -> str:
        """The rule's identity: what it computes and what it was trained on."""
        return _digest(self.model_dump(mode="json", exclude={"trained_at", "metrics"}))

    def choose(
        self, requests: Sequence[RequestFeatures], *, embedder: Embedder | None = None,
        embeddings: np.ndarray | None = None,
    ) -> list[str]:  # fmt: skip
        """The choice for each request (one featurize and one matrix product for all)."""
        x = featurize(self.features, requests, embedder=embedder, embeddings=embeddings)
        return self.choose_matrix(x)

    def choose_matrix(self, x: np.ndarray) -> list[str]:
        """The choices for feature rows already built (`features.featurize`)."""
        return picks_of(self, x)

    def choose_one(self, request: RequestFeatures, *, embedder: Embedder | None = None) -> str:
        return self.choose([request], embedder=embedder)[0]

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)


def picks_of(rule: RoutingRule, x: np.ndarray, **params: float) -> list[str]:
    """What `rule` picks for feature rows `x`; `params` (tradeoff, threshold) override its
    own, so training can try values without building a rule for each."""
    import numpy as np

    z = x @ np.asarray(rule.coef).T + np.asarray(rule.intercept)
    p = 1.0 / (1.0 + np.exp(-z))
    if rule.kind == "cost-aware":
        scale = max(rule.costs.values()) or 1.0
        cost = np.array([rule.costs[c] / scale for c in rule.choices])
        tradeoff = params.get("tradeoff", rule.tradeoff)
        return [rule.choices[int(k)] for k in np.argmax(p - tradeoff * cost, axis=1)]
    threshold = params.get("threshold", rule.threshold)
    assert rule.cheap and rule.strong and threshold is not None
    score = p[:, 0]
    escalate = score < threshold if rule.kind == "cascade" else score >= threshold
    return [rule.strong if e else rule.cheap for e in escalate]


def load_rule(source: str | Path) -> RoutingRule:
    """A rule from its JSON text or a `.json` file; anything else is refused, unread."""
    path: Path | None = None
    text: str | bytes
    if isinstance(source, Path) or not str(source).lstrip().startswith("{"):
        path = Path(source)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the rule file: {exc.strerror}", path=path) from None
    else:
        text = source
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(
            "not a routing rule: rules are JSON (a pickle or other binary file is never loaded)",
            path=path,
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ConfigError(
            f"not a routing rule of format {FORMAT!r} (found {found!r})", path=path,
            field="format",
        )  # fmt: skip
    try:
        return RoutingRule.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "rule"
        raise ConfigError(f"invalid routing rule: {err['msg']}", path=path, field=where) from None
