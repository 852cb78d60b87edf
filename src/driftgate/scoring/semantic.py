"""Scorers by meaning, through sentence embeddings (`driftgate.embedding`).

    - {type: semantic-similarity, threshold: 0.8}        # cosine to reference / expected
    - {type: semantic-similarity, value: "{{ answer }}", model: litellm/text-embedding-3-small}
    - {type: embedding-label, labels: [billing, shipping, other]}   # nearest label wins

Both embed through `aembed`, which gathers the texts of concurrently scored cases into one
batch and caches every vector by (embedder, text): a golden set's references and a prompt's
labels are embedded once per machine, not once per case.

The value of `semantic-similarity` is the raw cosine (in [-1, 1]; in practice 0..1 for
sentence embedders), so its threshold reads the same as in sentence-transformers examples.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from ..embedding import EmbeddingError, aembed
from ._common import NO_OUTPUT, as_list, render, short, subject_text, wanted
from .base import Score, ScoreContext, Scorer, ScorerConfig, ScorerFailure, scorer
from .parsing import normalize_label


async def _vectors(texts: list[str], model: str | None) -> np.ndarray:
    try:
        return await aembed(texts, model)
    except EmbeddingError as exc:  # a failed hosted call: this case's score is an error
        raise ScorerFailure(str(exc)) from None


def _output_text(ctx: ScoreContext) -> str:
    if ctx.output is None and ctx.parsed is None:
        raise ScorerFailure(NO_OUTPUT)
    return subject_text(ctx)


@scorer("semantic-similarity")
class SemanticSimilarity(Scorer):
    """Cosine similarity between the embeddings of the output and `value` (default: the
    case's `reference`, else its `expected`); passes at `threshold` (default 0.8). With a
    list of values, the closest one counts."""

    DEFAULT_THRESHOLD: ClassVar[float] = 0.8
    binary = False

    class Config(ScorerConfig):
        threshold: float | None = Field(0.8, ge=-1, le=1, description="Pass at cosine ≥ threshold.")
        value: str | list[str] | None = Field(
            None, description="Default: reference, else expected."
        )
        model: str | None = Field(None, description="Embedder; default all-minilm-l6-v2.")

    config: Config

    async def ascore(self, ctx: ScoreContext) -> Score:
        got = _output_text(ctx)
        refs = as_list(wanted(self.config, ctx, reference=True))
        if not refs:
            raise ScorerFailure("nothing to compare with (empty list)")
        vecs = await _vectors([got, *refs], self.config.model)
        sims = vecs[1:] @ vecs[0]  # rows are unit vectors: dot = cosine
        best = int(np.argmax(sims))
        value = float(np.clip(sims[best], -1.0, 1.0))
        threshold = (
            self.config.threshold if self.config.threshold is not None else self.DEFAULT_THRESHOLD
        )
        ok = value >= threshold
        reason = (
            f"cosine {value:.3f} {'≥' if ok else '<'} {threshold:g} to {short(refs[best], 40)!r}"
        )
        return Score(value, ok, reason=reason)

    def score(self, ctx: ScoreContext) -> Score:
        import asyncio

        return asyncio.run(self.ascore(ctx))


@scorer("embedding-label")
class EmbeddingLabel(Scorer):
    """Maps the output to the label whose embedding is nearest (from `labels`, else the
    prompt's label set) and passes when that label is the expected one (normalized like
    `label-match`: case, punctuation, `_`/`-`; a list of expected labels accepts any).

    Optional `descriptions` embed a longer text per label in its place ("billing": "a
    question about an invoice, a charge or a refund"), which usually separates labels
    better than the bare words."""

    class Config(ScorerConfig):
        labels: list[str] | None = Field(None, description="Default: the prompt's labels.")
        templated = frozenset({"value", "descriptions"})
        descriptions: dict[str, str] = Field(
            default_factory=dict, description="label → text embedded in place of the label."
        )
        model: str | None = Field(None, description="Embedder; default all-minilm-l6-v2.")
        value: str | list[str] | None = Field(None, description="Default: the case's expected.")

    config: Config

    async def ascore(self, ctx: ScoreContext) -> Score:
        got = _output_text(ctx)
        labels = self.config.labels or ctx.labels
        if not labels:
            raise ScorerFailure("embedding-label needs `labels` (or a prompt with a label set)")
        expected = {normalize_label(x) for x in as_list(wanted(self.config, ctx))}
        texts = [render(self.config.descriptions.get(label, label), ctx) for label in labels]
        vecs = await _vectors([got, *texts], self.config.model)
        sims = vecs[1:] @ vecs[0]
        order = np.argsort(-sims)
        best = int(order[0])
        predicted = labels[best]
        runner_up = float(sims[order[1]]) if len(labels) > 1 else None
        ok = normalize_label(predicted) in expected
        data: dict[str, Any] = {"predicted": predicted, "similarity": round(float(sims[best]), 4)}
        if runner_up is not None:  # a small margin means the mapping was a coin toss
            data["margin"] = round(float(sims[best]) - runner_up, 4)
        want = " / ".join(sorted(expected))
        reason = (
            f"nearest label {predicted!r} ({sims[best]:.3f}) {'=' if ok else '≠'} expected {want!r}"
        )
        return Score(1.0 if ok else 0.0, ok, reason=reason, data=data)

    def score(self, ctx: ScoreContext) -> Score:
        import asyncio

        return asyncio.run(self.ascore(ctx))
