"""What a rule reads: the fitted part matches its spec, serving builds the vectors training
built, one batch is embedded in one call, and a rule file's fitted part is checked."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from driftgate.embedding import Embedder
from driftgate.errors import ConfigError
from driftgate.routing import FeatureSpec, FittedFeatures, featurize, fit_features
from driftgate.routing.features import SEGMENT, embed_requests


class CountingEmbedder(Embedder):
    """Two dimensions (text length, a constant), counting its calls and texts."""

    def __init__(self, id: str = "fake-count") -> None:
        super().__init__(id)
        self.calls: list[int] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return np.array([[float(len(t)), 3.0] for t in texts])


REQUESTS = [
    {"vars": {"text": "abcd", "amount": 10, "bank": "lumen"}, "segment": "new"},
    {"vars": {"text": "ab", "amount": 30, "bank": "harbour"}, "segment": "old"},
    {"vars": {"text": "abcdef", "amount": "n/a", "bank": "lumen"}, "segment": None},
]


def test_fit_and_featurize_every_kind_of_feature() -> None:
    spec = FeatureSpec(text=["text"], numeric=["amount", "len:text"], categorical=["bank"])
    emb = CountingEmbedder()
    fitted = fit_features(spec, REQUESTS, embedder=emb)  # type: ignore[arg-type]
    assert fitted.vocab == {"bank": ["harbour", "lumen"], SEGMENT: ["new", "old"]}
    assert fitted.means == [20.0, 4.0] and fitted.embedder == "fake-count"
    assert fitted.text_dim == 2 and fitted.dim == 2 + 2 + 2 + 2
    x = featurize(fitted, REQUESTS, embedder=emb)  # type: ignore[arg-type]
    assert x.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(x[:, :2], axis=1), 1.0)  # L2-normalised
    assert x[0, 2] == pytest.approx(-1.0) and x[1, 2] == pytest.approx(1.0)
    assert x[2, 2] == 0.0  # not a number: the training mean
    assert list(x[2, 6:]) == [0.0, 0.0]  # no segment: no column set
    unseen = featurize(fitted, [{"vars": {"bank": "zeta"}, "segment": "x"}], embedder=emb)
    assert list(unseen[0, 4:]) == [0.0, 0.0, 0.0, 0.0]  # an unseen category: all zeros
    assert featurize(fitted, [], embedder=emb).shape == (0, 8)


def test_one_batch_is_embedded_in_one_call() -> None:
    emb = CountingEmbedder()
    fitted = fit_features(FeatureSpec(text=["text"]), REQUESTS, embedder=emb)  # type: ignore[arg-type]
    emb.calls.clear()
    featurize(fitted, REQUESTS * 40, embedder=emb)  # type: ignore[arg-type]
    assert emb.calls == [120]


def test_another_embedder_at_serving_is_refused() -> None:
    fitted = fit_features(FeatureSpec(text=["text"]), REQUESTS, embedder=CountingEmbedder())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="fake-count, not fake-other") as err:
        featurize(fitted, REQUESTS, embedder=CountingEmbedder("fake-other"))  # type: ignore[arg-type]
    assert err.value.field == "features.embedder"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"means": [0.0]}, "one value per numeric"),
        ({"scales": [0.0, 1.0]}, "scales finite and positive"),
        ({"means": [float("inf"), 0.0]}, "means must be finite"),
        ({"vocab": {"bank": ["a"]}}, "one entry per categorical"),
        ({"embedder": None}, "embedder's id"),
    ],
)
def test_a_fitted_part_that_does_not_match_its_spec_is_refused(
    change: dict[str, object], message: str
) -> None:
    spec = FeatureSpec(text=["text"], numeric=["amount", "len:text"], categorical=["bank"])
    fitted = fit_features(spec, REQUESTS, embedder=CountingEmbedder())  # type: ignore[arg-type]
    data = {**fitted.model_dump(), **change}
    with pytest.raises(ValidationError, match=message):
        FittedFeatures.model_validate(data)


class Spread(Embedder):
    """Four dimensions: most of the variance in the first (text length), a little in the
    second, none in the other two."""

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.array([[len(t), 0.1 * (len(t) % 2), 1.0, 1.0] for t in texts], dtype=float)


def test_text_embeddings_reduced_to_their_principal_components() -> None:
    rows = [{"vars": {"text": "x" * k}, "segment": None} for k in range(1, 41)]
    emb = Spread("fake-spread")
    fitted = fit_features(FeatureSpec(text=["text"], text_dims=2, segment=False), rows,  # type: ignore[arg-type]
                          embedder=emb)  # fmt: skip
    assert fitted.dim == 2 and len(fitted.projections["text"]) == 4
    x = featurize(fitted, rows, embedder=emb)  # type: ignore[arg-type]
    assert x.shape == (40, 2)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-9)  # centered on training
    assert x[:, 0].var() > x[:, 1].var()  # the first component carries the most
    # From the stored JSON: the same vectors, and equal to the fitted part it came from.
    back = FittedFeatures.model_validate_json(fitted.model_dump_json())
    assert back == fitted
    np.testing.assert_allclose(featurize(back, rows, embedder=emb), x)  # type: ignore[arg-type]
    raw = embed_requests(back, rows, embedder=emb)  # type: ignore[arg-type]
    np.testing.assert_allclose(featurize(back, rows, embeddings=raw), x)  # type: ignore[arg-type]
    broken = fitted.model_dump()
    broken["projections"]["text"] = broken["projections"]["text"][:3]
    with pytest.raises(ValidationError, match="text_dim rows"):
        FittedFeatures.model_validate(broken)
