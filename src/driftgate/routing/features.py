"""What a routing rule reads from a request: its segment, categorical and numeric variables,
and text variables embedded by the local embedder, as one vector per request.

The fitted part (vocabularies, means and scales, the embedder's id) is stored inside the
rule, so serving builds exactly the vectors training built; an unseen category is all
zeros, a missing number its training mean.
"""

from __future__ import annotations

import functools
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
    text_dims: int | None = Field(
        None,
        ge=1,
        description="Reduce each text variable's embedding to this many principal components "
        "of the training requests' embeddings (fewer coefficients to fit); unset: all.",
    )


class FittedFeatures(Strict):
    spec: FeatureSpec
    vocab: dict[str, list[str]] = Field(default_factory=dict)
    means: list[float] = Field(default_factory=list)
    scales: list[float] = Field(default_factory=list)
    embedder: str | None = None
    text_dim: int = Field(0, description="The embedder's dimension.")
    centers: dict[str, list[float]] = Field(
        default_factory=dict, description="Per reduced text variable: the embeddings' mean."
    )
    projections: dict[str, list[list[float]]] = Field(
        default_factory=dict, description="Per reduced text variable: text_dim rows of k."
    )

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
        self._check_reduction()
        return self

    def _check_reduction(self) -> None:
        reduced = set(self.spec.text) if self.spec.text_dims else set()
        if set(self.projections) != reduced or set(self.centers) != reduced:
            raise ValueError("projections and centers: one per text variable when reduced")
        for name, rows in self.projections.items():
            k = len(rows[0]) if rows else 0
            if (
                len(rows) != self.text_dim
                or len(self.centers[name]) != self.text_dim
                or not (0 < k <= (self.spec.text_dims or 0) and all(len(r) == k for r in rows))
            ):
                raise ValueError(f"projection of {name!r}: text_dim rows of k ≤ text_dims")
            values = [*self.centers[name], *(x for r in rows for x in r)]
            if not all(math.isfinite(x) for x in values):
                raise ValueError(f"projection of {name!r}: finite numbers only")

    @functools.cached_property
    def arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Arrays built from the lists, once (a cached property: not a field, not compared,
        not serialized)."""
        return {}

    def projection(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(center, text_dim × k matrix) of a reduced text variable, as arrays built once
        (from lists on every request they would cost more than the rest of choosing)."""
        import numpy as np

        found = self.arrays.get(name)
        if found is None:
            found = (np.asarray(self.centers[name]), np.asarray(self.projections[name]))
            self.arrays[name] = found
        return found

    def text_width(self, name: str) -> int:
        """Columns a text variable takes in a feature row."""
        rows = self.projections.get(name)
        return len(rows[0]) if rows else self.text_dim

    @property
    def dim(self) -> int:
        cats = sum(len(v) for v in self.vocab.values())
        text = sum(self.text_width(t) for t in self.spec.text)
        return text + len(self.means) + cats


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
    centers: dict[str, list[float]] = {}
    projections: dict[str, list[list[float]]] = {}
    if spec.text:
        emb_id = (embedder or _default_embedder()).id
        dim = int(_embed(embedder, ["x"]).shape[1])
        for name in spec.text if spec.text_dims and requests else ():
            e = _embed(embedder, [_text(r, name) for r in requests])
            centers[name], projections[name] = _principal(e, spec.text_dims or dim)
    return FittedFeatures(
        spec=spec, vocab=vocab, means=means, scales=scales, embedder=emb_id, text_dim=dim,
        centers=centers, projections=projections,
    )  # fmt: skip


def _principal(e: np.ndarray, k: int) -> tuple[list[float], list[list[float]]]:
    """The mean of embeddings `e` and their top `k` principal directions (text_dim × k)."""
    import numpy as np

    center = e.mean(axis=0)
    _, _, vt = np.linalg.svd(e - center, full_matrices=False)
    k = max(1, min(k, vt.shape[0]))
    return [float(x) for x in center], vt[:k].T.tolist()


def _text(request: RequestFeatures, name: str) -> str:
    return str(request["vars"].get(name, ""))


def embed_requests(
    fitted: FittedFeatures, requests: Sequence[RequestFeatures], *, embedder: Embedder | None = None
) -> np.ndarray:
    """The requests' text variables embedded (n × text_dim each, side by side): what
    `featurize` accepts as `embeddings`, so a caller can embed once and choose many times."""
    import numpy as np

    emb_id = (embedder or _default_embedder()).id
    if emb_id != fitted.embedder:
        raise ConfigError(
            f"the rule was trained on embeddings of {fitted.embedder}, not {emb_id}",
            field="features.embedder",
            hint="serve it with the embedder it was trained with, or retrain it",
        )
    return np.hstack([_embed(embedder, [_text(r, t) for r in requests]) for t in fitted.spec.text])


def featurize(
    fitted: FittedFeatures,
    requests: Sequence[RequestFeatures],
    *,
    embedder: Embedder | None = None,
    embeddings: np.ndarray | None = None,
) -> np.ndarray:
    """One row per request. `embeddings` (`embed_requests`: n × text_dim per text
    variable, side by side) may be passed when the caller has them already."""
    import numpy as np

    n = len(requests)
    if n == 0:
        return np.zeros((0, fitted.dim))
    parts: list[np.ndarray] = []
    if fitted.spec.text:
        if embeddings is None:
            embeddings = embed_requests(fitted, requests, embedder=embedder)
        e = np.asarray(embeddings, dtype=np.float64).reshape(n, -1)
        for j, name in enumerate(fitted.spec.text):
            block = e[:, j * fitted.text_dim : (j + 1) * fitted.text_dim]
            if name in fitted.projections:
                center, matrix = fitted.projection(name)
                block = (block - center) @ matrix
            parts.append(block)
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
