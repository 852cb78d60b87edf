"""A tiny random Llama checkpoint with a character-level chat tokenizer, for fast tests of
the torch decoder, label scoring and the local provider (no download, no real model).

Not a conftest.py: tests import `conftest` by name (tests/conftest.py), so a second one
would shadow it. Test modules use `tiny_llama_folder` from a fixture of their own."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pytest

HIDDEN, HEADS, KV, FFN, VOCAB, LAYERS = 16, 4, 2, 24, 50, 2
SPECIALS = ["<unk>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2
CHARS = list(string.ascii_lowercase + "\n :?,.") + ["A", "P", "S", "F", "I", "L", "1", "2"]
TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    d = HIDDEN // HEADS
    w = {
        "model.embed_tokens.weight": rng.normal(size=(VOCAB, HIDDEN)),
        "model.norm.weight": 1 + rng.normal(size=HIDDEN) / 10,
    }
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        w |= {
            p + "input_layernorm.weight": 1 + rng.normal(size=HIDDEN) / 10,
            p + "post_attention_layernorm.weight": 1 + rng.normal(size=HIDDEN) / 10,
            p + "self_attn.q_proj.weight": rng.normal(size=(HIDDEN, HIDDEN)) / 4,
            p + "self_attn.k_proj.weight": rng.normal(size=(KV * d, HIDDEN)) / 4,
            p + "self_attn.v_proj.weight": rng.normal(size=(KV * d, HIDDEN)) / 4,
            p + "self_attn.o_proj.weight": rng.normal(size=(HIDDEN, HIDDEN)) / 4,
            p + "mlp.gate_proj.weight": rng.normal(size=(FFN, HIDDEN)) / 4,
            p + "mlp.up_proj.weight": rng.normal(size=(FFN, HIDDEN)) / 4,
            p + "mlp.down_proj.weight": rng.normal(size=(HIDDEN, FFN)) / 4,
        }  # fmt: skip
    return w


def _tokenizer(out: Path) -> None:
    """Character-level: every label is several tokens, and labels share prefix tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models

    vocab = {t: i for i, t in enumerate(SPECIALS + CHARS)}
    assert len(vocab) <= VOCAB
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([AddedToken(t, special=True) for t in SPECIALS[1:]])
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|im_end|>"}))
    (out / "chat_template.jinja").write_text(TEMPLATE)


def tiny_llama_folder(factory: pytest.TempPathFactory) -> Path:
    """Write the checkpoint once per session (a temporary folder) and return it."""
    global _FOLDER
    if _FOLDER is None:
        pytest.importorskip("torch")
        _FOLDER = _write(factory.mktemp("tiny-llama"))
    return _FOLDER


_FOLDER: Path | None = None


def _write(out: Path) -> Path:
    from safetensors.numpy import save_file

    w = _weights(np.random.default_rng(3))
    save_file({k: v.astype(np.float32) for k, v in w.items()}, str(out / "model.safetensors"))
    config = {
        "model_type": "llama", "hidden_size": HIDDEN, "intermediate_size": FFN,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV,
        "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": True, "vocab_size": VOCAB,
    }  # fmt: skip
    (out / "config.json").write_text(json.dumps(config))
    _tokenizer(out)
    return out
