"""The torch decoder on a tiny random checkpoint: chunked prompt reading and its prefix cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from driftgate.providers import _llama  # noqa: E402

HIDDEN, HEADS, KV, FFN, VOCAB, LAYERS = 16, 4, 2, 24, 50, 2


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from safetensors.numpy import save_file

    out = tmp_path_factory.mktemp("tiny-llama")
    rng = np.random.default_rng(3)
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
    save_file({k: v.astype(np.float32) for k, v in w.items()}, str(out / "model.safetensors"))
    config = {
        "model_type": "llama", "hidden_size": HIDDEN, "intermediate_size": FFN,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV,
        "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": True, "vocab_size": VOCAB,
    }  # fmt: skip
    (out / "config.json").write_text(json.dumps(config))
    return out


PROMPT = [int(x) for x in np.random.default_rng(5).integers(3, VOCAB, 300)]  # 3 chunks: 128+128+44


def argmax(logits: object) -> int:
    return int(torch.argmax(logits))


def test_chunked_reading_equals_one_pass(folder: Path) -> None:
    model = _llama.LlamaModel(folder)
    with torch.inference_mode():
        one_pass = model.forward(PROMPT, model.new_cache(len(PROMPT)), 0)
        chunked = model._read_prompt(PROMPT, model.new_cache(len(PROMPT)))
    torch.testing.assert_close(chunked, one_pass, rtol=1e-5, atol=1e-5)


def test_prefix_cache_changes_speed_not_output(folder: Path) -> None:
    cold = _llama.LlamaModel(folder)
    warm = _llama.LlamaModel(folder)
    other = [7, 8, 9, *PROMPT[3:]]  # differs in the first chunk: shares nothing
    warm.generate(other, 4, eos=set(), pick=argmax)
    warm.generate(PROMPT[:260] + [1, 2], 4, eos=set(), pick=argmax)  # shares 2 whole chunks
    assert len(warm.prefix_cache) == 4 and warm.prefix_cache.hits == 0
    with torch.inference_mode():
        expected = cold._read_prompt(PROMPT, cold.new_cache(len(PROMPT)))
        got = warm._read_prompt(PROMPT, warm.new_cache(len(PROMPT)))
    assert warm.prefix_cache.hits == 2  # both whole chunks reused; the last one computed
    assert torch.equal(got, expected)  # bit for bit
    assert warm.generate(PROMPT, 8, eos=set(), pick=argmax) == cold.generate(
        PROMPT, 8, eos=set(), pick=argmax
    )


def test_generate_stops_at_eos_stop_and_length(folder: Path) -> None:
    model = _llama.LlamaModel(folder)
    ids, finish = model.generate(PROMPT[:10], 6, eos=set(), pick=argmax)
    assert len(ids) == 6 and finish == "length"
    first = ids[0]
    assert model.generate(PROMPT[:10], 6, eos={first}, pick=argmax) == ([], "stop")
    ids, finish = model.generate(PROMPT[:10], 6, eos=set(), pick=argmax, stop=lambda t: len(t) == 2)
    assert len(ids) == 2 and finish == "stop"
    assert model.generate(PROMPT[:10], 0, eos=set(), pick=argmax) == ([], "length")


def test_prefix_cache_is_bounded() -> None:
    cache = _llama.PrefixCache(max_bytes=3 * 400)
    entry = lambda: [(torch.zeros(50), torch.zeros(50))]  # noqa: E731 - 400 bytes
    keys = [cache.key(b"", [i]) for i in range(5)]
    for k in keys:
        cache.put(k, entry())
    assert len(cache) == 3 and cache.bytes == 1200
    assert cache.get(keys[0]) is None and cache.get(keys[4]) is not None  # oldest evicted
    cache.put(cache.key(b"", [99]), [(torch.zeros(1000), torch.zeros(1000))])  # too big: skipped
    assert len(cache) == 3
    assert cache.key(b"", [1, 2]) != cache.key(cache.key(b"", [1]), [2])  # chained, not flat


def test_bad_config_is_a_clear_error(tmp_path: Path, folder: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mistral"}))
    with pytest.raises(ValueError, match="model_type 'mistral' is not 'llama'"):
        _llama.LlamaModel(tmp_path)
