"""Training a routing rule from labeled requests, split by time: fit on the older part,
tune the trade-off (or threshold) to the objective on the newest slice of that part, refit,
and measure on held-out requests newer than anything trained on.

Each `LabeledRequest` carries the score (and cost) of every choice's answer to the same
request — a route's live answer and its mirrored shadows, scored against one label — so a
rule is judged on counterfactuals it did not pick, paired request by request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._digest import digest as _digest
from ..errors import ConfigError
from .evaluate import RuleEvaluation, evaluate_picks
from .features import FeatureSpec, featurize, fit_features
from .labeled import LabeledRequest, as_features
from .objective import Objective
from .rule import Kind, RoutingRule, picks_of

if TYPE_CHECKING:
    import numpy as np

    from ..embedding import Embedder

TRADEOFFS = [0.0, *(10 ** (k / 8) for k in range(-24, 9)), 1e6]  # 1e-3 … 10, then cheapest
KINDS: tuple[Kind, ...] = ("cost-aware", "cascade", "routellm")
TUNE_SHARE = 0.3  # newest share of the training part on which the trade-off is tuned


@dataclass
class TrainingResult:
    rule: RoutingRule
    evaluation: RuleEvaluation  # on the held-out (newest) requests
    train_size: int
    test_size: int
    train_s: float


def time_split(
    examples: Sequence[LabeledRequest], holdout: float
) -> tuple[list[LabeledRequest], list[LabeledRequest]]:
    """(older, newer): the newest `holdout` share is held out."""
    ordered = sorted(examples, key=lambda r: (r.ts, r.id))
    n_test = max(1, round(len(ordered) * holdout))
    return ordered[:-n_test], ordered[-n_test:]


def train_rule(
    examples: Sequence[LabeledRequest], choices: Sequence[str], objective: Objective, *,
    features: FeatureSpec, kind: Kind = "cost-aware", holdout: float = 0.3,
    embedder: Embedder | None = None, seed: int = 0,
) -> TrainingResult:  # fmt: skip
    """A rule over `choices` from the examples every choice answered; see the module doc."""
    start = time.perf_counter()
    choices = list(choices)
    _check_arguments(choices, kind, holdout)
    paired = [r for r in examples if all(c in r.quality for c in choices)]
    if kind == "routellm":
        features = FeatureSpec(text=features.text, segment=False, text_dims=features.text_dims)
        if not features.text:
            raise ConfigError(
                "a routellm rule reads the request's text: name a text variable",
                field="features.text",
            )
    if len(paired) < 20:
        raise ConfigError(
            f"{len(paired)} labeled requests answered by every choice ({', '.join(choices)}); "
            "a rule needs at least 20",
            field="examples",
        )
    train, test = time_split(paired, holdout)
    fitted = fit_features(features, as_features(train), embedder=embedder)
    x_all = featurize(fitted, as_features([*train, *test]), embedder=embedder)
    x_train, x_test = x_all[: len(train)], x_all[len(train) :]
    costs = _mean_costs(train, choices)
    base = dict(
        kind=kind, choices=choices, features=fitted, costs=costs, objective=objective,
        training_digest=_digest([r.model_dump(mode="json") for r in train], length=64),
        n_train=len(train),
    )  # fmt: skip
    # Tune on the newest slice of the training part with models fitted on the rest.
    cut = max(1, round(len(train) * (1 - TUNE_SHARE)))
    fit_part, tune_part = train[:cut], train[cut:] or train
    draft = _fit(base, fit_part, x_train[:cut], seed)
    params = _tune(draft, tune_part, x_train[cut:] if cut < len(train) else x_train, objective)
    rule = _fit({**base, **params}, train, x_train, seed)
    ev = evaluate_picks(rule.choose_matrix(x_test), test, choices, costs)
    rule.metrics.update(
        quality_vs_best=ev.quality_vs_best, cost_vs_best=ev.cost_vs_best,
        quality=ev.quality["rule"], cost_per_1k=ev.cost_per_request["rule"] * 1000,
        test_size=float(len(test)),
    )  # fmt: skip
    for c in choices:  # each single choice on the same held-out requests
        rule.metrics[f"quality:{c}"] = ev.quality[c]
        rule.metrics[f"cost_per_1k:{c}"] = ev.cost_per_request[c] * 1000
    return TrainingResult(rule, ev, len(train), len(test), time.perf_counter() - start)


def routellm_baseline(
    examples: Sequence[LabeledRequest], choices: Sequence[str], objective: Objective, *,
    features: FeatureSpec, holdout: float = 0.3, embedder: Embedder | None = None,
    seed: int = 0,
) -> TrainingResult:  # fmt: skip
    """RouteLLM's classifier router: the request's text embedding → the probability the
    strong choice answers better than the cheap one; escalate past a tuned threshold."""
    return train_rule(
        examples, choices, objective, features=features, kind="routellm", holdout=holdout,
        embedder=embedder, seed=seed,
    )  # fmt: skip


def _check_arguments(choices: list[str], kind: str, holdout: float) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown rule kind {kind!r}; one of {', '.join(KINDS)}", field="kind")
    if len(set(choices)) != len(choices) or len(choices) < 2:
        raise ConfigError(
            f"a rule picks among two or more distinct choices, not {choices}", field="choices"
        )
    if not 0 < holdout < 1:
        raise ConfigError(
            f"holdout is the newest share held out for testing, in (0, 1), not {holdout}",
            field="holdout",
        )


def _mean_costs(rows: Sequence[LabeledRequest], choices: Sequence[str]) -> dict[str, float]:
    out = {}
    for c in choices:
        xs = [r.cost[c] for r in rows if c in r.cost]
        out[c] = sum(xs) / len(xs) if xs else 0.0
    return out


def _ends(base: dict[str, Any], rows: Sequence[LabeledRequest]) -> tuple[str, str]:
    """(cheap, strong): the cheapest choice and the best of the others on `rows`."""
    choices, costs = base["choices"], base["costs"]
    cheap = min(choices, key=lambda c: (costs[c], c))

    def quality(c: str) -> float:
        return sum(r.quality[c] for r in rows) / len(rows)

    strong = max((c for c in choices if c != cheap), key=lambda c: (quality(c), -costs[c]))
    return cheap, strong


def _fit(
    base: dict[str, Any], rows: Sequence[LabeledRequest], x: np.ndarray, seed: int
) -> RoutingRule:
    """The rule's models fitted on `rows` (their feature rows `x`)."""
    kind, choices = base["kind"], base["choices"]
    if kind == "cost-aware":
        fits = [_logistic(x, [r.quality[c] >= 0.5 for r in rows], seed) for c in choices]
        extra: dict[str, Any] = {}
    else:
        cheap, strong = _ends(base, rows)
        if kind == "cascade":
            target = [r.quality[cheap] >= 0.5 for r in rows]
        else:  # routellm: the strong answer wins
            target = [r.quality[strong] > r.quality[cheap] for r in rows]
        fits = [_logistic(x, target, seed)]
        extra = {"cheap": cheap, "strong": strong, "threshold": base.get("threshold", 0.5)}
    return RoutingRule(
        **{k: v for k, v in base.items() if k != "threshold"}, **extra,
        coef=[f[0] for f in fits], intercept=[f[1] for f in fits],
    )  # fmt: skip


def _logistic(x: np.ndarray, y: list[bool], seed: int) -> tuple[list[float], float]:
    """Coefficients and intercept of P(y | x); a constant when `y` has one class."""
    import math

    positives = sum(y)
    if positives in (0, len(y)) or x.shape[1] == 0:
        rate = min(max(positives / len(y), 0.01), 0.99)
        return [0.0] * x.shape[1], math.log(rate / (1 - rate))
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit(x, y)
    return [float(v) for v in model.coef_[0]], float(model.intercept_[0])


def _tune(
    rule: RoutingRule, rows: Sequence[LabeledRequest], x: np.ndarray, objective: Objective
) -> dict[str, float]:
    """The trade-off (cost-aware) or threshold (cascade, routellm) that meets the objective
    on `rows`: the cheapest meeting a quality floor, else the best within a cost ceiling."""
    import numpy as np

    if rule.kind == "cost-aware":
        if objective.tradeoff is not None:
            return {"tradeoff": objective.tradeoff}
        name, candidates = "tradeoff", TRADEOFFS
    else:
        p = 1.0 / (1.0 + np.exp(-(x @ np.asarray(rule.coef[0]) + rule.intercept[0])))
        qs = np.quantile(p, np.linspace(0, 1, 41)) if len(p) else np.array([])
        name, candidates = "threshold", sorted({-0.01, 1.01, *map(float, qs)})
    results = []
    for value in candidates:
        ev = evaluate_picks(picks_of(rule, x, **{name: value}), rows, rule.choices, rule.costs)
        results.append((value, ev.quality["rule"], ev.cost_per_request["rule"], ev))
    best_q = max(results[0][3].quality[c] for c in rule.choices)

    def ok(q: float, c: float) -> bool:
        floor = objective.min_quality_vs_best
        ceiling = objective.max_cost_per_1k
        return (floor is None or q >= floor * best_q - 1e-12) and (
            ceiling is None or c * 1000 <= ceiling
        )

    feasible = [r for r in results if ok(r[1], r[2])]
    if feasible and objective.min_quality_vs_best is not None:
        pick = min(feasible, key=lambda r: (r[2], -r[1]))
    elif feasible:
        pick = max(feasible, key=lambda r: (r[1], -r[2]))
    elif objective.max_cost_per_1k is not None:
        pick = min(results, key=lambda r: (r[2], -r[1]))
    else:
        pick = max(results, key=lambda r: (r[1], -r[2]))
    # Many values make the same picks here; the middle one is the farthest from flipping
    # a pick when the models are refitted on the whole training part.
    same = [r[0] for r in results if (r[1], r[2]) == (pick[1], pick[2])]
    return {name: same[len(same) // 2]}
