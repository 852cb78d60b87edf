"""`local/knn`: an embedding classifier served as a local model.

The prompt does the retrieval and this provider only votes. A prompt such as
`prompts/categorize-knn.yaml` pins an index (`index: merchants`) and renders its user
message as `{{ retrieve(description, k=9) | tojson }}`: the nearest labeled rows, best
first, each `{text, label, score, ...}` (score = cosine similarity). The provider parses
that JSON array from the last user message and votes over the neighbours' labels. So the
neighbours are part of the rendered messages, hence of the response-cache key and the
prompt digest; a retrained index (a new version with more labeled rows) changes them, and
serving, versioning, binding, routing, drift checks and retraining need nothing special.
No embedding happens here (no torch import): `retrieve` embeds the input.

Settings, from the model id's query string (`local/knn?vote=weighted&k=5`) or the model's /
request's params (the id wins):

  vote         softmax (default) | weighted (sum of scores) | majority (one vote each)
  temperature  softmax temperature over the cosine scores (default DEFAULT_TEMPERATURE);
               0 gives all the weight to the nearest neighbour
  k            use only the first k rows of the rendered list (default: all of them)

The default scheme is the most accurate one measured on the example (`classifier_vote_*`
figures of `bench/local_model.py --only classifier`).

The answer is the label with the largest vote, ties broken by the best neighbour score of
each tied label, then by the label's rank in the list. When the request carries the
prompt's labels (`CompletionRequest.labels`), neighbours with other labels do not vote,
the answer is spelt as the prompt spells it, and `label_probs` covers every label: the
normalized vote, with labels no neighbour voted for at PROB_FLOOR (a handful of neighbours
never proves a label impossible). Without labels, `label_probs` covers the labels voted for.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

from .base import (
    Completion,
    CompletionRequest,
    ModelConfig,
    Provider,
    ProviderError,
    refuse_tools,
)

Vote = Literal["softmax", "weighted", "majority"]
VOTES: tuple[Vote, ...] = ("softmax", "weighted", "majority")
DEFAULT_VOTE: Vote = "softmax"
DEFAULT_TEMPERATURE = 0.05
PROB_FLOOR = 1e-3  # the probability of a label no neighbour voted for
_EXPECTED = (
    "local/knn expects the last user message to be a JSON array of neighbour rows "
    "{label, score, ...}, as rendered by `{{ retrieve(text, k=K) | tojson }}` in a prompt "
    "that names an `index:`"
)


@dataclass(frozen=True, slots=True)
class KnnSettings:
    vote: Vote = DEFAULT_VOTE
    temperature: float = DEFAULT_TEMPERATURE
    k: int | None = None


@dataclass(frozen=True, slots=True)
class Neighbour:
    label: str
    score: float


def parse_settings(model_id: str, params: dict[str, Any]) -> KnnSettings:
    """The vote settings of a request: the id's query string over the params."""
    _, _, query = model_id.partition("?")
    raw: dict[str, Any] = {k: params[k] for k in ("vote", "temperature", "k") if k in params}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in ("vote", "temperature", "k"):
            raise ProviderError(
                "bad_request",
                f"unknown local/knn setting {key!r} in {model_id!r}; valid: vote, temperature, k",
            )
        raw[key] = value
    try:
        vote = str(raw.get("vote", DEFAULT_VOTE))
        if vote not in VOTES:
            raise ValueError(f"vote must be one of {', '.join(VOTES)} (got {vote!r})")
        temperature = float(raw.get("temperature", DEFAULT_TEMPERATURE))
        if temperature < 0 or math.isnan(temperature):
            raise ValueError(f"temperature must be at least 0 (got {temperature})")
        k = int(raw["k"]) if raw.get("k") is not None else None
        if k is not None and k < 1:
            raise ValueError(f"k must be at least 1 (got {k})")
    except (TypeError, ValueError) as exc:
        raise ProviderError("bad_request", f"bad local/knn setting: {exc}") from None
    return KnnSettings(vote=vote, temperature=temperature, k=k)


def parse_neighbours(messages: list[dict[str, str]]) -> list[Neighbour]:
    """The neighbour rows in the last user message; ProviderError(bad_request) otherwise."""
    content = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
    if not isinstance(content, str):
        raise ProviderError("bad_request", f"{_EXPECTED}; the request has no user message")
    try:
        rows = json.loads(content)
    except ValueError:
        raise ProviderError(
            "bad_request", f"{_EXPECTED}; got text that is not JSON: {content[:80]!r}"
        ) from None
    if not isinstance(rows, list) or not rows:
        raise ProviderError("bad_request", f"{_EXPECTED}; got {type(rows).__name__} {rows!r:.80}")
    out = []
    for i, row in enumerate(rows):
        label = row.get("label") if isinstance(row, dict) else None
        score = row.get("score") if isinstance(row, dict) else None
        if label is None or not isinstance(score, int | float) or isinstance(score, bool):
            raise ProviderError(
                "bad_request", f"{_EXPECTED}; row {i + 1} has no label or no numeric score"
            )
        out.append(Neighbour(str(label), float(score)))
    return out


def _weights(neighbours: list[Neighbour], s: KnnSettings) -> list[float]:
    if s.vote == "majority":
        return [1.0] * len(neighbours)
    if s.vote == "weighted":
        return [max(n.score, 0.0) for n in neighbours]
    best = max(n.score for n in neighbours)
    if s.temperature == 0:
        return [1.0 if n.score == best else 0.0 for n in neighbours]
    # Shifted by the best score: exp never overflows, the ratios are unchanged.
    return [math.exp((n.score - best) / s.temperature) for n in neighbours]


def vote(
    neighbours: list[Neighbour], settings: KnnSettings, labels: list[str] | None = None
) -> tuple[str, dict[str, float]]:
    """The winning label and the normalized probabilities (see the module docstring)."""
    ranked = sorted(neighbours, key=lambda n: -n.score)  # stable: ties keep list order
    if settings.k is not None:
        ranked = ranked[: settings.k]
    spelling = {label.lower(): label for label in labels} if labels else None
    if spelling is not None:
        ranked = [
            Neighbour(spelling[n.label.lower()], n.score)
            for n in ranked
            if n.label.lower() in spelling
        ]
        if not ranked:
            raise ProviderError(
                "bad_request",
                f"none of the neighbours has one of the prompt's labels ({', '.join(labels or [])}):"
                " does the prompt's index hold the same labels as its output?",
            )
    totals: dict[str, float] = {}
    best: dict[str, tuple[float, int]] = {}  # label -> (best score, rank), for tie-breaks
    for rank, (n, w) in enumerate(zip(ranked, _weights(ranked, settings), strict=True)):
        totals[n.label] = totals.get(n.label, 0.0) + w
        best.setdefault(n.label, (n.score, rank))
    answer = min(totals, key=lambda lab: (-totals[lab], -best[lab][0], best[lab][1]))
    return answer, _probs(totals, labels)


def _probs(totals: dict[str, float], labels: list[str] | None) -> dict[str, float]:
    total = sum(totals.values())
    if labels is None:
        if total <= 0:  # every weight 0 (scores <= 0 under `weighted`): uniform
            return {lab: 1 / len(totals) for lab in totals}
        return {lab: w / total for lab, w in totals.items()}
    floor = PROB_FLOOR if len(labels) * PROB_FLOOR < 1 else 0.0
    shares = {lab: (totals.get(lab, 0.0) / total if total > 0 else 0.0) for lab in labels}
    if total <= 0:  # as above: uniform over the labels voted for
        voted = [lab for lab in labels if lab in totals]
        shares = {lab: (1 / len(voted) if lab in totals else 0.0) for lab in labels}
    return {lab: shares[lab] * (1 - floor * len(labels)) + floor for lab in labels}


class KnnProvider(Provider):
    """`local/knn[?vote=...&temperature=...&k=...]`: votes over the rendered neighbours."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.settings = parse_settings(config.id, config.params)  # fail at setup when bad

    async def complete(self, request: CompletionRequest) -> Completion:
        refuse_tools(request, "local/knn (a classifier)")
        start = time.perf_counter()
        settings = parse_settings(request.model, {**self.config.params, **request.params})
        answer, probs = vote(parse_neighbours(request.messages), settings, request.labels)
        return Completion(
            text=answer,
            input_tokens=None,
            output_tokens=None,
            cost_usd=0.0,
            latency_ms=(time.perf_counter() - start) * 1000,
            model="local/knn",
            fingerprint=f"knn:{settings.vote}:t={settings.temperature:g}:k={settings.k or 'all'}",
            finish_reason="stop",
            label_probs=probs,
        )
