"""Serving a rule: a batch is chosen with one featurize and one matrix product, a labeled
request's scores and costs are checked, and evaluation pairs the rule with each choice."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from pydantic import ValidationError

from driftgate.errors import ConfigError
from driftgate.routing import (
    FeatureSpec,
    LabeledRequest,
    Objective,
    RoutingRule,
    evaluate_rule,
    load_rule,
    train_rule,
)
from driftgate.routing import rule as rule_module


def labeled(n: int, seed: int = 0) -> list[LabeledRequest]:
    """`cheap` is right 95% of the time except on segment `hard` (30%); `strong` 95%."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        seg = ["easy", "hard"][i % 2]
        rows.append(
            LabeledRequest(
                id=f"q{i}", ts=float(i), segment=seg, vars={"n": i % 7},
                quality={"cheap": float(rng.random() < (0.3 if seg == "hard" else 0.95)),
                         "strong": float(rng.random() < 0.95)},
                cost={"cheap": 0.0001, "strong": 0.003},
            )
        )  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def rule() -> RoutingRule:
    return train_rule(
        labeled(400), ["strong", "cheap"], Objective(min_quality_vs_best=0.97),
        features=FeatureSpec(numeric=["n"]),
    ).rule  # fmt: skip


def test_a_batch_is_chosen_with_one_featurize_and_one_product(
    rule: RoutingRule, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = rule_module.featurize

    def counting(fitted, requests, **kw):  # noqa: ANN001, ANN003, ANN202
        calls.append(len(requests))
        return real(fitted, requests, **kw)

    monkeypatch.setattr(rule_module, "featurize", counting)
    batch = [{"vars": {"n": i % 7}, "segment": ["easy", "hard"][i % 2]} for i in range(500)]
    picks = rule.choose(batch)  # type: ignore[arg-type]
    assert calls == [500] and len(picks) == 500
    assert set(picks[1::2]) == {"strong"} and set(picks[0::2]) == {"cheap"}
    # choose_matrix works on the whole feature matrix: the same picks from rows built once.
    x = real(rule.features, batch)  # type: ignore[arg-type]
    assert rule.choose_matrix(x) == picks
    assert rule.choose([]) == []


def test_a_rule_whose_fitted_features_do_not_match_is_refused(rule: RoutingRule) -> None:
    data = rule.model_dump(mode="json")
    data["features"]["scales"] = [0.0]
    with pytest.raises(ConfigError, match="scales") as err:
        load_rule(json.dumps(data))
    assert err.value.field == "features"


def test_labeled_scores_are_in_0_1_and_costs_finite() -> None:
    with pytest.raises(ValidationError, match=r"scores are in \[0, 1\]"):
        LabeledRequest(id="a", ts=0, vars={}, quality={"x": 1.5})
    with pytest.raises(ValidationError, match="scores"):
        LabeledRequest(id="a", ts=0, vars={}, quality={"x": float("nan")})
    with pytest.raises(ValidationError, match="costs"):
        LabeledRequest(id="a", ts=0, vars={}, quality={"x": 1.0}, cost={"x": -1.0})


def test_evaluation_is_paired_and_skips_requests_a_choice_did_not_answer(
    rule: RoutingRule,
) -> None:
    rows = labeled(60, seed=5)
    unpaired = LabeledRequest(id="u", ts=99, vars={"n": 1}, segment="hard",
                              quality={"strong": 1.0})  # fmt: skip
    ev = evaluate_rule(rule, [*rows, unpaired])
    assert ev.n == 60 and len(ev.scores["rule"]) == 60
    mine, strong = ev.paired_scores("strong")
    assert strong == [r.quality["strong"] for r in rows]
    picks = rule.choose([{"vars": r.vars, "segment": r.segment} for r in rows])
    assert mine == [r.quality[p] for r, p in zip(rows, picks, strict=True)]
    assert ev.quality["rule"] == pytest.approx(float(np.mean(mine)))
    assert ev.per_segment["hard"]["choice_share"]["strong"] == 1.0
    assert ev.cost_vs_best == pytest.approx(ev.cost_per_request["rule"] / 0.003)
    with pytest.raises(KeyError, match="choices"):
        ev.paired_scores("nobody")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "bandit"}, "kind"),
        ({"holdout": 1.0}, "holdout"),
        ({"choices": ["strong", "strong"]}, "choices"),
    ],
)
def test_training_arguments_are_checked(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"choices": ["strong", "cheap"], **kwargs}
    choices = args.pop("choices")
    with pytest.raises(ConfigError) as err:
        train_rule(labeled(100), choices, Objective(tradeoff=1.0),  # type: ignore[arg-type]
                   features=FeatureSpec(), **args)  # type: ignore[arg-type]  # fmt: skip
    assert err.value.field == field
