"""The embedded local model: `local/smollm2-135m`, run on the CPU with transformers.

One model per process: the first request loads it (from the converted safetensors copy that
`driftgate models pull` made; converting on the spot when only the GGUF is there) and every
provider instance shares it. Generation runs on one worker thread per model, so the event
loop (and everything else a run does: rendering, scoring, storing) keeps the other core.

Threads. torch generates with `DRIFTGATE_LOCAL_THREADS` intra-op threads, default 1 (set
around each call; the process default, which the embedder uses, is left alone).
Decoding one sequence of a 135M model is bound by memory bandwidth and per-op dispatch, not
arithmetic: on the 2-core machines here a second thread measured no faster when the machine
was quiet (11.8 vs 13.7 tokens/s) and 1.5-4x slower when other processes competed for
the cores (OpenMP threads spin-waiting on each other). Batching, below, is what multiplies
throughput: one pass over the weights serves every row.

Determinism. Greedy decoding (temperature 0 or unset) of one prompt is bit-identical from
run to run. Batching concurrent prompts into one padded forward pass is 3-5x the throughput
at 8-16 prompts, but changes the float32 logits by up to ~5e-5 (measured: both with left
padding and with equal-length prompts, because the matrix shapes change the summation
order), so a near-tie between two tokens can resolve differently depending on which other
requests happened to share the batch. An eval harness that detects drift must not see
drift in its own reference model, so batching is off by default; opt in with
`DRIFTGATE_LOCAL_MAX_BATCH=N` (or `LocalProvider(config, max_batch=N)`) when throughput
matters more than bit-exact repeatability.

Request params honoured: `temperature`, `top_p`, `seed`, `max_tokens` (or
`max_completion_tokens`, default 64), `stop`. Others are ignored, as is `response_format`
(a 135M model has no JSON mode; score its output with the prompt's parser instead).
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .. import models
from ..errors import DriftgateError, UnknownNameError
from .base import Completion, CompletionRequest, ModelConfig, Provider, ProviderError

DEFAULT_MAX_TOKENS = 64
BATCH_WINDOW_S = 0.005  # how long a batch waits for company once its first request arrived


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


@dataclass(eq=False)
class _Job:
    messages: list[dict[str, str]]
    max_new_tokens: int
    stop: list[str]
    temperature: float | None
    top_p: float | None
    seed: int | None
    future: Future[Completion] = field(default_factory=Future)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def greedy(self) -> bool:
        return not self.temperature

    @property
    def batch_key(self) -> tuple[Any, ...] | None:
        # Only greedy jobs share a batch: a sampled job's draws depend on its batch-mates.
        return ("greedy",) if self.greedy else None


class _LoadedModel:
    """The model and tokenizer, loaded once per process (thread-safe)."""

    _lock = threading.Lock()
    _loaded: dict[str, _LoadedModel] = {}

    def __init__(self, name: str) -> None:
        models.offline_hf()
        spec = models.get_spec(name)
        folder = models.convert(name)  # a no-op once converted; raises the "pull it" errors
        models.check_memory(spec.memory_mb, f"loading local model {name!r}")
        import torch
        from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

        try:
            # The converted copy always has a tokenizer.json: loading the fast tokenizer class
            # directly takes ~0.4 s where AutoTokenizer's class resolution takes ~3 s.
            self.tokenizer = PreTrainedTokenizerFast.from_pretrained(folder, local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise models.ModelCorruptError(
                name, folder, f"cannot load the converted copy: {exc}"
            ) from None
        self.model.eval()
        self.tokenizer.padding_side = "left"  # decoder-only: pad before the prompt
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.torch = torch
        self.name = name
        self.fingerprint = f"{name}@{spec.sha256[:12]}"
        self.context = int(getattr(self.model.config, "max_position_embeddings", 2048))

    @classmethod
    def get(cls, name: str) -> _LoadedModel:
        with cls._lock:
            loaded = cls._loaded.get(name)
            if loaded is None:
                loaded = cls._loaded[name] = cls(name)
            return loaded


class _Engine:
    """A worker thread that runs the jobs of one model, `max_batch` at a time."""

    _lock = threading.Lock()
    _engines: dict[tuple[str, int, int], _Engine] = {}

    def __init__(self, name: str, threads: int, max_batch: int) -> None:
        self.name, self.threads, self.max_batch = name, threads, max_batch
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.held: deque[_Job] = deque()  # taken from the queue but not batchable yet
        thread = threading.Thread(target=self._run, name=f"driftgate-local-{name}", daemon=True)
        thread.start()

    @classmethod
    def get(cls, name: str, threads: int, max_batch: int) -> _Engine:
        key = (name, threads, max_batch)
        with cls._lock:
            engine = cls._engines.get(key)
            if engine is None:
                engine = cls._engines[key] = cls(name, threads, max_batch)
            return engine

    def _next_batch(self) -> list[_Job]:
        first = self.held.popleft() if self.held else self.jobs.get()
        batch = [first]
        if self.max_batch == 1 or first.batch_key is None:
            return batch
        deadline = time.monotonic() + BATCH_WINDOW_S
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                job = self.jobs.get(timeout=remaining)
            except queue.Empty:
                break
            (batch if job.batch_key == first.batch_key else self.held).append(job)
        return batch

    def _run(self) -> None:
        while True:
            batch = [j for j in self._next_batch() if j.future.set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                loaded = _LoadedModel.get(self.name)
                results = _generate(loaded, batch, self.threads)
            except DriftgateError as exc:  # missing / corrupt model: the run must stop
                for job in batch:
                    job.future.set_exception(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - one failed batch, not a dead worker
                err = ProviderError(
                    "other", f"local generation failed: {type(exc).__name__}: {exc}"
                )
                for job in batch:
                    job.future.set_exception(err)
                continue
            for job, result in zip(batch, results, strict=True):
                if isinstance(result, Exception):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)


def _make_stopper(loaded: _LoadedModel, batch: list[_Job], prompt_len: int) -> Any:
    """Stop each row at its own stop strings, or when its caller gave up (timeout)."""
    from transformers import StoppingCriteria

    torch, tok = loaded.torch, loaded.tokenizer

    class _Stopper(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = []
            for row, job in zip(input_ids, batch, strict=True):
                stop = job.cancelled.is_set()
                if not stop and job.stop:
                    text = tok.decode(row[prompt_len:], skip_special_tokens=True)
                    stop = any(s in text for s in job.stop)
                done.append(stop)
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return _Stopper()


def _generate(
    loaded: _LoadedModel, batch: list[_Job], threads: int
) -> list[Completion | Exception]:
    torch, tok, model = loaded.torch, loaded.tokenizer, loaded.model
    texts = [
        tok.apply_chat_template(j.messages, tokenize=False, add_generation_prompt=True)
        for j in batch
    ]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    prompt_len = int(enc["input_ids"].shape[1])
    input_lens = [int(n) for n in enc["attention_mask"].sum(dim=1)]
    out: list[Completion | Exception | None] = [None] * len(batch)
    for i, (job, n) in enumerate(zip(batch, input_lens, strict=True)):
        if n + job.max_new_tokens > loaded.context:
            out[i] = ProviderError(
                "bad_request",
                f"prompt of {n} tokens + max_tokens {job.max_new_tokens} exceeds the context "
                f"of {loaded.context} tokens",
            )
    live = [i for i, r in enumerate(out) if r is None]
    if len(live) < len(batch):  # rare: run the rest on their own
        if live:
            for i, r in zip(
                live, _generate(loaded, [batch[i] for i in live], threads), strict=True
            ):
                out[i] = r
        return [r for r in out if r is not None]
    max_new = max(j.max_new_tokens for j in batch)
    kwargs: dict[str, Any] = {
        "max_new_tokens": max_new,
        "pad_token_id": tok.pad_token_id,
        "stopping_criteria": [_make_stopper(loaded, batch, prompt_len)],
    }
    first = batch[0]
    if first.greedy:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(
            do_sample=True, temperature=first.temperature, top_p=first.top_p or 1.0, top_k=0
        )
        if first.seed is not None:
            torch.manual_seed(first.seed)
    # torch's thread count is process-wide: set it for this call and restore it, so the
    # embedder (which does gain from a second thread) keeps torch's default.
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            generated = model.generate(**enc, **kwargs)
    finally:
        torch.set_num_threads(previous)
    eos = {tok.eos_token_id, tok.pad_token_id}
    for i, job in enumerate(batch):
        ids = generated[i, prompt_len:].tolist()[: job.max_new_tokens]
        n_out = next((k for k, t in enumerate(ids) if t in eos), None)
        finish = "stop" if n_out is not None else "length"
        ids = ids if n_out is None else ids[:n_out]
        text = tok.decode(ids, skip_special_tokens=True)
        cut = min((p for p in (text.find(s) for s in job.stop) if p >= 0), default=-1)
        if cut >= 0:
            text, finish = text[:cut], "stop"
        out[i] = Completion(
            text=text,
            input_tokens=input_lens[i],
            output_tokens=len(ids),
            cost_usd=0.0,
            model=f"local/{loaded.name}",
            fingerprint=loaded.fingerprint,
            finish_reason=finish,
        )
    return [r for r in out if r is not None]


class LocalProvider(Provider):
    """`local/NAME`: a model from `driftgate.models` run in-process on the CPU."""

    def __init__(
        self, config: ModelConfig, *, max_batch: int | None = None, threads: int | None = None
    ) -> None:
        super().__init__(config)
        _, _, name = config.id.partition("/")
        name = name.split("?", 1)[0]
        spec = models.MODELS.get(name)
        if spec is None or spec.kind != "llm":
            llms = [n for n, s in models.MODELS.items() if s.kind == "llm"]
            raise UnknownNameError("local model", name, llms)
        self.model_name = name
        models.locate(name)  # fail at setup, not on the first case, when it is not pulled
        self.threads = threads or _env_int("DRIFTGATE_LOCAL_THREADS", 1)
        self.max_batch = max_batch or _env_int("DRIFTGATE_LOCAL_MAX_BATCH", 1)

    def _job(self, request: CompletionRequest) -> _Job:
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
            return _Job(
                messages=request.messages,
                max_new_tokens=int(max_tokens),
                stop=stop,
                temperature=float(params["temperature"]) if params.get("temperature") else None,
                top_p=float(params["top_p"]) if params.get("top_p") is not None else None,
                seed=int(params["seed"]) if params.get("seed") is not None else None,
            )
        except (TypeError, ValueError) as exc:
            raise ProviderError("bad_request", f"bad generation parameter: {exc}") from None

    @property
    def max_concurrency(self) -> int:
        """Requests worth having in flight: one batch running and the next one forming.
        More only wait in the queue while their timeout clock runs, so the engine should
        cap this model's concurrency here."""
        return 2 * self.max_batch

    def warm_up(self) -> None:
        """Load the model now (blocking), e.g. before timing a benchmark."""
        _LoadedModel.get(self.model_name)

    async def complete(self, request: CompletionRequest) -> Completion:
        job = self._job(request)
        start = time.perf_counter()
        _Engine.get(self.model_name, self.threads, self.max_batch).jobs.put(job)
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
