"""The embedded local model's runtime: a Llama decoder in plain torch, and its chat tokenizer.

Why not `transformers.AutoModelForCausalLM`: importing transformers 5's model code pulls in
torch.distributed, torch._dynamo and sympy (`import_transformers_llama_s`, bench/import_costs.py),
about the whole budget of a warm load. This file is the same arithmetic in ~150 lines: it loads the
checkpoint `driftgate models pull` converted (Hugging Face layout), needs only torch,
safetensors and tokenizers (`local_model_load_warm_s`, bench/local_model.py; torch's own
import is most of it), and
tests/providers/test_llama.py checks it against transformers' LlamaForCausalLM: the same
greedy tokens, logits within float32 rounding.

It runs one sequence per call, with a preallocated key/value cache. Concurrency comes from
the caller running several calls on different threads: torch releases the GIL inside each
op, and with one intra-op thread per caller, each sequence's arithmetic is the same
whatever else runs, so greedy output is bit-identical under any load.

Prompts are read in fixed chunks of `CHUNK` tokens at fixed positions, and the keys and
values of each whole chunk are kept (`PrefixCache`, by the tokens up to its end), so cases
that share a long start (a system prompt, few-shot examples) compute it once: a 720-token
few-shot prompt is several times faster after the first case (`prefix_cache_s` in
docs/architecture.md, Measured figures). Because a chunk's
values depend only on the tokens up to its end and are computed the same way whether the
chunk before came from the cache or not, the cache changes speed, never output.

`score` gives the log-probability of each token of several continuations of one prompt (the
local provider's label scoring): the prompt is read as above, then all continuations go
through one forward pass side by side, each masked to see the prompt and itself only.
"""

from __future__ import annotations

import hashlib
import json
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 128  # prompt tokens per forward pass while reading a prompt
PREFIX_CACHE_MB = 256  # ~40 chunks of SmolLM2-135M (5.9 MB each)


class PrefixCache:
    """Keys and values of whole prompt chunks, least recently used evicted first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self.bytes = max_bytes, 0
        self._entries: OrderedDict[bytes, list[tuple[Any, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(previous: bytes, tokens: list[int]) -> bytes:
        """Chained: a chunk's key names every token from the start of the prompt."""
        return hashlib.blake2b(previous + array("i", tokens).tobytes(), digest_size=16).digest()

    def get(self, key: bytes) -> list[tuple[Any, Any]] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: bytes, entry: list[tuple[Any, Any]]) -> None:
        size = sum(k.nbytes + v.nbytes for k, v in entry)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = entry
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, old = self._entries.popitem(last=False)
                self.bytes -= sum(k.nbytes + v.nbytes for k, v in old)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class LlamaConfig:
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    max_position_embeddings: int
    rms_norm_eps: float
    rope_theta: float
    tie_word_embeddings: bool
    vocab_size: int

    @classmethod
    def from_file(cls, path: Path) -> LlamaConfig:
        raw = json.loads(path.read_text())
        if raw.get("model_type") != "llama":
            raise ValueError(f"{path}: model_type {raw.get('model_type')!r} is not 'llama'")
        heads = int(raw["num_attention_heads"])
        # transformers 5 nests rope_theta under rope_parameters; older configs have it flat.
        rope = (raw.get("rope_parameters") or {}).get("rope_theta") or raw.get("rope_theta")
        scaling = raw.get("rope_scaling") or (raw.get("rope_parameters") or {})
        if scaling.get("rope_type", "default") != "default":
            raise ValueError(f"{path}: rope scaling {scaling.get('rope_type')!r} not supported")
        return cls(
            hidden_size=int(raw["hidden_size"]),
            intermediate_size=int(raw["intermediate_size"]),
            num_hidden_layers=int(raw["num_hidden_layers"]),
            num_attention_heads=heads,
            num_key_value_heads=int(raw.get("num_key_value_heads", heads)),
            head_dim=int(raw.get("head_dim") or raw["hidden_size"] // heads),
            max_position_embeddings=int(raw["max_position_embeddings"]),
            rms_norm_eps=float(raw["rms_norm_eps"]),
            rope_theta=float(rope or 10000.0),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
            vocab_size=int(raw["vocab_size"]),
        )


class LlamaModel:
    """Weights plus the forward pass. Thread-safe: state lives in each call's cache."""

    def __init__(self, folder: Path, *, prefix_cache_mb: int = PREFIX_CACHE_MB) -> None:
        import torch
        from safetensors import SafetensorError, safe_open

        self.torch = torch
        self.config = cfg = LlamaConfig.from_file(folder / "config.json")
        path = folder / "model.safetensors"
        try:
            # Tensor by tensor from the memory-mapped file: the fused copies below replace
            # their parts as they are made, so the peak stays near the model's own size.
            with safe_open(str(path), framework="pt") as f:
                w = f.get_tensor
                self.embed = w("model.embed_tokens.weight")
                self.lm_head = self.embed if cfg.tie_word_embeddings else w("lm_head.weight")
                self.norm = w("model.norm.weight")
                self.layers = []
                for i in range(cfg.num_hidden_layers):
                    p = f"model.layers.{i}."
                    # One matmul for q/k/v and one for gate/up: fewer, larger ops per token.
                    qkv = torch.cat([w(p + f"self_attn.{n}_proj.weight") for n in "qkv"])
                    gate_up = torch.cat(
                        [w(p + "mlp.gate_proj.weight"), w(p + "mlp.up_proj.weight")]
                    )
                    self.layers.append(
                        (
                            w(p + "input_layernorm.weight"),
                            qkv,
                            w(p + "self_attn.o_proj.weight"),
                            w(p + "post_attention_layernorm.weight"),
                            gate_up,
                            w(p + "mlp.down_proj.weight"),
                        )
                    )
        except SafetensorError as exc:
            raise ValueError(f"{path}: {exc}") from None
        self.prefix_cache = PrefixCache(prefix_cache_mb * 1024 * 1024)
        d = cfg.head_dim
        self.inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, d, 2).float() / d))

    def _rms(self, x: Any, weight: Any) -> Any:
        variance = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * self.torch.rsqrt(variance + self.config.rms_norm_eps))

    def new_cache(self, length: int) -> list[tuple[Any, Any]]:
        cfg, torch = self.config, self.torch
        shape = (cfg.num_key_value_heads, length, cfg.head_dim)
        return [(torch.empty(shape), torch.empty(shape)) for _ in range(cfg.num_hidden_layers)]

    def forward(
        self,
        ids: list[int],
        cache: list[tuple[Any, Any]],
        start: int,
        *,
        positions: Any = None,
        mask: Any = None,
        every: bool = False,
    ) -> Any:
        """Logits of the token after `ids`, which fill cache slots start.. (the cache holds
        the keys and values of the slots before `start`). By default slot = position and
        attention is causal; `positions` and `mask` (queries x slots, True = attend) lay out
        several branches side by side instead (`score`). `every`: the logits after each id."""
        torch, cfg = self.torch, self.config
        F = torch.nn.functional
        n, heads, kv, d = len(ids), cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        end = start + n
        x = F.embedding(torch.tensor(ids), self.embed)
        if positions is None:
            positions = torch.arange(start, end)
        freqs = positions.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        # Each query sees the keys up to its own position (none needed for a single token).
        if mask is None and n > 1:
            mask = torch.arange(end)[None, :] <= torch.arange(start, end)[:, None]

        def rotate(t: Any) -> Any:  # rotary embedding, halves layout
            a, b = t[..., : d // 2], t[..., d // 2 :]
            return t * cos + torch.cat((-b, a), dim=-1) * sin

        for (ln1, qkv, o, ln2, gate_up, down), (k_cache, v_cache) in zip(
            self.layers, cache, strict=True
        ):
            h = F.linear(self._rms(x, ln1), qkv)
            q, k, v = h.split((heads * d, kv * d, kv * d), dim=-1)
            q = rotate(q.view(n, heads, d).transpose(0, 1))
            k_cache[:, start:end] = rotate(k.view(n, kv, d).transpose(0, 1))
            v_cache[:, start:end] = v.view(n, kv, d).transpose(0, 1)
            a = F.scaled_dot_product_attention(
                q[None],
                k_cache[None, :, :end],
                v_cache[None, :, :end],
                attn_mask=mask,
                enable_gqa=True,
            )
            x = x + F.linear(a[0].transpose(0, 1).reshape(n, heads * d), o)
            g, u = F.linear(self._rms(x, ln2), gate_up).chunk(2, dim=-1)
            x = x + F.linear(F.silu(g) * u, down)
        return F.linear(self._rms(x if every else x[-1], self.norm), self.lm_head)

    def score(self, prompt: list[int], continuations: list[list[int]]) -> list[list[float]]:
        """The log-probability of each token of each continuation after `prompt`.

        The prompt is read once (through the prefix cache); then every continuation's tokens
        but its last go through ONE forward pass, laid side by side after the prompt: each
        branch sits at the positions it would have alone and attends to the prompt and its
        own earlier tokens only. So a label costs its own tokens, and the log-likelihoods
        equal scoring each continuation separately (within float32 rounding; checked against
        transformers in tests/providers/test_llama.py). Deterministic: the same request lays
        out the same batch whatever else runs."""
        torch = self.torch
        if any(not c for c in continuations):
            raise ValueError("every continuation needs at least one token")
        p = len(prompt)
        fed = [c[:-1] for c in continuations]  # the last token is predicted, never fed
        flat = [t for f in fed for t in f]
        cache = self.new_cache(p + len(flat))
        with torch.inference_mode():
            first = torch.log_softmax(self._read_prompt(prompt, cache).float(), dim=-1)
            logprobs = [[float(first[c[0]])] for c in continuations]
            if not flat:
                return logprobs
            positions, mask = self._branches(p, fed)
            rows = torch.log_softmax(
                self.forward(flat, cache, p, positions=positions, mask=mask, every=True), dim=-1
            )
            row = 0
            for c, f, out in zip(continuations, fed, logprobs, strict=True):
                for i in range(len(f)):
                    out.append(float(rows[row + i, c[i + 1]]))
                row += len(f)
        return logprobs

    def _branches(self, p: int, fed: list[list[int]]) -> tuple[Any, Any]:
        """Positions and attention mask for branches laid side by side after a prompt of p."""
        torch = self.torch
        n = sum(len(f) for f in fed)
        positions = torch.empty(n, dtype=torch.long)
        mask = torch.zeros(n, p + n, dtype=torch.bool)
        mask[:, :p] = True
        row = 0
        for f in fed:
            k = len(f)
            positions[row : row + k] = torch.arange(p, p + k)
            # Within a branch, causal: token i sees the branch's tokens 0..i.
            mask[row : row + k, p + row : p + row + k] = torch.ones(k, k, dtype=torch.bool).tril()
            row += k
        return positions, mask

    def generate(
        self,
        prompt: list[int],
        max_new_tokens: int,
        *,
        eos: set[int],
        pick: Callable[[Any], int],
        stop: Callable[[list[int]], bool] = lambda _ids: False,
    ) -> tuple[list[int], str]:
        """Decode up to `max_new_tokens` after `prompt`. `pick` chooses each token from the
        logits (argmax for greedy); `stop` is asked after each token. Returns the new tokens
        (without the end token) and the finish reason, "stop" or "length"."""
        torch = self.torch
        if max_new_tokens < 1:
            return [], "length"
        cache = self.new_cache(len(prompt) + max_new_tokens)
        out: list[int] = []
        with torch.inference_mode():
            logits = self._read_prompt(prompt, cache)
            while True:
                token = pick(logits)
                if token in eos:
                    return out, "stop"
                out.append(token)
                if stop(out):
                    return out, "stop"
                if len(out) >= max_new_tokens:
                    return out, "length"
                logits = self.forward([token], cache, len(prompt) + len(out) - 1)

    def _read_prompt(self, prompt: list[int], cache: list[tuple[Any, Any]]) -> Any:
        """Fill the cache chunk by chunk, reusing whole chunks seen before; return the logits
        after the last prompt token (the last chunk is always computed, for its logits)."""
        key, logits = b"", None
        for start in range(0, len(prompt), CHUNK):
            end = min(start + CHUNK, len(prompt))
            key = self.prefix_cache.key(key, prompt[start:end])
            last = end == len(prompt)
            known = None if last else self.prefix_cache.get(key)
            if known is not None:
                for (k_cache, v_cache), (k, v) in zip(cache, known, strict=True):
                    k_cache[:, start:end] = k
                    v_cache[:, start:end] = v
                continue
            logits = self.forward(prompt[start:end], cache, start)
            if not last:
                self.prefix_cache.put(
                    key, [(k[:, start:end].clone(), v[:, start:end].clone()) for k, v in cache]
                )
        return logits


class ChatTokenizer:
    """tokenizer.json + the model's chat template (rendered in jinja2's sandbox)."""

    def __init__(self, folder: Path) -> None:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        config = json.loads((folder / "tokenizer_config.json").read_text())
        self.eos_token = config.get("eos_token")
        self.bos_token = config.get("bos_token")
        self.eos_ids = {
            i
            for i in (self.tokenizer.token_to_id(t) for t in (self.eos_token,) if t)
            if i is not None
        }
        template = folder / "chat_template.jinja"
        if not template.is_file():
            raise ValueError(f"{template} is missing: the model has no chat template")
        # The settings transformers renders chat templates with, so templates read the same.
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
        )
        env.globals["raise_exception"] = _raise_template_error
        self.template = env.from_string(template.read_text())

    def chat_text(self, messages: list[dict[str, str]]) -> str:
        """The prompt as text: the template applied, the assistant's turn started."""
        return self.template.render(
            messages=messages,
            add_generation_prompt=True,
            bos_token=self.bos_token or "",
            eos_token=self.eos_token or "",
        )

    def chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        return self.tokenizer.encode(self.chat_text(messages), add_special_tokens=False).ids

    def answer_ids(self, prompt_text: str, prompt: list[int], answer: str) -> list[int]:
        """The tokens `answer` has right after the prompt: tokenized in context, since a
        word can split differently at the start of a text than after the template's
        newline; the answer alone when the joint tokenization changes the prompt's tokens."""
        ids = self.tokenizer.encode(prompt_text + answer, add_special_tokens=False).ids
        if len(ids) > len(prompt) and ids[: len(prompt)] == prompt:
            return ids[len(prompt) :]
        return self.tokenizer.encode(answer, add_special_tokens=False).ids

    @property
    def end_id(self) -> int | None:
        """The token that ends an assistant turn (the template's end of message)."""
        return min(self.eos_ids) if self.eos_ids else None

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def _raise_template_error(message: str) -> None:
    raise ValueError(f"chat template: {message}")
