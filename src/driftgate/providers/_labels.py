"""Label probabilities: from label log-likelihoods (the local model) or from an API's
top logprobs of the first answer token (OpenAI-compatible `logprobs`).

Pure functions, no torch: the providers call them, the tests check them directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Norm = Literal["sum", "mean"]
TOP_LOGPROBS = 5  # alternatives asked for per token: enough to see the likely labels


def label_loglik(token_logprobs: list[float], norm: Norm) -> float:
    """A label's score from its tokens' log-probs: the total, or the mean per token."""
    if not token_logprobs:
        raise ValueError("a label has at least one token")
    total = math.fsum(token_logprobs)
    return total if norm == "sum" else total / len(token_logprobs)


def softmax(scores: Mapping[str, float]) -> dict[str, float]:
    """Normalized probabilities (sum 1) from log-scores; stable for very negative scores."""
    if not scores:
        return {}
    top = max(scores.values())
    weights = {k: math.exp(v - top) for k, v in scores.items()}
    total = math.fsum(weights.values())
    return {k: w / total for k, w in weights.items()}


def best_label(probs: Mapping[str, float], order: list[str]) -> str:
    """The most likely label; a tie goes to the label listed first (deterministic)."""
    return max(order, key=lambda label: (probs[label], -order.index(label)))


def _matches(token: str, label: str) -> bool:
    """A first answer token points at a label when it starts the label (case-insensitive):
    `Gro` → groceries, ` PASS` → PASS. A token longer than the label matches when the label
    is the token with trailing punctuation stripped (`PASS.`)."""
    t = token.strip().lower()
    if not t:
        return False
    lab = label.strip().lower()
    return lab.startswith(t) or (len(t) > len(lab) and t.rstrip(".,:;!\"'") == lab)


def probs_from_top_logprobs(
    top: Iterable[tuple[str, float]], labels: list[str]
) -> dict[str, float] | None:
    """Label probabilities from the first answer token's top logprobs; None when no top
    token points at any label (the API told nothing about them).

    A token that starts several labels (`f` → fuel, food) splits its mass evenly between
    them. Labels no top token points at share what the top tokens leave (1 - their mass),
    each at most the least likely top token's probability (a label outside the top k is
    less likely than all of it). Then renormalized over the labels."""
    pairs = [(tok, math.exp(lp)) for tok, lp in top if isinstance(lp, (int, float))]
    if not pairs or not labels:
        return None
    mass = dict.fromkeys(labels, 0.0)
    for tok, p in pairs:
        hit = [label for label in labels if _matches(tok, label)]
        for label in hit:
            mass[label] += p / len(hit)
    seen = [label for label in labels if mass[label] > 0]
    if not seen:
        return None
    unseen = [label for label in labels if mass[label] == 0]
    if unseen:
        leftover = max(0.0, 1.0 - math.fsum(p for _, p in pairs))
        share = min(leftover / len(unseen), min(p for _, p in pairs))
        for label in unseen:
            mass[label] = share
    total = math.fsum(mass.values())
    return {label: m / total for label, m in mass.items()}


def top_logprobs_of_first_token(logprobs: Any) -> list[tuple[str, float]]:
    """[(token, logprob)] of the first answer token from a chat completion's `logprobs`
    (a dict from JSON or litellm's objects); empty when absent or malformed."""
    content = _get(logprobs, "content")
    if not isinstance(content, list) or not content:
        return []
    first = content[0]
    out: list[tuple[str, float]] = []
    for item in _get(first, "top_logprobs") or []:
        token, lp = _get(item, "token"), _get(item, "logprob")
        if isinstance(token, str) and isinstance(lp, (int, float)) and not isinstance(lp, bool):
            out.append((token, float(lp)))
    if not out:  # no alternatives returned: the chosen token alone still says something
        token, lp = _get(first, "token"), _get(first, "logprob")
        if isinstance(token, str) and isinstance(lp, (int, float)):
            out.append((token, float(lp)))
    return out


def token_logprobs_of(logprobs: Any) -> list[float] | None:
    """Each answer token's logprob from a chat completion's `logprobs` (a dict from JSON or
    litellm's objects); None when absent or malformed (never a partial list)."""
    content = _get(logprobs, "content")
    if not isinstance(content, list) or not content:
        return None
    out = []
    for item in content:
        lp = _get(item, "logprob")
        if not isinstance(lp, (int, float)) or isinstance(lp, bool):
            return None
        out.append(float(lp))
    return out


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def wants_logprobs(params: Mapping[str, Any], labels: list[str] | None) -> bool:
    """The opt-in: `logprobs: true` in the model's (or prompt's) params, and a label set."""
    return bool(labels) and params.get("logprobs") is True


def request_logprobs(params: dict[str, Any], labels: list[str] | None) -> list[str] | None:
    """The labels to read from the answer's logprobs, asking for the alternatives in
    `params` (an API's request body or kwargs), when the model opted in; else None."""
    if not wants_logprobs(params, labels):
        return None
    params.setdefault("top_logprobs", TOP_LOGPROBS)
    return labels


def label_probs_of(logprobs: Any, labels: list[str] | None) -> dict[str, float] | None:
    """`Completion.label_probs` from a choice's `logprobs`, for the labels asked about."""
    if not labels:
        return None
    return probs_from_top_logprobs(top_logprobs_of_first_token(logprobs), labels)
