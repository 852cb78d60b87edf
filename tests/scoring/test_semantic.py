"""semantic-similarity and embedding-label, on a table embedder (no torch)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import numpy as np
import pytest

import driftgate.embedding as E
from driftgate.errors import ConfigError
from driftgate.scoring import ScoreContext, build_scorer

VECTORS = {
    "Paris": [1.0, 0.0, 0.0],
    "paris, france": [0.9, 0.1, 0.0],
    "The capital is Paris.": [0.8, 0.6, 0.0],
    "Berlin": [0.0, 1.0, 0.0],
    "billing": [0.0, 0.0, 1.0],
    "shipping": [1.0, 0.0, 0.0],
    "an invoice or a charge": [0.0, 0.2, 1.0],
    "my card was charged twice": [0.1, 0.2, 0.9],
    "where is my parcel": [0.9, 0.3, 0.1],
}


class Table(E.Embedder):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return np.array([VECTORS[t] for t in texts])


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path))
    prefix = f"semtable{uuid.uuid4().hex[:8]}"
    E.register_embedder(prefix, lambda rest: Table(f"{prefix}/{rest}"))
    return f"{prefix}/t"


def run(scorer, ctx: ScoreContext):  # noqa: ANN001, ANN201 - test helper
    return asyncio.run(scorer.evaluate(ctx))


def test_similarity_is_the_cosine_to_the_reference(model: str) -> None:
    s = build_scorer({"type": "semantic-similarity", "model": model})
    score = run(
        s, ScoreContext(output="The capital is Paris.", reference="Paris", expected="ignored")
    )
    assert score.value == pytest.approx(0.8, abs=1e-6)
    assert score.passed  # default threshold 0.8
    low = run(s, ScoreContext(output="Berlin", expected="Paris"))
    assert low.value == pytest.approx(0.0, abs=1e-6) and not low.passed
    assert "cosine 0.000 < 0.8" in low.reason


def test_similarity_threshold_and_best_of_several_values(model: str) -> None:
    s = build_scorer(
        {
            "type": "semantic-similarity",
            "model": model,
            "threshold": 0.95,
            "value": ["Berlin", "paris, france"],
        }
    )
    score = run(s, ScoreContext(output="Paris"))
    assert score.value == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-6)
    assert score.passed and "'paris, france'" in score.reason


def test_similarity_errors_never_pass(model: str) -> None:
    s = build_scorer({"type": "semantic-similarity", "model": model})
    no_output = run(s, ScoreContext(output=None, expected="Paris"))
    assert no_output.error and not no_output.passed
    nothing = run(s, ScoreContext(output="Paris", case_id="c1"))
    assert nothing.error and "nothing to compare with" in nothing.error
    negated = run(
        build_scorer({"type": "not-semantic-similarity", "model": model}),
        ScoreContext(output=None, expected="x"),
    )
    assert negated.error and not negated.passed


def test_similarity_rejects_bad_options() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        build_scorer({"type": "semantic-similarity", "threshold": 2})
    with pytest.raises(ConfigError, match="unknown option"):
        build_scorer({"type": "semantic-similarity", "treshold": 0.5})


def test_embedding_label_picks_the_nearest_label(model: str) -> None:
    s = build_scorer({"type": "embedding-label", "model": model, "labels": ["billing", "shipping"]})
    ok = run(s, ScoreContext(output="where is my parcel", expected="Shipping"))
    assert ok.passed and ok.value == 1.0
    assert ok.data["predicted"] == "shipping"
    assert ok.data["similarity"] == pytest.approx(0.9 / np.linalg.norm([0.9, 0.3, 0.1]), abs=1e-4)
    assert ok.data["margin"] > 0.5
    wrong = run(s, ScoreContext(output="my card was charged twice", expected="shipping"))
    assert not wrong.passed and wrong.value == 0.0 and wrong.data["predicted"] == "billing"


def test_embedding_label_uses_prompt_labels_and_descriptions(model: str) -> None:
    s = build_scorer(
        {
            "type": "embedding-label",
            "model": model,
            "descriptions": {"billing": "an invoice or a charge"},
        }
    )
    score = run(
        s,
        ScoreContext(
            output="my card was charged twice", expected="billing", labels=["billing", "shipping"]
        ),
    )
    assert score.passed and score.data["predicted"] == "billing"
    missing = run(s, ScoreContext(output="my card was charged twice", expected="billing"))
    assert missing.error and "needs `labels`" in missing.error


def test_labels_and_references_are_embedded_once(model: str) -> None:
    s = build_scorer({"type": "embedding-label", "model": model, "labels": ["billing", "shipping"]})

    async def many() -> list:
        ctxs = [
            ScoreContext(output=o, expected="shipping")
            for o in ["where is my parcel", "my card was charged twice"] * 5
        ]
        return await asyncio.gather(*(s.evaluate(c) for c in ctxs))

    results = asyncio.run(many())
    assert [r.passed for r in results] == [True, False] * 5
    assert E.get_embedder(model).calls == 1  # ten concurrent cases: one batch, four texts
