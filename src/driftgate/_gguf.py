"""Convert a Llama-architecture GGUF file into a plain safetensors checkpoint, without torch.

`driftgate models pull` runs this once per model: it reads the GGUF (a header of typed
key/values, a table of tensors, then the tensor bytes), dequantizes every weight to float32
with numpy, undoes llama.cpp's rotary permutation of the query/key projections, and writes
a folder in Hugging Face's layout: `model.safetensors`, `config.json`, `tokenizer.json`,
`tokenizer_config.json`, `chat_template.jinja`. The result is tensor-for-tensor identical to
what transformers' GGUF loader produces (tests/test_gguf.py checks both), several times
faster (`gguf_convert_s` in docs/architecture.md, Measured figures): transformers' generic reader turns each of the 98,000
vocabulary strings into a numpy memmap slice, three times over.

Only what the registered models need is supported (architecture `llama`, a byte-level BPE
vocabulary, tensor types F32 / F16 / Q4_0 / Q4_1 / Q8_0); anything else is a `GGUFError`
that says what the file has.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import GGUFError as GGUFError  # defined there (one error tree), re-exported

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# Metadata value types (gguf spec): id -> struct format, or a marker for strings / arrays.
_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
    11: "<q", 12: "<d",
}  # fmt: skip
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8",
          11: "<i8", 12: "<f8"}  # fmt: skip
_STRING, _ARRAY = 8, 9

# Tensor types: id -> (name, elements per block, bytes per block).
_TENSOR_TYPES = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    8: ("Q8_0", 32, 34),
}

# GGUF tensor names -> Hugging Face Llama names (per block, then global).
_BLOCK_NAMES = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}

# llama.cpp token types: 3 = control (e.g. <|im_end|>), added to the tokenizer as special.
_CONTROL = 3


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # numpy order: slowest dimension first
    type_id: int
    offset: int  # from the start of the data section

    @property
    def type_name(self) -> str:
        return _TENSOR_TYPES.get(self.type_id, (f"type {self.type_id}", 0, 0))[0]

    @property
    def nbytes(self) -> int:
        _, block, size = _TENSOR_TYPES[self.type_id]
        return int(np.prod(self.shape)) // block * size


@dataclass(frozen=True)
class GGUFFile:
    path: Path
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    data_offset: int


class _Cursor:
    """Sequential little-endian reads over the file's bytes, with position-aware errors."""

    def __init__(self, buf: memoryview, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise GGUFError(
                f"{self.path}: truncated (needs byte {self.pos + n}, has {len(self.buf)})"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return bytes(self.take(self.scalar("<Q"))).decode("utf-8", errors="replace")

    def value(self, type_id: int) -> Any:
        if type_id in _SCALARS:
            return self.scalar(_SCALARS[type_id])
        if type_id == _STRING:
            return self.string()
        if type_id == _ARRAY:
            item_type, count = self.scalar("<I"), self.scalar("<Q")
            if item_type in _NUMPY:  # numeric arrays in one read
                dtype = np.dtype(_NUMPY[item_type])
                return np.frombuffer(self.take(count * dtype.itemsize), dtype=dtype).copy()
            return [self.value(item_type) for _ in range(count)]
        raise GGUFError(f"{self.path}: unknown metadata value type {type_id} at byte {self.pos}")


def read(path: Path) -> GGUFFile:
    """Parse the header, metadata and tensor table (the tensor bytes are read lazily)."""
    with open(path, "rb") as f:
        buf = memoryview(f.read())
    cur = _Cursor(buf, path)
    if bytes(cur.take(4)) != MAGIC:
        raise GGUFError(f"{path}: not a GGUF file (bad magic bytes)")
    version = cur.scalar("<I")
    if version not in (2, 3):
        raise GGUFError(f"{path}: GGUF version {version} is not supported (2 or 3)")
    n_tensors, n_kv = cur.scalar("<Q"), cur.scalar("<Q")
    metadata = {}
    for _ in range(n_kv):
        key = cur.string()
        metadata[key] = cur.value(cur.scalar("<I"))
    tensors = []
    for _ in range(n_tensors):
        name = cur.string()
        dims = [cur.scalar("<Q") for _ in range(cur.scalar("<I"))]
        type_id, offset = cur.scalar("<I"), cur.scalar("<Q")
        tensors.append(TensorInfo(name, tuple(reversed(dims)), type_id, offset))
    align = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
    data_offset = -(-cur.pos // align) * align
    for t in tensors:
        if t.type_id not in _TENSOR_TYPES:
            raise GGUFError(f"{path}: tensor {t.name} has type {t.type_name}, not supported here")
        if data_offset + t.offset + t.nbytes > len(buf):
            raise GGUFError(f"{path}: truncated (tensor {t.name} runs past the end of the file)")
    return GGUFFile(path, metadata, tensors, data_offset)


def dequantize(raw: np.ndarray, info: TensorInfo) -> np.ndarray:
    """float32 values of one tensor from its raw bytes (the ggml block formats)."""
    name, block, size = _TENSOR_TYPES[info.type_id]
    if name == "F32":
        return raw.view("<f4").reshape(info.shape)
    if name == "F16":
        return raw.view("<f2").astype(np.float32).reshape(info.shape)
    blocks = raw.reshape(-1, size)
    d = blocks[:, :2].view("<f2").astype(np.float32)
    if name == "Q8_0":
        q = blocks[:, 2:].view(np.int8).astype(np.float32)
        return (d * q).reshape(info.shape)
    # 4-bit blocks hold 32 values as 16 bytes: low nibbles are values 0-15, high ones 16-31.
    packed = blocks[:, 4:] if name == "Q4_1" else blocks[:, 2:]
    q = np.concatenate((packed & 0x0F, packed >> 4), axis=1).astype(np.float32)
    if name == "Q4_1":
        m = blocks[:, 2:4].view("<f2").astype(np.float32)
        return (d * q + m).reshape(info.shape)
    return (d * (q - 8)).reshape(info.shape)


def _unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's reordering of q/k rows: it interleaves the two rotary halves of each
    head (rows [a0 a1 .. b0 b1 ..] become [a0 b0 a1 b1 ..]); transformers' rotary expects halves."""
    half = w.shape[0] // n_head // 2
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _hf_name(name: str) -> str:
    if name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[name]
    parts = name.split(".")  # blk.N.attn_q.weight
    if len(parts) == 4 and parts[0] == "blk" and parts[2] in _BLOCK_NAMES:
        return f"model.layers.{parts[1]}.{_BLOCK_NAMES[parts[2]]}.{parts[3]}"
    raise GGUFError(f"unexpected tensor {name!r} for a llama model")


def _config(meta: dict[str, Any], path: Path, tied: bool) -> dict[str, Any]:
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise GGUFError(f"{path}: architecture {arch!r} is not supported (only 'llama')")

    def get(key: str) -> Any:
        try:
            return meta[f"llama.{key}"]
        except KeyError:
            raise GGUFError(f"{path}: metadata key llama.{key} is missing") from None

    hidden, heads = int(get("embedding_length")), int(get("attention.head_count"))
    tokens = meta["tokenizer.ggml.tokens"]
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_act": "silu",
        "hidden_size": hidden,
        "intermediate_size": int(get("feed_forward_length")),
        "num_hidden_layers": int(get("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(meta.get("llama.attention.head_count_kv", heads)),
        "head_dim": int(meta.get("llama.rope.dimension_count", hidden // heads)),
        "max_position_embeddings": int(get("context_length")),
        "rms_norm_eps": float(get("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(meta.get("llama.rope.freq_base", 10000.0)),
        "tie_word_embeddings": tied,
        "vocab_size": len(tokens),
        "bos_token_id": _int_or_none(meta.get("tokenizer.ggml.bos_token_id")),
        "eos_token_id": _int_or_none(meta.get("tokenizer.ggml.eos_token_id")),
        "pad_token_id": _int_or_none(meta.get("tokenizer.ggml.padding_token_id")),
        "torch_dtype": "float32",
    }


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


@lru_cache(maxsize=1)
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (byte-level BPE spells tokens in it)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


def _tokenizer_json(meta: dict[str, Any], path: Path) -> str:
    """A `tokenizers` byte-level BPE tokenizer from the vocabulary and merges in the file."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    if meta.get("tokenizer.ggml.model") != "gpt2":
        raise GGUFError(
            f"{path}: tokenizer {meta.get('tokenizer.ggml.model')!r} is not supported "
            "(only byte-level BPE, 'gpt2')"
        )
    spelling = _bytes_to_unicode()
    alphabet = set(spelling.values())
    tokens: list[str] = meta["tokenizer.ggml.tokens"]
    vocab = {
        t if set(t) <= alphabet else "".join(spelling[b] for b in t.encode("utf-8")): i
        for i, t in enumerate(tokens)
    }
    merges = [tuple(m.split(" ")) for m in meta.get("tokenizer.ggml.merges", [])]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    types = meta.get("tokenizer.ggml.token_type")
    if types is not None:
        tok.add_special_tokens(
            [
                AddedToken(t, special=True, normalized=False)
                for t, kind in zip(tokens, types.tolist(), strict=True)
                if kind == _CONTROL and set(t) <= alphabet
            ]
        )
    return tok.to_str()


def _tokenizer_config(meta: dict[str, Any]) -> dict[str, Any]:
    tokens = meta["tokenizer.ggml.tokens"]

    def token(key: str) -> str | None:
        i = meta.get(f"tokenizer.ggml.{key}")
        return None if i is None else tokens[int(i)]

    return {
        "bos_token": token("bos_token_id"),
        "eos_token": token("eos_token_id"),
        "pad_token": token("padding_token_id"),
        "unk_token": token("unknown_token_id"),
        "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token", False)),
    }


def convert(path: Path, out: Path) -> None:
    """Write the Hugging Face layout of the GGUF at `path` into the (existing) folder `out`."""
    from safetensors.numpy import save_file

    gguf = read(path)
    meta = gguf.metadata
    if "tokenizer.ggml.tokens" not in meta:
        raise GGUFError(f"{path}: no tokenizer vocabulary in the file")
    names = {t.name for t in gguf.tensors}
    config = _config(meta, path, tied="output.weight" not in names)
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    weights: dict[str, np.ndarray] = {}
    for info in gguf.tensors:
        start = gguf.data_offset + info.offset
        w = dequantize(np.asarray(raw[start : start + info.nbytes]), info)
        if info.name.endswith("attn_q.weight"):
            w = _unpermute(w, config["num_attention_heads"])
        elif info.name.endswith("attn_k.weight"):
            w = _unpermute(w, config["num_key_value_heads"])
        weights[_hf_name(info.name)] = np.ascontiguousarray(w, dtype=np.float32)
    del raw
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "tokenizer.json").write_text(_tokenizer_json(meta, path))
    (out / "tokenizer_config.json").write_text(json.dumps(_tokenizer_config(meta), indent=2))
    template = meta.get("tokenizer.chat_template")
    if template:
        (out / "chat_template.jinja").write_text(template)
