"""Routing rules: training learns which choice to send each kind of request to, the split is
by time, rules round-trip through JSON, and anything that is not a rule is refused."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from driftgate.embedding import Embedder
from driftgate.errors import ConfigError
from driftgate.routing import (
    FeatureSpec,
    LabeledRequest,
    Objective,
    evaluate_rule,
    load_rule,
    routellm_baseline,
    train_rule,
)
from driftgate.routing.train import time_split

SEGMENTS = ["a", "b", "hard"]


class WordEmbedder(Embedder):
    """A tiny deterministic embedder: does the text say 'hard'? (and a bias dimension)."""

    def __init__(self, id: str = "fake-words") -> None:
        super().__init__(id)

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.array([[1.0 if "hard" in t else 0.0, 1.0] for t in texts])


def requests(n: int, seed: int = 0) -> list[LabeledRequest]:
    """Cheap is right 97% of the time except on segment `hard` (40%); strong 97% everywhere
    at 20x the cost. Request i arrives at time i."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        seg = SEGMENTS[i % 3]
        cheap_ok = rng.random() < (0.4 if seg == "hard" else 0.97)
        strong_ok = rng.random() < 0.97
        out.append(
            LabeledRequest(
                id=f"r{i}", ts=float(i), segment=seg,
                vars={"text": f"{seg} item {i}", "amount": i % 50, "bank": seg.upper()},
                quality={"cheap": float(cheap_ok), "strong": float(strong_ok)},
                cost={"cheap": 0.0001, "strong": 0.002},
            )
        )  # fmt: skip
    return out


@pytest.mark.parametrize(
    "features",
    [FeatureSpec(segment=True), FeatureSpec(segment=False, categorical=["bank"])],
)
def test_cost_aware_rule_sends_the_hard_segment_to_the_strong_choice(
    features: FeatureSpec,
) -> None:
    result = train_rule(
        requests(900), ["strong", "cheap"], Objective(min_quality_vs_best=0.97),
        features=features,
    )  # fmt: skip
    ev = result.evaluation
    assert ev.per_segment["hard"]["choice_share"]["strong"] == 1.0
    assert ev.per_segment["a"]["choice_share"]["cheap"] == 1.0
    assert ev.quality_vs_best > 0.95 and ev.cost_vs_best < 0.45
    assert result.train_size == 630 and result.test_size == 270
    rule = result.rule
    assert rule.choose_one({"vars": {"bank": "HARD"}, "segment": "hard"}) == "strong"
    assert rule.metrics["quality_vs_best"] == pytest.approx(ev.quality_vs_best)


def test_objectives_trade_quality_for_cost() -> None:
    rows = requests(900)
    cheapest = train_rule(rows, ["strong", "cheap"], Objective(max_cost_per_1k=0.1),
                          features=FeatureSpec())  # fmt: skip
    assert cheapest.evaluation.choice_share["cheap"] == 1.0  # the ceiling fits cheap only
    best = train_rule(rows, ["strong", "cheap"], Objective(tradeoff=0.0), features=FeatureSpec())
    assert best.evaluation.choice_share["strong"] > 0.3  # λ = 0: quality alone
    with pytest.raises(ValueError, match="min_quality_vs_best"):
        Objective()
    with pytest.raises(ValueError):
        Objective(min_quality_vs_best=1.5)


def test_the_split_is_by_time_and_training_never_sees_newer_requests() -> None:
    rows = requests(100)
    random.Random(1).shuffle(rows)
    train, test = time_split(rows, 0.3)
    assert max(r.ts for r in train) < min(r.ts for r in test) and len(test) == 30
    result = train_rule(rows, ["strong", "cheap"], Objective(min_quality_vs_best=0.9),
                        features=FeatureSpec())  # fmt: skip
    assert result.rule.n_train == 70
    again = train_rule(list(reversed(rows)), ["strong", "cheap"],
                       Objective(min_quality_vs_best=0.9), features=FeatureSpec())  # fmt: skip
    assert again.rule.training_digest == result.rule.training_digest  # the same 70 requests


def test_cascade_and_routellm_rules() -> None:
    rows = requests(900)
    emb = WordEmbedder()
    cascade = train_rule(rows, ["strong", "cheap"], Objective(min_quality_vs_best=0.97),
                         features=FeatureSpec(), kind="cascade")  # fmt: skip
    assert cascade.rule.cheap == "cheap" and cascade.rule.strong == "strong"
    assert cascade.evaluation.per_segment["hard"]["choice_share"]["strong"] == 1.0
    routellm = routellm_baseline(rows, ["strong", "cheap"], Objective(min_quality_vs_best=0.97),
                                 features=FeatureSpec(text=["text"]), embedder=emb)  # fmt: skip
    assert routellm.rule.kind == "routellm" and routellm.rule.features.embedder == "fake-words"
    assert routellm.evaluation.per_segment["hard"]["choice_share"]["strong"] == 1.0
    # Serving with another embedder than the one trained with is refused.
    with pytest.raises(ConfigError, match="fake-words"):
        routellm.rule.choose_one({"vars": {"text": "x"}, "segment": None},
                                 embedder=WordEmbedder("other"))  # fmt: skip
    with pytest.raises(ConfigError, match="text variable"):
        routellm_baseline(rows, ["strong", "cheap"], Objective(tradeoff=1), features=FeatureSpec())


def test_round_trip_and_refusals(tmp_path: Path) -> None:
    rule = train_rule(requests(300), ["strong", "cheap"], Objective(min_quality_vs_best=0.97),
                      features=FeatureSpec(numeric=["amount", "len:text"]))  # fmt: skip
    path = tmp_path / "rule.json"
    path.write_text(rule.rule.to_json())
    back = load_rule(path)
    assert back == rule.rule and back.digest == rule.rule.digest
    assert load_rule(rule.rule.to_json()) == rule.rule
    rows = requests(60, seed=3)
    assert evaluate_rule(back, rows).scores == evaluate_rule(rule.rule, rows).scores
    # A pickle is never unpickled, whatever it holds.
    bad = tmp_path / "rule.pkl"
    bad.write_bytes(pickle.dumps({"format": "driftgate.routing-rule/1"}))
    with pytest.raises(ConfigError, match="never loaded"):
        load_rule(bad)
    data = rule.rule.model_dump(mode="json")
    cases = {
        "format": {**data, "format": "sklearn/pickle"},
        "feature size": {**data, "coef": [[1.0], [2.0]]},
        "finite": {**data, "intercept": [float("nan"), 0.0]},
        "costs": {**data, "costs": {"strong": 1.0}},
    }
    import json

    for message, broken in cases.items():
        with pytest.raises(ConfigError, match=message):
            load_rule(json.dumps(broken))


def test_too_few_requests_is_named() -> None:
    with pytest.raises(ConfigError, match="at least 20"):
        train_rule(requests(10), ["strong", "cheap"], Objective(tradeoff=1), features=FeatureSpec())


def test_a_routellm_rule_on_reduced_embeddings() -> None:
    result = routellm_baseline(
        requests(300), ["strong", "cheap"], Objective(min_quality_vs_best=0.97),
        features=FeatureSpec(text=["text"], text_dims=1), embedder=WordEmbedder(),
    )  # fmt: skip
    assert result.rule.features.spec.text_dims == 1 and result.rule.features.dim == 1
    assert result.evaluation.per_segment["hard"]["choice_share"]["strong"] == 1.0
    assert load_rule(result.rule.to_json()) == result.rule
