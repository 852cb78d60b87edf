"""The embedded local model: `local/smollm2-135m`, run on the CPU in this process.

One model per process: the first request loads it (from the converted safetensors copy that
`driftgate models pull` made; converting on the spot when only the GGUF is there) and every
provider instance shares it. The arithmetic is `_llama.py`'s torch decoder, checked against
transformers' implementation in the tests.

Both cores. Requests run on `DRIFTGATE_LOCAL_WORKERS` threads (default: one per CPU, at
most 8), each decoding one sequence with one torch intra-op thread. torch releases the GIL
inside each op, so the threads decode in parallel: 1.8x the tokens/s of one thread on the
2-core machines here. (One sequence on two intra-op threads measured no faster: decoding a
135M model is bound by memory bandwidth and per-op dispatch, and OpenMP threads spin-wait
on each other when the machine is busy.)

Determinism. Each sequence is computed alone, with the same matrix shapes and one thread,
so greedy decoding (temperature 0 or unset) gives bit-identical text however many other
requests run beside it. (Batching several prompts into one padded forward pass would be
faster still, but changes the float32 logits by ~5e-5, enough to flip a near-tie token
depending on which requests share a batch: an eval harness that detects drift must not see
drift in its own reference model.) Sampling (temperature > 0) draws from a generator of its
own, seeded by the request's `seed` when given, so a seeded request is repeatable too.

Request params honoured: `temperature`, `top_p`, `seed`, `max_tokens` (or
`max_completion_tokens`, default 64), `stop`. Others are ignored, as is `response_format`
(a 135M model has no JSON mode; score its output with the prompt's parser instead).

Label scoring. When the request carries the prompt's label set (`request.labels`), the
model does not generate: each label is scored as the answer (`_score_labels`), the most
likely one is returned with `label_probs` over all of them. Deterministic whatever the
sampling params. `label_scoring: false` in the params turns it off (free greedy text, to see
what the model would say); `label_norm: sum` ranks by total log-likelihood instead of the
mean per token.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .. import model_files
from ..errors import DriftgateError, UnknownNameError
from ._labels import Norm, best_label, label_loglik, softmax
from .base import (
    Completion,
    CompletionRequest,
    ModelConfig,
    Provider,
    ProviderError,
    refuse_tools,
)

DEFAULT_MAX_TOKENS = 64
MAX_WORKERS = 8  # decoding is memory-bound: more threads than this only contend


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DriftgateError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise DriftgateError(f"{name} must be at least 1 (got {value})")
    return value


def default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


@dataclass(eq=False)
class _Job:
    messages: list[dict[str, str]]
    max_new_tokens: int
    stop: list[str]
    temperature: float | None
    top_p: float | None
    seed: int | None
    labels: list[str] | None = None  # set: score these instead of generating
    label_norm: Norm = "mean"
    future: Future[Completion] = field(default_factory=Future)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def greedy(self) -> bool:
        return not self.temperature


class _LoadedModel:
    """The model and tokenizer, loaded once per process (thread-safe)."""

    _lock = threading.Lock()
    _loaded: dict[str, _LoadedModel] = {}

    def __init__(self, name: str) -> None:
        spec = model_files.get_spec(name)
        folder = model_files.convert(name)  # a no-op once converted; raises the "pull it" errors
        model_files.check_memory(spec.memory_mb, f"loading local model {name!r}")
        from ._llama import ChatTokenizer, LlamaModel

        try:
            self.tokenizer = ChatTokenizer(folder)
            self.model = LlamaModel(folder)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise model_files.ModelCorruptError(
                name, folder, f"cannot load the converted copy: {exc}"
            ) from None
        self.torch = self.model.torch
        self.name = name
        self.fingerprint = f"{name}@{spec.sha256[:12]}"
        self.context = self.model.config.max_position_embeddings

    @classmethod
    def get(cls, name: str) -> _LoadedModel:
        with cls._lock:
            loaded = cls._loaded.get(name)
            if loaded is None:
                loaded = cls._loaded[name] = cls(name)
            return loaded


class _Engine:
    """`workers` threads that run one model's jobs, one sequence each at a time."""

    _lock = threading.Lock()
    _engines: dict[tuple[str, int], _Engine] = {}

    def __init__(self, name: str, workers: int) -> None:
        self.name, self.workers = name, workers
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        for i in range(workers):
            threading.Thread(
                target=self._run, name=f"driftgate-local-{name}-{i}", daemon=True
            ).start()

    @classmethod
    def get(cls, name: str, workers: int) -> _Engine:
        with cls._lock:
            engine = cls._engines.get((name, workers))
            if engine is None:
                engine = cls._engines[(name, workers)] = cls(name, workers)
            return engine

    def _run(self) -> None:
        threads_set = False
        while True:
            job = self.jobs.get()
            if not job.future.set_running_or_notify_cancel():
                continue  # the caller gave up while it waited in the queue
            try:
                loaded = _LoadedModel.get(self.name)
                if not threads_set:
                    # Per thread with torch's OpenMP backend: this worker's ops run on it
                    # alone; the process default (which the embedder uses) is untouched.
                    loaded.torch.set_num_threads(1)
                    threads_set = True
                run = _score_labels if job.labels else _generate
                job.future.set_result(run(loaded, job))
            except ProviderError as exc:
                job.future.set_exception(exc)
            except DriftgateError as exc:  # missing / corrupt model: the run must stop
                job.future.set_exception(exc)
            except Exception as exc:  # noqa: BLE001 - one failed request, not a dead worker
                job.future.set_exception(
                    ProviderError("other", f"local generation failed: {type(exc).__name__}: {exc}")
                )


def _picker(loaded: _LoadedModel, job: _Job) -> Callable[[Any], int]:
    torch = loaded.torch
    if job.greedy:
        return lambda logits: int(torch.argmax(logits))
    generator = torch.Generator()
    if job.seed is not None:
        generator.manual_seed(job.seed)
    else:
        generator.seed()
    temperature, top_p = job.temperature or 1.0, job.top_p

    def sample(logits: Any) -> int:
        probs = torch.softmax(logits / temperature, dim=-1)
        if top_p is not None and top_p < 1.0:
            # Nucleus: keep the smallest set of most likely tokens whose mass reaches top_p.
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = sorted_probs.cumsum(-1) - sorted_probs < top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        return int(torch.multinomial(probs, 1, generator=generator))

    return sample


def _generate(loaded: _LoadedModel, job: _Job) -> Completion:
    tok = loaded.tokenizer
    prompt = tok.chat_ids(job.messages)
    if len(prompt) + job.max_new_tokens > loaded.context:
        raise ProviderError(
            "bad_request",
            f"prompt of {len(prompt)} tokens + max_tokens {job.max_new_tokens} exceeds the "
            f"context of {loaded.context} tokens",
        )

    def stop(ids: list[int]) -> bool:
        # A timed-out caller stops its sequence at the next token, freeing the worker.
        if job.cancelled.is_set():
            return True
        return bool(job.stop) and any(s in tok.decode(ids) for s in job.stop)

    ids, finish = loaded.model.generate(
        prompt, job.max_new_tokens, eos=tok.eos_ids, pick=_picker(loaded, job), stop=stop
    )
    text = tok.decode(ids)
    cut = min((p for p in (text.find(s) for s in job.stop) if p >= 0), default=-1)
    if cut >= 0:
        text, finish = text[:cut], "stop"
    return Completion(
        text=text,
        input_tokens=len(prompt),
        output_tokens=len(ids),
        cost_usd=0.0,
        model=f"local/{loaded.name}",
        fingerprint=loaded.fingerprint,
        finish_reason=finish,
    )


def _score_labels(loaded: _LoadedModel, job: _Job) -> Completion:
    """The most likely label and the probabilities of all, instead of free text.

    Each label is scored as the whole answer: its tokens right after the prompt (tokenized
    in context) followed by the end-of-turn token. The end token is what makes it fair: a
    label that starts another one ("income" vs "income tax", "1" vs "10") would otherwise
    collect the likelihood of every answer it starts; and a prompt that asks for one word
    implies the turn ends after it. `label_norm` "mean" (the default) ranks labels by
    their mean log-probability per token, "sum" by the total: the total favours labels of
    few tokens ("income" is one token, "groceries" four) whatever the input, and measured
    less accurate on the example (`label_accuracy_zero_shot_{mean,sum}_{end,no_end}`,
    bench/local_model.py --only llm_labels --variants)."""
    tok = loaded.tokenizer
    labels = list(dict.fromkeys(job.labels or []))
    text = tok.chat_text(job.messages)
    prompt = tok.tokenizer.encode(text, add_special_tokens=False).ids
    end = [tok.end_id] if tok.end_id is not None else []
    answers = [tok.answer_ids(text, prompt, label) + end for label in labels]
    longest = max(len(a) for a in answers)
    if len(prompt) + longest > loaded.context:
        raise ProviderError(
            "bad_request",
            f"prompt of {len(prompt)} tokens + a label of {longest} exceeds the context of "
            f"{loaded.context} tokens",
        )
    logprobs = loaded.model.score(prompt, answers)
    scores = {
        label: label_loglik(lps, job.label_norm)
        for label, lps in zip(labels, logprobs, strict=True)
    }
    probs = softmax(scores)
    best = best_label(probs, labels)
    return Completion(
        text=best,
        input_tokens=len(prompt),
        output_tokens=len(answers[labels.index(best)]),
        cost_usd=0.0,
        model=f"local/{loaded.name}",
        fingerprint=loaded.fingerprint,
        finish_reason="stop",
        label_probs=probs,
    )


def _label_options(
    params: dict[str, Any], labels: list[str] | None
) -> tuple[list[str] | None, Norm]:
    """Which labels to score (None: generate free text) and how, from the request params."""
    scoring = params.get("label_scoring", True)
    if not isinstance(scoring, bool):
        raise ValueError(f"label_scoring must be true or false (got {scoring!r})")
    norm = params.get("label_norm", "mean")
    if norm not in ("sum", "mean"):
        raise ValueError(f"label_norm must be 'sum' or 'mean' (got {norm!r})")
    labels = [str(x) for x in labels or [] if str(x)]
    return (labels if scoring and labels else None), norm


class LocalProvider(Provider):
    """`local/NAME`: a model from `driftgate.model_files` run in-process on the CPU."""

    def __init__(self, config: ModelConfig, *, workers: int | None = None) -> None:
        super().__init__(config)
        _, _, name = config.id.partition("/")
        name = name.split("?", 1)[0]
        spec = model_files.MODELS.get(name)
        if spec is None or spec.kind != "llm":
            llms = [n for n, s in model_files.MODELS.items() if s.kind == "llm"]
            raise UnknownNameError("local model", name, llms)
        self.model_name = name
        model_files.locate(name)  # fail at setup, not on the first case, when it is not pulled
        self.workers = workers or _env_int("DRIFTGATE_LOCAL_WORKERS", default_workers())

    def _job(self, request: CompletionRequest) -> _Job:
        refuse_tools(request, f"local/{self.model_name}")
        params = {**self.config.params, **request.params}
        for m in request.messages:
            if not isinstance(m.get("content"), str) or m.get("role") not in {
                "system",
                "user",
                "assistant",
            }:
                raise ProviderError(
                    "bad_request", "local models take text messages with role system/user/assistant"
                )
        max_tokens = params.get("max_tokens")
        if max_tokens is None:
            max_tokens = params.get("max_completion_tokens")
        if max_tokens is None:
            max_tokens = DEFAULT_MAX_TOKENS
        stop = params.get("stop") or []
        stop = [stop] if isinstance(stop, str) else [s for s in stop if s]
        try:
            if int(max_tokens) < 1:
                raise ValueError(f"max_tokens must be at least 1 (got {max_tokens})")
            labels, norm = _label_options(params, request.labels)
            return _Job(
                messages=request.messages,
                max_new_tokens=int(max_tokens),
                stop=stop,
                temperature=float(params["temperature"]) if params.get("temperature") else None,
                top_p=float(params["top_p"]) if params.get("top_p") is not None else None,
                seed=int(params["seed"]) if params.get("seed") is not None else None,
                labels=labels,
                label_norm=norm,
            )
        except (TypeError, ValueError) as exc:
            raise ProviderError("bad_request", f"bad generation parameter: {exc}") from None

    @property
    def max_concurrency(self) -> int:
        """Requests worth having in flight: one per worker. More would only wait in the
        queue while their timeout clock runs, so the engine caps this model's concurrency."""
        return self.workers

    def warm_up(self) -> None:
        """Load the model now (blocking), e.g. before timing a benchmark."""
        _LoadedModel.get(self.model_name)

    async def complete(self, request: CompletionRequest) -> Completion:
        job = self._job(request)
        start = time.perf_counter()
        _Engine.get(self.model_name, self.workers).jobs.put(job)
        fut = asyncio.wrap_future(job.future)
        try:
            completion = await fut
        except asyncio.CancelledError:
            # The caller gave up (timeout): a queued job is skipped (cancelling the asyncio
            # future cancels the thread-side one); a running one stops at its next token.
            job.cancelled.set()
            raise
        completion.latency_ms = (time.perf_counter() - start) * 1000
        return completion
