"""What a routing rule reads from a request: its segment, categorical and numeric variables,
and text variables embedded by the local embedder, as one vector per request.

The fitted part (vocabularies, means and scales, the embedder's id) is stored inside the
rule, so serving builds exactly the vectors training built; an unseen category is all
zeros, a missing number its training mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from pydantic import Field, model_validator

from .._strict import Strict
from ..errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from ..embedding import Embedder

SEGMENT = "__segment__"  # the vocabulary key of the request's segment


class RequestFeatures(TypedDict):
    vars: dict[str, Any]
    segment: str | None


class FeatureSpec(Strict):
    text: list[str] = Field(
        default_factory=list, description="Text variables embedded by the local embedder."
    )
    numeric: list[str] = Field(
        default_factory=list,
        description="Numeric variables; `len:NAME` is a variable's length in characters.",
    )
    categorical: list[str] = Field(
        default_factory=list, description="Variables one-hot encoded (values seen in training)."
    )
    segment: bool = Field(True, description="The request's segment, one-hot encoded.")


class FittedFeatures(Strict):
    spec: FeatureSpec
    vocab: dict[str, list[str]] = Field(default_factory=dict)
    means: list[float] = Field(default_factory=list)
    scales: list[float] = Field(default_factory=list)
    embedder: str | None = None
    text_dim: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> FittedFeatures:
        # A rule file is untrusted input: its fitted part must match its spec exactly, or
        # serving would build vectors of another shape (or divide by a zero scale).
        if not (len(self.means) == len(self.scales) == len(self.spec.numeric)):
            raise ValueError("means and scales need one value per numeric variable")
        if not all(math.isfinite(x) for x in self.means) or not all(
            math.isfinite(x) and x > 0 for x in self.scales
        ):
            raise ValueError("means must be finite and scales finite and positive")
        if set(self.vocab) != set(_categorical(self.spec)):
            raise ValueError("vocab needs one entry per categorical variable (and the segment)")
        if bool(self.spec.text) != (self.embedder is not None and self.text_dim > 0):
            raise ValueError("text variables need the embedder's id and a positive text_dim")
        return self

    @property
    def dim(self) -> int:
        cats = sum(len(v) for v in self.vocab.values())
        return len(self.spec.text) * self.text_dim + len(self.means) + cats


def _number(vars: dict[str, Any], name: str) -> float | None:
    if name.startswith("len:"):
        value = vars.get(name[4:])
        return None if value is None else float(len(str(value)))
    value = vars.get(name)
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _category(request: RequestFeatures, name: str) -> str | None:
    value = request["segment"] if name == SEGMENT else request["vars"].get(name)
    return None if value is None else str(value)


def _categorical(spec: FeatureSpec) -> list[str]:
    return [*spec.categorical, *([SEGMENT] if spec.segment else [])]


def fit_features(
    spec: FeatureSpec, requests: Sequence[RequestFeatures], *, embedder: Embedder | None = None
) -> FittedFeatures:
    """Vocabularies, numeric means and scales, and the embedder, from training requests."""
    vocab = {
        name: sorted({c for r in requests if (c := _category(r, name)) is not None})
        for name in _categorical(spec)
    }
    means, scales = [], []
    for name in spec.numeric:
        xs = [x for r in requests if (x := _number(r["vars"], name)) is not None]
        mean = sum(xs) / len(xs) if xs else 0.0
        var = sum((x - mean) ** 2 for x in xs) / len(xs) if xs else 0.0
        means.append(mean)
        scales.append(math.sqrt(var) or 1.0)
    emb_id, dim = None, 0
    if spec.text:
        emb_id = (embedder or _default_embedder()).id
        dim = int(_embed(embedder, ["x"]).shape[1])
    return FittedFeatures(
        spec=spec, vocab=vocab, means=means, scales=scales, embedder=emb_id, text_dim=dim
    )


def featurize(
    fitted: FittedFeatures,
    requests: Sequence[RequestFeatures],
    *,
    embedder: Embedder | None = None,
    embeddings: np.ndarray | None = None,
) -> np.ndarray:
    """One row per request. `embeddings` (n × text_dim per text variable, concatenated)
    may be passed when the caller has them already."""
    import numpy as np

    n = len(requests)
    if n == 0:
        return np.zeros((0, fitted.dim))
    parts: list[np.ndarray] = []
    if fitted.spec.text:
        if embeddings is None:
            emb_id = (embedder or _default_embedder()).id
            if emb_id != fitted.embedder:
                raise ConfigError(
                    f"the rule was trained on embeddings of {fitted.embedder}, not {emb_id}",
                    field="features.embedder",
                    hint="serve it with the embedder it was trained with, or retrain it",
                )
            embeddings = np.hstack(
                [
                    _embed(embedder, [str(r["vars"].get(t, "")) for r in requests])
                    for t in fitted.spec.text
                ]
            )
        parts.append(np.asarray(embeddings, dtype=np.float64).reshape(n, -1))
    if fitted.means:
        nums = np.empty((n, len(fitted.means)))
        for j, name in enumerate(fitted.spec.numeric):
            for i, r in enumerate(requests):
                x = _number(r["vars"], name)
                nums[i, j] = 0.0 if x is None else (x - fitted.means[j]) / fitted.scales[j]
        parts.append(nums)
    for name, values in fitted.vocab.items():
        index = {v: k for k, v in enumerate(values)}
        onehot = np.zeros((n, len(values)))
        for i, r in enumerate(requests):
            k = index.get(_category(r, name) or "")
            if k is not None:
                onehot[i, k] = 1.0
        parts.append(onehot)
    return np.hstack(parts) if parts else np.zeros((n, 0))


def _default_embedder() -> Embedder:
    from ..embedding import get_embedder

    return get_embedder()


def _embed(emb: Embedder | None, texts: list[str]) -> np.ndarray:
    """L2-normalised rows. The default embedder goes through the shared cache (a text seen
    in training or by another rule is not embedded again); one passed explicitly is called
    as it is, under its lock (models are not re-entrant)."""
    import numpy as np

    from ..embedding import embed, normalize

    if emb is None:
        return np.asarray(embed(texts), dtype=np.float64)
    with emb.lock:
        v = emb.encode(texts)
    return np.asarray(normalize(np.asarray(v)), dtype=np.float64)
