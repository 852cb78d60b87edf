"""The torch decoder on a tiny random checkpoint: chunked prompt reading and its prefix cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tiny_llama import tiny_llama_folder  # noqa: E402 - tests/providers/tiny_llama.py

from driftgate.providers import _llama  # noqa: E402

VOCAB = 50  # the tiny checkpoint of tiny_llama.py


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_llama_folder(tmp_path_factory)


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


def brute_force(model: _llama.LlamaModel, prompt: list[int], answer: list[int]) -> list[float]:
    """Each answer token's log-prob from one causal pass over prompt + answer."""
    seq = prompt + answer
    with torch.inference_mode():
        logits = model.forward(seq[:-1], model.new_cache(len(seq)), 0, every=True)
    rows = torch.log_softmax(logits, dim=-1)
    return [float(rows[len(prompt) - 1 + i, t]) for i, t in enumerate(answer)]


@pytest.mark.parametrize("prompt_len", [10, 300])  # within one chunk; past two cached chunks
def test_score_equals_scoring_each_continuation_alone(folder: Path, prompt_len: int) -> None:
    model = _llama.LlamaModel(folder)
    prompt = PROMPT[:prompt_len]
    # Sharing a first token, one a prefix of another, a single token, a repeated one.
    answers = [[5, 6, 7, 2], [5, 6, 2], [5, 9, 9, 9, 2], [11], [5, 6, 7, 2]]
    model.score(prompt, [[4]])  # warms the prefix cache: the next call reads chunks from it
    got = model.score(prompt, answers)
    for answer, lps in zip(answers, got, strict=True):
        assert len(lps) == len(answer)
        assert lps == pytest.approx(brute_force(model, prompt, answer), abs=1e-5)
    # The same branch elsewhere in the batch: the same up to float32 rounding (the masked
    # keys around it differ); the same request always lays out the same batch.
    assert got[0] == pytest.approx(got[4], abs=1e-5)
    assert model.score(prompt, answers) == got  # repeatable, bit for bit
    assert got[0][:2] == pytest.approx(got[1][:2], abs=1e-5)  # a shared prefix, the same
    assert all(lp <= 0 for lps in got for lp in lps)


def test_score_rejects_an_empty_continuation(folder: Path) -> None:
    with pytest.raises(ValueError, match="at least one token"):
        _llama.LlamaModel(folder).score(PROMPT[:5], [[3], []])


def test_answer_ids_tokenize_in_context(folder: Path) -> None:
    tok = _llama.ChatTokenizer(folder)
    messages = [{"role": "user", "content": "which?"}]
    text, prompt = tok.chat_text(messages), tok.chat_ids(messages)
    assert tok.tokenizer.encode(text, add_special_tokens=False).ids == prompt
    ids = tok.answer_ids(text, prompt, "fuel")
    assert tok.decode(ids) == "fuel" and len(ids) == 4  # character-level tokenizer
    assert tok.end_id == tok.tokenizer.token_to_id("<|im_end|>")
