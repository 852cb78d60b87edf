"""The embedded local model provider. Fast tests need no torch; slow ones run SmolLM2."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from driftgate import model_files
from driftgate.errors import DriftgateError, UnknownNameError
from driftgate.providers import CompletionRequest, ModelConfig, ProviderError, create_provider
from driftgate.providers.local import DEFAULT_MAX_TOKENS, LocalProvider, default_workers

MODEL = "local/smollm2-135m"


def request(content: str, **params: object) -> CompletionRequest:
    return CompletionRequest(
        model=MODEL, messages=[{"role": "user", "content": content}], params=dict(params)
    )


@pytest.fixture
def no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path))


@pytest.fixture
def pretend_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "locate", lambda name: Path("/nonexistent"))


def test_unknown_local_model() -> None:
    with pytest.raises(UnknownNameError) as err:
        create_provider(ModelConfig(id="local/smollm3"))
    assert "smollm2-135m" in str(err.value)
    with pytest.raises(UnknownNameError):  # an embedder is not a chat model
        create_provider(ModelConfig(id="local/all-minilm-l6-v2"))


def test_missing_model_fails_at_setup_with_the_command(no_model: None) -> None:
    with pytest.raises(model_files.ModelMissingError) as err:
        create_provider(ModelConfig(id=MODEL))
    assert "driftgate models pull smollm2-135m" in str(err.value)


def test_generation_params(pretend_present: None) -> None:
    p = LocalProvider(ModelConfig(id=MODEL, params={"max_tokens": 9}))
    job = p._job(request("hi", stop="\n", temperature=0))
    assert job.max_new_tokens == 9 and job.stop == ["\n"] and job.greedy
    job = p._job(request("hi", max_tokens=5, temperature=0.7, seed=3, stop=["a", ""]))
    assert job.max_new_tokens == 5 and not job.greedy
    assert job.seed == 3 and job.stop == ["a"]
    default = LocalProvider(ModelConfig(id=MODEL))._job(request("hi"))
    assert default.max_new_tokens == DEFAULT_MAX_TOKENS and default.greedy


@pytest.mark.parametrize(
    "params, messages",
    [
        ({"max_tokens": 0}, [{"role": "user", "content": "x"}]),
        ({"max_tokens": "many"}, [{"role": "user", "content": "x"}]),
        ({}, [{"role": "tool", "content": "x"}]),
        ({}, [{"role": "user", "content": [{"type": "text", "text": "x"}]}]),
    ],
)
def test_bad_requests(pretend_present: None, params: dict, messages: list) -> None:
    p = LocalProvider(ModelConfig(id=MODEL))
    with pytest.raises(ProviderError) as err:
        p._job(CompletionRequest(model=MODEL, messages=messages, params=params))
    assert err.value.kind == "bad_request" and not err.value.retryable


def test_workers_from_environment(pretend_present: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRIFTGATE_LOCAL_WORKERS", raising=False)
    assert LocalProvider(ModelConfig(id=MODEL)).workers == default_workers()
    assert 1 <= default_workers() <= 8
    monkeypatch.setenv("DRIFTGATE_LOCAL_WORKERS", "3")
    p = LocalProvider(ModelConfig(id=MODEL))
    assert p.workers == 3 and p.max_concurrency == 3  # one request in flight per worker
    assert LocalProvider(ModelConfig(id=MODEL), workers=2).workers == 2
    for bad in ("0", "two"):
        monkeypatch.setenv("DRIFTGATE_LOCAL_WORKERS", bad)
        with pytest.raises(DriftgateError, match="DRIFTGATE_LOCAL_WORKERS"):
            LocalProvider(ModelConfig(id=MODEL))


# ---- label scoring, on the tiny random checkpoint of tiny_llama.py -------------------------

LABELS = ["fuel", "fue", "food", "dining"]  # a shared first token; a label that starts another


@pytest.fixture
def tiny(
    tmp_path_factory: pytest.TempPathFactory,
    pretend_present: None,
    monkeypatch: pytest.MonkeyPatch,
) -> object:
    pytest.importorskip("torch")
    from tiny_llama import tiny_llama_folder  # tests/providers/tiny_llama.py

    from driftgate.providers import _llama
    from driftgate.providers.local import _LoadedModel

    tiny_llama = tiny_llama_folder(tmp_path_factory)

    loaded = object.__new__(_LoadedModel)
    loaded.tokenizer = _llama.ChatTokenizer(tiny_llama)
    loaded.model = _llama.LlamaModel(tiny_llama)
    loaded.torch, loaded.name = loaded.model.torch, "smollm2-135m"
    loaded.fingerprint, loaded.context = "tiny@0", 1024
    monkeypatch.setitem(_LoadedModel._loaded, "smollm2-135m", loaded)
    return loaded


def labelled(
    content: str, labels: list[str] | None = LABELS, **params: object
) -> CompletionRequest:
    req = request(content, **params)
    req.labels = labels
    return req


def test_label_scoring_returns_the_best_label_with_probabilities(tiny: object) -> None:
    import math

    p = LocalProvider(ModelConfig(id=MODEL), workers=2)

    async def main() -> list:
        return await asyncio.gather(
            p.complete(labelled("which one?")),
            p.complete(labelled("which one?", temperature=0.9, seed=4)),  # no sampling here
            p.complete(labelled("which one?", label_norm="sum")),
        )

    mean, again, total = asyncio.run(main())
    assert mean.label_probs is not None and list(mean.label_probs) == LABELS
    assert sum(mean.label_probs.values()) == pytest.approx(1.0)
    assert mean.text == max(LABELS, key=mean.label_probs.__getitem__)
    assert mean.confidence == max(mean.label_probs.values())
    assert again.text == mean.text and again.label_probs == mean.label_probs
    assert mean.finish_reason == "stop" and mean.cost_usd == 0.0
    # The probabilities are the softmax of each label's log-likelihood (+ end of turn),
    # computed here one label at a time.
    tok, model = tiny.tokenizer, tiny.model  # type: ignore[attr-defined]
    messages = [{"role": "user", "content": "which one?"}]
    text, prompt = tok.chat_text(messages), tok.chat_ids(messages)
    for norm, got in (("mean", mean), ("sum", total)):
        ll = {}
        for label in LABELS:
            answer = tok.answer_ids(text, prompt, label) + [tok.end_id]
            lps = model.score(prompt, [answer])[0]
            ll[label] = sum(lps) / (len(lps) if norm == "mean" else 1)
        z = sum(math.exp(v) for v in ll.values())
        assert got.label_probs == pytest.approx({k: math.exp(v) / z for k, v in ll.items()})


def test_label_scoring_off_or_no_labels_generates_free_text(tiny: object) -> None:
    p = LocalProvider(ModelConfig(id=MODEL, params={"label_scoring": False}), workers=1)
    free = asyncio.run(p.complete(labelled("which one?", max_tokens=5)))
    assert free.label_probs is None and free.output_tokens == 5
    plain = LocalProvider(ModelConfig(id=MODEL), workers=1)
    assert asyncio.run(plain.complete(labelled("which one?", None, max_tokens=5))).text == free.text


@pytest.mark.parametrize("params", [{"label_norm": "median"}, {"label_scoring": "yes"}])
def test_bad_label_params(pretend_present: None, params: dict) -> None:
    with pytest.raises(ProviderError) as err:
        LocalProvider(ModelConfig(id=MODEL))._job(labelled("x", **params))
    assert err.value.kind == "bad_request"


# ---- the real model ----------------------------------------------------------------------

PROMPTS = [
    "What is the capital of France?",
    "Name three colors.",
    "Is the sky green? Answer yes or no.",
]


@pytest.fixture(scope="module")
def real_model() -> None:
    model_files.pull("smollm2-135m")  # idempotent: downloads and converts once per machine


@pytest.mark.slow
def test_real_model_is_deterministic(real_model: None) -> None:
    p = create_provider(ModelConfig(id=MODEL))

    async def once() -> list:
        return await asyncio.gather(
            *(p.complete(request(q, temperature=0, max_tokens=24)) for q in PROMPTS)
        )

    first, second = asyncio.run(once()), asyncio.run(once())
    assert [c.text for c in first] == [c.text for c in second]
    assert "Paris" in first[0].text
    for c in first:
        assert c.cost_usd == 0.0 and c.latency_ms > 0 and c.model == MODEL
        assert c.input_tokens and c.input_tokens > 20  # chat template + default system prompt
        assert 0 < c.output_tokens <= 24
        assert c.finish_reason in {"stop", "length"}
        assert c.fingerprint == "smollm2-135m@b179c9523d0e"


@pytest.mark.slow
def test_real_model_max_tokens_stop_and_timeout(real_model: None) -> None:
    p = create_provider(ModelConfig(id=MODEL))

    async def main() -> tuple:
        short = await p.complete(request("Write a long story about a dragon.", max_tokens=5))
        stopped = await p.complete(
            request("Count from 1 to 20, separated by commas.", max_tokens=60, stop=["7"])
        )
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await p.complete(request("Write a long story about a dragon.", max_tokens=300))
        after = await p.complete(request(PROMPTS[0], max_tokens=24))
        return short, stopped, after

    short, stopped, after = asyncio.run(main())
    assert short.output_tokens == 5 and short.finish_reason == "length"
    assert "7" not in stopped.text and "6" in stopped.text and stopped.finish_reason == "stop"
    assert "Paris" in after.text  # a timed-out request does not poison the worker


@pytest.mark.slow
def test_real_model_concurrent_workers_match_one_at_a_time(real_model: None) -> None:
    """Greedy output is bit-identical whether a request runs alone or beside others."""
    prompts = [*PROMPTS, "Write a haiku about rain.", "List two fruits."]

    async def alone() -> list:
        p = LocalProvider(ModelConfig(id=MODEL), workers=1)
        return [await p.complete(request(q, max_tokens=20)) for q in prompts]

    async def together() -> list:
        p = LocalProvider(ModelConfig(id=MODEL), workers=2)
        return await asyncio.gather(*(p.complete(request(q, max_tokens=20)) for q in prompts))

    serial, parallel = asyncio.run(alone()), asyncio.run(together())
    assert [c.text for c in parallel] == [c.text for c in serial]
    assert [c.output_tokens for c in parallel] == [c.output_tokens for c in serial]


@pytest.mark.slow
def test_real_model_seeded_sampling_is_repeatable(real_model: None) -> None:
    p = LocalProvider(ModelConfig(id=MODEL), workers=2)
    story = "Write a one-sentence story about a cat."

    async def main() -> list:
        return await asyncio.gather(
            *(
                p.complete(request(story, max_tokens=24, temperature=1.0, top_p=0.9, seed=s))
                for s in (7, 7, 8, 9)
            )
        )

    a, b, c, d = asyncio.run(main())
    assert a.text == b.text  # the same seed draws the same tokens, even side by side
    assert len({a.text, c.text, d.text}) > 1  # and different seeds do not all agree


@pytest.mark.slow
def test_real_model_label_scoring_is_deterministic_under_load(real_model: None) -> None:
    labels = ["groceries", "dining", "transport", "fuel", "income"]
    texts = ["TESCO STORES 2231", "UBER TRIP", "SHELL 4471 LEEDS", "SALARY ACME LTD"]
    reqs = [
        labelled(f"Which category is this bank transaction: {t}? Answer with one word.", labels)
        for t in texts
    ]

    async def alone() -> list:
        p = LocalProvider(ModelConfig(id=MODEL), workers=1)
        return [await p.complete(r) for r in reqs]

    async def together() -> list:
        p = LocalProvider(ModelConfig(id=MODEL), workers=2)
        return await asyncio.gather(*(p.complete(r) for r in reqs))

    serial, parallel = asyncio.run(alone()), asyncio.run(together())
    assert [c.label_probs for c in parallel] == [c.label_probs for c in serial]
    for c in serial:
        assert c.text in labels and c.label_probs is not None
        assert sum(c.label_probs.values()) == pytest.approx(1.0)
        assert c.confidence == max(c.label_probs.values())
