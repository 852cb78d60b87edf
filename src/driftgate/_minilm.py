"""The default embedder's runtime: a BERT encoder (all-MiniLM-L6-v2) in plain torch.

Why not sentence-transformers: `import sentence_transformers` pulls in transformers' model
code, most of its load time (`embedder_load_s_sentence_transformers` against `embedder_load_s`,
bench/local_model.py), for a 6-layer encoder that is ~60 lines of arithmetic.
This file runs the same pipeline from the same model folder, needing only torch,
safetensors and tokenizers: the folder's `modules.json` must be Transformer (a BERT model),
Pooling (mean) and optionally Normalize; anything else is refused with a `ConfigError` so
the caller keeps sentence-transformers. tests/test_minilm.py holds the vectors to
sentence-transformers' own (cosine >= 1 - 1e-5, on truncated, empty and non-ASCII texts too).

Texts are sorted by token count and padded per batch, so a batch of short texts does not pay
for one long one; padded positions are masked out of attention and pooling, so a text's
vector does not depend on its neighbours (to float rounding).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError

BATCH = 64  # texts per forward pass: the fastest of 16-480 on 2 cores (embedder_sentences_per_s)
BATCH_TOKENS = 4096  # padded tokens per forward pass, for long texts
_PIPELINES = (("Transformer", "Pooling"), ("Transformer", "Pooling", "Normalize"))


@dataclass(frozen=True)
class Pipeline:
    """What a sentence-transformers folder asks for, as far as this runtime supports it."""

    folder: Path
    max_seq_length: int
    normalize: bool
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    layer_norm_eps: float


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("missing: not a sentence-transformers BERT folder", path=path) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable: {exc}", path=path) from None


def read_pipeline(folder: Path) -> Pipeline:
    """Check that `folder` is Transformer (BERT) + mean Pooling (+ Normalize); reads only
    small JSON files. Raises ConfigError naming the file that does not fit."""
    modules_path = folder / "modules.json"
    modules = _read_json(modules_path)
    if not isinstance(modules, list):
        raise ConfigError("expected a list of modules", path=modules_path)
    kinds = tuple(str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules)
    if kinds not in _PIPELINES or modules[0].get("path", "") not in ("", "."):
        raise ConfigError(
            f"pipeline {list(kinds)} is not Transformer + Pooling (+ Normalize) "
            "with the transformer at the folder root",
            path=modules_path,
            hint="the sentence-transformers runtime handles this model",
        )
    pool_path = folder / str(modules[1].get("path", "")) / "config.json"
    pool = _read_json(pool_path)
    modes = {k for k, v in pool.items() if k.startswith("pooling_mode") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        raise ConfigError(f"pooling {sorted(modes)} is not mean pooling only", path=pool_path)
    config_path = folder / "config.json"
    cfg = _read_json(config_path)
    if (
        cfg.get("model_type") != "bert"
        or cfg.get("hidden_act", "gelu") != "gelu"
        or cfg.get("position_embedding_type", "absolute") != "absolute"
    ):
        raise ConfigError("not a BERT model with absolute positions and GELU", path=config_path)
    st_path = folder / "sentence_bert_config.json"
    st = _read_json(st_path) if st_path.is_file() else {}
    if st.get("do_lower_case"):
        raise ConfigError("do_lower_case=true is not supported here", path=st_path)
    if not (folder / "tokenizer.json").is_file():
        raise ConfigError("missing: the fast runtime needs tokenizer.json", path=folder)
    limit = int(cfg["max_position_embeddings"])
    return Pipeline(
        folder=folder,
        max_seq_length=min(int(st.get("max_seq_length") or limit), limit),
        normalize=len(kinds) == 3,
        hidden_size=int(cfg["hidden_size"]),
        num_hidden_layers=int(cfg["num_hidden_layers"]),
        num_attention_heads=int(cfg["num_attention_heads"]),
        layer_norm_eps=float(cfg.get("layer_norm_eps", 1e-12)),
    )


def supported(folder: Path) -> bool:
    """True when `read_pipeline(folder)` accepts the folder (no torch import)."""
    try:
        read_pipeline(folder)
    except ConfigError:
        return False
    return True


def _load_weights(folder: Path) -> dict[str, Any]:
    """Tensors by name without a "bert." prefix: model.safetensors, else pytorch_model.bin."""
    import torch

    st_file, bin_file = folder / "model.safetensors", folder / "pytorch_model.bin"
    if st_file.is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            raw = load_file(str(st_file))
        except SafetensorError as exc:
            raise ConfigError(f"unreadable weights: {exc}", path=st_file) from None
    elif bin_file.is_file():
        raw = torch.load(str(bin_file), map_location="cpu", weights_only=True)
    else:
        raise ConfigError("no model.safetensors or pytorch_model.bin", path=folder)
    return {k.removeprefix("bert."): v for k, v in raw.items()}


class MiniLMEncoder:
    """Tokenizer + weights + forward pass. Not re-entrant (the caller holds a lock)."""

    def __init__(self, folder: Path, *, batch_size: int = BATCH) -> None:
        import torch
        from tokenizers import Tokenizer

        self.torch = torch
        self.pipeline = p = read_pipeline(folder)
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # tokenizer.json carries its own padding/truncation (128); sentence-transformers
        # truncates at max_seq_length and pads per batch, as done here.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=p.max_seq_length)
        w = _load_weights(folder)
        try:
            self.word = w["embeddings.word_embeddings.weight"]
            self.position = w["embeddings.position_embeddings.weight"]
            self.token_type = w["embeddings.token_type_embeddings.weight"][0]
            self.embed_norm = self._norm(w, "embeddings.LayerNorm")
            self.layers = [
                self._layer(w, f"encoder.layer.{i}.") for i in range(p.num_hidden_layers)
            ]
        except KeyError as exc:
            raise ConfigError(f"weights lack tensor {exc}", path=folder) from None

    @staticmethod
    def _norm(w: dict[str, Any], name: str) -> tuple[Any, Any]:
        return w[f"{name}.weight"], w[f"{name}.bias"]

    def _layer(self, w: dict[str, Any], p: str) -> tuple[Any, ...]:
        cat = self.torch.cat
        names = [f"{p}attention.self.{n}" for n in ("query", "key", "value")]
        # One matmul for q, k and v: fewer, larger ops.
        qkv = cat([w[n + ".weight"] for n in names]), cat([w[n + ".bias"] for n in names])
        return (
            qkv,
            self._norm(w, f"{p}attention.output.dense"),
            self._norm(w, f"{p}attention.output.LayerNorm"),
            self._norm(w, f"{p}intermediate.dense"),
            self._norm(w, f"{p}output.dense"),
            self._norm(w, f"{p}output.LayerNorm"),
        )

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """WordPiece ids with [CLS] ... [SEP], truncated to max_seq_length."""
        return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, hidden) float32 sentence vectors in input order."""
        out = np.zeros((len(texts), self.pipeline.hidden_size), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        with self.torch.inference_mode():
            for part in self._batches([len(seq) for seq in ids]):
                out[part] = self._forward([ids[i] for i in part]).numpy()
        return out

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Indices by token count, cut into batches of at most `batch_size` texts and
        `BATCH_TOKENS` padded tokens (long texts go a few at a time)."""
        batches: list[list[int]] = [[]]
        for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
            last = batches[-1]
            if last and (
                len(last) >= self.batch_size or (len(last) + 1) * lengths[i] > BATCH_TOKENS
            ):
                batches.append(last := [])
            last.append(i)
        return batches

    def _forward(self, batch: list[list[int]]) -> Any:
        torch, p = self.torch, self.pipeline
        F = torch.nn.functional
        n, length = len(batch), max(len(b) for b in batch)
        heads = p.num_attention_heads
        d, h = p.hidden_size // heads, p.hidden_size
        ids = torch.zeros((n, length), dtype=torch.long)  # 0 = [PAD]
        keep = torch.zeros((n, length), dtype=torch.bool)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = torch.tensor(seq)
            keep[row, : len(seq)] = True
        # Padded keys are masked out; no mask at all when nothing is padded.
        mask = None if bool(keep.all()) else keep[:, None, None, :]
        x = F.embedding(ids, self.word) + self.position[:length] + self.token_type
        x = F.layer_norm(x, (h,), *self.embed_norm, eps=p.layer_norm_eps)
        for qkv, attn_out, norm1, up, down, norm2 in self.layers:
            q, k, v = (
                t.view(n, length, heads, d).transpose(1, 2)
                for t in F.linear(x, *qkv).split(h, dim=-1)
            )
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            a = F.linear(a.transpose(1, 2).reshape(n, length, h), *attn_out)
            x = F.layer_norm(x + a, (h,), *norm1, eps=p.layer_norm_eps)
            f = F.linear(F.gelu(F.linear(x, *up)), *down)
            x = F.layer_norm(x + f, (h,), *norm2, eps=p.layer_norm_eps)
        weights = keep.unsqueeze(-1).to(x.dtype)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1) if p.normalize else pooled
