import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from driftgate.artifacts.index import (
    IndexSpec,
    RetrievalIndex,
    find_index_spec,
    load_index,
    load_index_spec,
)
from driftgate.errors import ConfigError, UnknownNameError

CORPUS = [
    {"id": "m1", "text": "TESCO STORES 2231 LONDON", "label": "groceries", "source": "a"},
    {"id": "m2", "text": "SHELL 5521 LEEDS", "label": "fuel", "source": "a"},
    {"id": "m3", "text": "NETFLIX.COM INTERNET", "label": "entertainment", "source": "b"},
    {"id": "m4", "text": "TESCO PFS 0042 BRISTOL", "label": "fuel", "source": "b"},
    {"id": "m5", "text": "PRET A MANGER LONDON", "label": "dining", "source": "b"},
]


class FakeEmbedder:
    """Deterministic hashed character-trigram vectors: similar strings, similar vectors."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.calls: list[int] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for r, text in enumerate(texts):
            t = f"  {text.lower()}  "
            for i in range(len(t) - 2):
                out[r, zlib.crc32(t[i : i + 3].encode()) % self.dim] += 1.0
        return out


def _workspace(tmp_path: Path, rows=CORPUS) -> Path:
    (tmp_path / "evalsets").mkdir(exist_ok=True)
    (tmp_path / "evalsets" / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


SPEC = IndexSpec(name="merchants", corpus="evalsets/corpus.jsonl", k=3)


def test_build_stores_and_searches(tmp_path: Path):
    root = _workspace(tmp_path)
    embed = FakeEmbedder()
    index = RetrievalIndex.build(SPEC, root, tmp_path / "cache", embed=embed, embedder_id="fake-64")
    assert embed.calls == [5]
    assert index.path == tmp_path / "cache" / "indexes" / f"{index.digest}.npz"
    assert index.path.is_file()
    assert index.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(index.vectors, axis=1), 1.0, rtol=1e-5)

    hits = index.search("TESCO STORES 2231 LONDON")
    assert len(hits) == 3  # spec.k
    assert hits[0]["id"] == "m1" and hits[0]["label"] == "groceries" and hits[0]["source"] == "a"
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert len(index.search("tesco", k=50)) == 5  # clipped to the corpus size


def test_search_many_matches_search_in_one_call(tmp_path: Path):
    embed = FakeEmbedder()
    index = RetrievalIndex.build(
        SPEC, _workspace(tmp_path), tmp_path / "c", embed=embed, embedder_id="f"
    )
    queries = ["SHELL 5521", "NETFLIX", "TESCO PFS 42 BRISTOL"]
    embed.calls.clear()
    batched = index.search_many(queries, k=2)
    assert embed.calls == [3]
    single = [index.search(q, k=2) for q in queries]
    assert [[h["id"] for h in hits] for hits in batched] == [
        [h["id"] for h in hits] for hits in single
    ]
    # float32 matrix-matrix and matrix-vector products may differ in the last bits
    assert [h["score"] for h in batched[2]] == pytest.approx(
        [h["score"] for h in single[2]], abs=1e-6
    )
    assert [hits[0]["id"] for hits in batched] == ["m2", "m3", "m4"]
    assert index.search_many([]) == []


def test_reload_from_cache_without_embedding_the_corpus(tmp_path: Path):
    root = _workspace(tmp_path)
    first = RetrievalIndex.build(SPEC, root, tmp_path / "c", embed=FakeEmbedder(), embedder_id="f")
    embed = FakeEmbedder()
    again = RetrievalIndex.build(SPEC, root, tmp_path / "c", embed=embed, embedder_id="f")
    assert embed.calls == []  # loaded, not re-embedded
    assert again.digest == first.digest
    np.testing.assert_array_equal(again.vectors, first.vectors)
    assert again.rows == first.rows
    assert again.search("SHELL 5521 LEEDS", k=1)[0]["id"] == "m2"
    opened = RetrievalIndex.open(first.path, SPEC, embed=embed)
    assert opened.digest == first.digest


def test_digest_tracks_corpus_and_embedder_not_k(tmp_path: Path):
    root = _workspace(tmp_path)
    cache = tmp_path / "c"
    base = RetrievalIndex.build(SPEC, root, cache, embed=FakeEmbedder(), embedder_id="f1")
    other_embedder = RetrievalIndex.build(SPEC, root, cache, embed=FakeEmbedder(), embedder_id="f2")
    other_k = RetrievalIndex.build(
        SPEC.model_copy(update={"k": 1}), root, cache, embed=FakeEmbedder(), embedder_id="f1"
    )
    _workspace(root, [*CORPUS, {"id": "m6", "text": "BP 1 LEEDS", "label": "fuel"}])
    other_corpus = RetrievalIndex.build(SPEC, root, cache, embed=FakeEmbedder(), embedder_id="f1")
    assert other_embedder.digest != base.digest
    assert other_k.digest == base.digest
    assert other_corpus.digest not in (base.digest, other_embedder.digest)
    assert len(other_corpus) == 6
    # Every version stays on disk: rollback to an old index needs no rebuild.
    assert len(list((cache / "indexes").glob("*.npz"))) == 3


def test_corrupt_cache_file_is_rebuilt(tmp_path: Path):
    root = _workspace(tmp_path)
    built = RetrievalIndex.build(SPEC, root, tmp_path / "c", embed=FakeEmbedder(), embedder_id="f")
    built.path.write_bytes(b"not a zip")
    embed = FakeEmbedder()
    rebuilt = RetrievalIndex.build(SPEC, root, tmp_path / "c", embed=embed, embedder_id="f")
    assert embed.calls == [5]
    assert rebuilt.search("NETFLIX.COM INTERNET", k=1)[0]["id"] == "m3"
    with pytest.raises(ConfigError, match="not a readable"):
        built.path.write_bytes(b"junk")
        RetrievalIndex.open(built.path, SPEC)


def test_corpus_errors_name_file_and_line(tmp_path: Path):
    root = _workspace(tmp_path, [CORPUS[0], {"id": "x", "label": "fuel"}])
    with pytest.raises(ConfigError) as exc:
        RetrievalIndex.build(SPEC, root, tmp_path / "c", embed=FakeEmbedder(), embedder_id="f")
    assert exc.value.line == 2 and exc.value.field == "text"
    _workspace(tmp_path, [CORPUS[0], {**CORPUS[1], "id": "m1"}])
    with pytest.raises(ConfigError, match="duplicate row id 'm1'"):
        RetrievalIndex.build(SPEC, root, tmp_path / "c", embed=FakeEmbedder(), embedder_id="f")
    missing = SPEC.model_copy(update={"corpus": "evalsets/nope.jsonl"})
    with pytest.raises(ConfigError, match="not found"):
        RetrievalIndex.build(missing, root, tmp_path / "c", embed=FakeEmbedder())
    outside = SPEC.model_copy(update={"corpus": "../elsewhere.jsonl"})
    with pytest.raises(ConfigError, match="outside the workspace"):
        RetrievalIndex.build(outside, root, tmp_path / "c", embed=FakeEmbedder())


def test_bad_embedder_output_is_reported(tmp_path: Path):
    root = _workspace(tmp_path)
    with pytest.raises(ConfigError, match="shape"):
        RetrievalIndex.build(SPEC, root, tmp_path / "c", embed=lambda texts: np.zeros((1, 4)))
    with pytest.raises(ConfigError, match="NaN"):
        RetrievalIndex.build(
            SPEC, root, tmp_path / "c", embed=lambda t: np.full((len(t), 4), np.nan)
        )


def test_spec_files(tmp_path: Path):
    folder = tmp_path / "prompts" / "indexes"
    folder.mkdir(parents=True)
    (folder / "merchants.yaml").write_text("corpus: evalsets/corpus.jsonl\nk: 7\n")
    spec = find_index_spec(tmp_path / "prompts", "merchants")
    assert (spec.name, spec.k, spec.embedder, spec.text_field) == (
        "merchants",
        7,
        "all-MiniLM-L6-v2",
        "text",
    )
    with pytest.raises(UnknownNameError):
        find_index_spec(tmp_path / "prompts", "merchant")
    (folder / "bad.yaml").write_text("corpus: x.jsonl\nk: 0\n")
    with pytest.raises(ConfigError) as exc:
        load_index_spec(folder / "bad.yaml")
    assert exc.value.line == 2 and exc.value.field == "k"


def test_load_index_from_definition_file(tmp_path: Path):
    root = _workspace(tmp_path)
    folder = root / "prompts" / "indexes"
    folder.mkdir(parents=True)
    (folder / "m.yaml").write_text("corpus: evalsets/corpus.jsonl\nk: 2\n")
    embed = FakeEmbedder()
    index = load_index(
        folder / "m.yaml", workspace_root=root, cache_dir=tmp_path / "c", embed=embed
    )
    assert index.spec.name == "m"
    hits = index.retrieve("NETFLIX.COM INTERNET")
    assert [h["id"] for h in hits][:1] == ["m3"] and len(hits) == 2
    assert index.retriever()("SHELL 5521 LEEDS", k=1)[0]["label"] == "fuel"


def test_an_index_named_through_a_link_out_or_a_path_is_refused(tmp_path):
    from driftgate.artifacts import find_index_spec
    from driftgate.errors import ConfigError

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ix.yaml").write_text("corpus: c.jsonl\n")
    folder = tmp_path / "ws" / "prompts" / "indexes"
    folder.mkdir(parents=True)
    (folder / "ix.yaml").symlink_to(outside / "ix.yaml")
    with pytest.raises(ConfigError, match="outside the workspace"):
        find_index_spec(tmp_path / "ws" / "prompts", "ix")
    with pytest.raises(ConfigError, match="invalid retrieval index name"):
        find_index_spec(tmp_path / "ws" / "prompts", "..")
