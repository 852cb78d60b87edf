"""driftgate's torch decoder against transformers' LlamaForCausalLM, on the real model (slow)."""

from __future__ import annotations

import pytest

from driftgate import model_files

MESSAGES = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Categorize: UBER *TRIP 4411 AMSTERDAM"},
    ],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Write a poem about the sea, in four lines."},
    ],
]


@pytest.fixture(scope="module")
def both() -> tuple:
    pytest.importorskip("transformers")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from driftgate.providers._llama import ChatTokenizer, LlamaModel

    model_files.pull("smollm2-135m")
    folder = model_files.model_dir("smollm2-135m")
    ours = (LlamaModel(folder), ChatTokenizer(folder))
    reference = (
        AutoModelForCausalLM.from_pretrained(folder).eval(),
        AutoTokenizer.from_pretrained(folder),
    )
    return torch, ours, reference


@pytest.mark.slow
def test_chat_template_and_tokens_match_transformers(both: tuple) -> None:
    _, (_, tok), (_, ref_tok) = both
    for messages in MESSAGES:
        expected = ref_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = ref_tok(expected, add_special_tokens=False)["input_ids"]
        assert tok.chat_ids(messages) == ids


@pytest.mark.slow
def test_greedy_tokens_and_logits_match_transformers(both: tuple) -> None:
    torch, (model, tok), (ref, _) = both
    for messages in MESSAGES:
        prompt = tok.chat_ids(messages)
        ids, _ = model.generate(
            prompt, 32, eos=tok.eos_ids, pick=lambda logits: int(torch.argmax(logits))
        )
        x = torch.tensor([prompt])
        with torch.inference_mode():
            out = ref.generate(
                x, attention_mask=torch.ones_like(x), max_new_tokens=32, do_sample=False
            )
            ref_logits = ref(x).logits[0, -1]
        expected = out[0, len(prompt) :].tolist()
        expected = expected[: expected.index(2)] if 2 in expected else expected
        assert ids == expected
        with torch.inference_mode():
            logits = model.forward(prompt, model.new_cache(len(prompt)), 0)
        # float32 summation order differs (fused q/k/v, sdpa kernels): rounding, not meaning.
        torch.testing.assert_close(logits, ref_logits, rtol=0, atol=2e-4)


LABELS = ["groceries", "dining", "transport", "fuel", "income", "in"]  # "in" starts "income"


@pytest.mark.slow
def test_label_log_likelihoods_match_transformers(both: tuple) -> None:
    """`LlamaModel.score` (all labels in one pass after a cached prompt) against scoring
    each label's answer separately with transformers' full forward pass."""
    torch, (model, tok), (ref, _) = both
    for messages in MESSAGES[1:]:
        text, prompt = tok.chat_text(messages), tok.chat_ids(messages)
        answers = [tok.answer_ids(text, prompt, label) + [tok.end_id] for label in LABELS]
        got = model.score(prompt, answers)
        for answer, lps in zip(answers, got, strict=True):
            seq = torch.tensor([prompt + answer])
            with torch.inference_mode():
                rows = torch.log_softmax(ref(seq).logits[0].float(), dim=-1)
            expected = [float(rows[len(prompt) - 1 + i, t]) for i, t in enumerate(answer)]
            # float32 rounding of the logits (see above), carried through log_softmax.
            assert lps == pytest.approx(expected, abs=5e-4)
            assert sum(lps) == pytest.approx(sum(expected), abs=1e-3)
