"""Learned routing rules: which of a route's choices (prompt + model) answers each request,
trained from labeled traffic for a cost/quality objective, stored as plain JSON.

    from driftgate.routing import FeatureSpec, Objective, train_rule
    result = train_rule(requests, ["strong", "cheap"], Objective(min_quality_vs_best=0.99),
                        features=FeatureSpec(segment=True))
    result.rule.choose_one({"vars": {...}, "segment": "lumen"})     # "strong"
    result.evaluation.quality_vs_best, result.evaluation.cost_vs_best

Serving reads a rule through a route's rule arm (`router/rules.py`); training data comes
from a route's traffic (`router/training.py`); `driftgate retrain route/NAME` gates and
registers it (`retraining/route_rule.py`).
"""

from .evaluate import RuleEvaluation, evaluate_rule
from .features import (
    FeatureSpec,
    FittedFeatures,
    RequestFeatures,
    embed_requests,
    featurize,
    fit_features,
)
from .labeled import LabeledRequest
from .objective import Objective
from .rule import RoutingRule, load_rule
from .train import TrainingResult, routellm_baseline, train_rule

__all__ = [
    "FeatureSpec",
    "FittedFeatures",
    "LabeledRequest",
    "Objective",
    "RequestFeatures",
    "RoutingRule",
    "RuleEvaluation",
    "TrainingResult",
    "embed_requests",
    "evaluate_rule",
    "featurize",
    "fit_features",
    "load_rule",
    "routellm_baseline",
    "train_rule",
]
