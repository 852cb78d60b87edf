"""Executing a plan: work items (case × arm × repeat) through cache, providers and scorers.

A producer walks the plan's cases in file order. A fixed pool of workers pulls the items
that need a provider call from a bounded queue, so memory stays flat however large the
golden set is, and each model has its own concurrency limit. Each result is appended to
the run's segment the moment it is scored, so a killed run loses nothing finished and
`resume` completes it with exactly one result per key.

Answers already in the response cache never reach the workers: when every scorer scores
without awaiting anything, the producer renders a batch of items, looks their keys up in
one query and scores the hits on the spot (a cached re-run is then bound by rendering,
hashing and scoring, not by queue hops). Their lines are written once per batch; a kill
mid-batch loses at most that batch, which a resume serves from the cache again.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import MissingCredentialError, StorageError, TemplateError
from ..evalset import Case
from ..providers.base import CaseHint, Completion, CompletionRequest, Provider, ProviderError
from .plan import Arm, Plan
from .results import base_record, record_answer, record_scores, request_key, score_context

if TYPE_CHECKING:
    from pathlib import Path

    from ..providers.cache import KeyBuilder, ResponseCache
    from ..store.objects import ObjectStore
    from ..store.records import RunManifest
    from ..store.runs import ResultWriter, RunStore
    from ..summary import SummaryBuilder
    from .progress import Progress, ProgressMode

# Items the producer renders and looks up in the cache at once. Bounds what a kill can
# lose (cached answers only) and how long the workers wait for the event loop.
CACHE_BATCH = 128


@dataclass(slots=True)
class _ArmRuntime:
    provider: Provider
    semaphore: asyncio.Semaphore
    keys: KeyBuilder | None  # None: this provider's answers are never cached
    base: dict[str, Any]  # the arm's result record with every field at its default


@dataclass(slots=True)
class _Item:
    evalset: str
    case: Case
    arm: Arm
    rt: _ArmRuntime
    repeat: int
    key: str
    # Set when the producer already rendered the item and missed the cache with it.
    rec: dict[str, Any] | None = None
    request: CompletionRequest | None = None
    ckey: str | None = None


class Executor:
    """Runs the items of `plan` not in `done`, feeding `summary` and the run's segment."""

    def __init__(
        self,
        plan: Plan,
        store: RunStore,
        manifest: RunManifest,
        done: set[str],
        progress: ProgressMode,
        summary: SummaryBuilder,
    ) -> None:
        self.summary = summary
        self.plan = plan
        self.store = store
        self.manifest = manifest
        self.done = done
        self.show_progress = progress
        self.errors = 0
        self.completed = len(done)
        planned = manifest.planned or 0
        max_err = manifest.max_error_rate or 0.0
        # More errors than this and the verdict can only be "provider errors": stop early.
        self.error_budget = int(max_err * planned) if planned else 0
        self.aborted = False
        self.cache: ResponseCache | None = None
        self.read_cache = not plan.options.no_cache
        self.providers: dict[str, Provider] = {}
        self.arms: dict[str, _ArmRuntime] = {}
        self.bar: Progress | None = None
        self.writer: ResultWriter | None = None
        # Cache hits are scored inline only when no scorer awaits (a judge scores in the
        # worker pool, where its calls run concurrently).
        self.inline_hits = self.read_cache and all(s.sync for s in plan.scorers)

    async def run(self) -> bool:
        """Execute; returns True when the run stopped early on provider errors."""
        from ..providers import create_provider
        from ..providers.cache import KeyBuilder, ResponseCache

        plan = self.plan
        semaphores: dict[str, asyncio.Semaphore] = {}
        for arm in plan.arms:
            name = arm.model.name
            if name not in self.providers:
                provider = create_provider(arm.model, workspace=plan.workspace)
                self.providers[name] = provider
                # A provider may serve fewer calls at once than configured (the local model
                # generates one or a few at a time): queue here, not inside its timeout.
                limit = min(
                    arm.model.concurrency,
                    getattr(provider, "max_concurrency", None) or arm.model.concurrency,
                )
                semaphores[name] = asyncio.Semaphore(limit)
            provider = self.providers[name]
            keys = (
                KeyBuilder(
                    arm.model.id,
                    arm.model.api_base,
                    arm.params,
                    arm.response_format(),
                    labels=arm.request_labels(),
                )
                if provider.cacheable
                else None
            )
            self.arms[arm.name] = _ArmRuntime(
                provider, semaphores[name], keys, base_record(self.manifest.id, arm)
            )
        # --no-cache skips reading the cache, not writing it: fresh answers refresh it.
        cache_path = plan.workspace.cache_dir / "responses.sqlite"
        shared = self.store.shared
        if shared is not None and self.read_cache:
            # Answers other machines already paid for (store/shared_cache.py).
            from ..store.shared_cache import pull_cache

            pull_cache(shared, cache_path)
        self.cache = ResponseCache(cache_path)
        n_workers = plan.options.max_concurrency or plan.suite.max_concurrency
        n_workers = max(
            1, min(n_workers, sum(a.model.concurrency for a in plan.arms), plan.planned)
        )
        queue: asyncio.Queue[_Item | None] = asyncio.Queue(maxsize=n_workers * 4)
        self.writer = self.store.writer(self.manifest.id)
        from .progress import make_progress

        self.bar = make_progress(
            self.show_progress, plan.planned, self.completed, label=self._progress_label()
        )
        try:
            workers = [asyncio.create_task(self._worker(queue)) for _ in range(n_workers)]
            producer = asyncio.create_task(self._produce(queue, n_workers))
            await self._until_done_or_failed([producer, *workers])
        finally:
            self.writer.close()
            if self.bar:
                self.bar.close()
            self.cache.close()
            if shared is not None:
                _share_answers(shared, cache_path)
            for p in self.providers.values():
                try:
                    await p.aclose()
                except Exception:  # noqa: BLE001 - closing must not mask the run's outcome
                    pass
        return self.aborted

    def _progress_label(self) -> str:
        """`run ID of SUITE`: which suite a long command is running is never a silent
        choice (a gate or retrain may pick the workspace's default one)."""
        label = f"run {self.manifest.id}"
        path = self.plan.suite_path
        if path is None:
            return label
        root = self.plan.workspace.root
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        return f"{label} of {shown}"

    async def _until_done_or_failed(self, tasks: list[asyncio.Task[None]]) -> None:
        """Wait for every task; when one fails (a full disk, a missing key), stop the others
        at once and raise its error. Waiting on them instead would hang: a producer blocked
        on a full queue whose workers are gone never returns."""
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = [t for t in done if not t.cancelled() and t.exception() is not None]
        if not failed:
            return
        self.aborted = True
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        error = failed[0].exception()
        assert error is not None
        raise error

    # ---- producer ----------------------------------------------------------------------
    def _items(self) -> Iterator[_Item]:
        plan = self.plan
        for es in plan.evalsets:
            # Result keys are `prompt|model|evalset|case_id|repeat`.
            arms = [
                (arm, self.arms[arm.name], f"{arm.prompt.ref}|{arm.model.name}|{es.name}|")
                for arm in plan.arms
            ]
            for case in plan.cases(es):
                for arm, rt, prefix in arms:
                    for r in range(plan.repeat):
                        key = f"{prefix}{case.id}|{r}"
                        if key not in self.done:
                            yield _Item(es.name, case, arm, rt, r, key)

    async def _produce(self, queue: asyncio.Queue[_Item | None], n_workers: int) -> None:
        batch: list[_Item] = []
        for item in self._items():
            if self.aborted:
                break
            batch.append(item)
            if len(batch) >= CACHE_BATCH:
                await self._dispatch(batch, queue)
                batch = []
        if batch and not self.aborted:
            await self._dispatch(batch, queue)
        # Only on a normal end: after a failure the workers are cancelled, and a put into a
        # full queue nobody reads would never return.
        for _ in range(n_workers):
            await queue.put(None)

    async def _dispatch(self, batch: list[_Item], queue: asyncio.Queue[_Item | None]) -> None:
        """Serve a batch: cache hits inline when they can be, the rest through the workers."""
        warm_retrieval(batch)
        inline = [i for i in batch if self.inline_hits and i.rt.keys is not None]
        if inline:
            await self._serve_cached(inline, queue)
        for item in batch:
            if self.aborted:
                return
            if not (self.inline_hits and item.rt.keys is not None):
                await queue.put(item)

    async def _serve_cached(self, batch: list[_Item], queue: asyncio.Queue[_Item | None]) -> None:
        """Answer the items of `batch` that the cache holds; queue the others for a call."""
        assert self.cache is not None and self.writer is not None
        finished: list[dict[str, Any]] = []
        lookups: list[_Item] = []
        scorers = self.plan.scorers
        for item in batch:
            rec = self._record(item)
            request = self._request(item, rec)
            if request is None:  # a template error: recorded as it is
                finished.append(rec)
                continue
            keys = item.rt.keys
            assert keys is not None
            item.rec, item.request = rec, request
            item.ckey = request_key(keys, request, item.repeat)
            lookups.append(item)
        found = self.cache.get_many([item.ckey for item in lookups if item.ckey is not None])
        for rec in finished:
            self._account(rec)
        for item in lookups:
            if self.aborted:
                break
            completion = found.get(item.ckey) if item.ckey is not None else None
            if completion is None:
                await queue.put(item)  # a miss: a worker calls the provider
                continue
            assert item.rec is not None
            rec = item.rec
            record_answer(rec, completion)
            ctx = score_context(rec, item.arm, item.case, completion)
            record_scores(rec, scorers, [s.evaluate_sync(ctx) for s in scorers])
            rec["ts"] = time.time()
            self._account(rec)
            finished.append(rec)
        self.writer.write_many(finished)
        await asyncio.sleep(0)  # let the workers' calls progress between batches

    # ---- workers -----------------------------------------------------------------------
    async def _worker(self, queue: asyncio.Queue[_Item | None]) -> None:
        assert self.writer is not None
        while True:
            item = await queue.get()
            if item is None:
                return
            if self.aborted:
                continue
            record = await self._evaluate(item)
            self.writer.write(record)
            self._account(record)

    def _account(self, record: dict[str, Any]) -> None:
        """Count a result that is (about to be) written: summary, errors, progress."""
        self.summary.add(record)
        self.completed += 1
        if record["error"] is not None:
            self.errors += 1
            if self.errors > self.error_budget and record["error_kind"] not in ("template",):
                self.aborted = True
        if self.bar:
            self.bar.advance(self.errors)

    async def _evaluate(self, item: _Item) -> dict[str, Any]:
        arm = item.arm
        rt = item.rt
        completion: Completion | None = None
        rec, request, ckey = item.rec, item.request, item.ckey
        if rec is None or request is None:  # not looked up by the producer
            rec = self._record(item)
            request = self._request(item, rec)
            if request is None:
                return rec
            if self.cache is not None and rt.keys is not None:
                ckey = request_key(rt.keys, request, item.repeat)
                if self.read_cache:
                    completion = self.cache.get(ckey)
        if completion is None:
            from ..providers.retry import complete_with_retries

            try:
                async with rt.semaphore:
                    completion, attempts = await complete_with_retries(
                        rt.provider, request, max_retries=arm.model.max_retries
                    )
            except ProviderError as exc:
                rec.update(
                    error=str(exc),
                    error_kind=exc.kind,
                    attempts=getattr(exc, "attempts", 1),
                    ts=time.time(),
                )
                return rec
            except MissingCredentialError:
                raise
            except Exception as exc:  # noqa: BLE001 - an adapter bug is recorded, never a pass
                rec.update(
                    error=f"{type(exc).__name__}: {exc}",
                    error_kind="other",
                    attempts=1,
                    ts=time.time(),
                )
                return rec
            rec["attempts"] = attempts
            if self.cache is not None and ckey is not None:
                self.cache.put(ckey, completion)
        record_answer(rec, completion)
        ctx = score_context(rec, arm, item.case, completion)
        scorers = self.plan.scorers
        record_scores(rec, scorers, [await s.evaluate(ctx) for s in scorers])
        rec["ts"] = time.time()
        return rec

    # ---- one result ----------------------------------------------------------------------
    @staticmethod
    def _record(item: _Item) -> dict[str, Any]:
        """The result of `item` before anything is known (a copy of its arm's base)."""
        case = item.case
        rec = item.rt.base.copy()  # keeps the field order of every result line
        rec["key"] = item.key
        rec["evalset"] = item.evalset
        rec["case_id"] = case.id
        rec["segment"] = case.segment
        rec["tags"] = case.tags
        rec["repeat"] = item.repeat
        rec["expected"] = case.expected
        rec["scores"] = []
        return rec

    def _request(self, item: _Item, rec: dict[str, Any]) -> CompletionRequest | None:
        """Render the item's messages into `rec`; None (and the error in `rec`) on a template error."""
        arm, case = item.arm, item.case
        prompt = arm.prompt
        variables = case.template_context()
        if arm.context:
            variables = {**variables, **arm.context}
        try:
            messages = prompt.render(variables, case_id=case.id)
        except TemplateError as exc:
            rec.update(error=exc.message, error_kind="template", ts=time.time())
            return None
        rec["messages"] = messages
        tools, tool_choice = prompt.request_tools(case.tools, case.tool_choice)
        return CompletionRequest(
            model=arm.model.id,
            messages=messages,
            params=arm.params,
            response_format=arm.response_format(),
            case=CaseHint(
                id=case.id,
                expected=case.expected,
                segment=case.segment,
                labels=prompt.output.labels,
                output_type=prompt.output.type,
                repeat=item.repeat,
            ),
            timeout_s=arm.model.timeout_s,
            labels=arm.request_labels(),
            tools=tools,
            tool_choice=tool_choice,
        )


def warm_retrieval(batch: list[_Item]) -> None:
    """Embed the texts a batch's templates will retrieve with, one call per index, before
    they render.

    A template's `retrieve(description)` embeds one text per case: one forward pass each, at
    a few times the per-text cost of a batch (`classifier_cases_per_s`). Searching all of
    the batch's texts at once puts their vectors in the embedding cache, where each case's
    own `retrieve` finds them. The texts are the variables a template passes to `retrieve`
    by name (`retrieve(NAME...)`); other arguments are left to the render. Best effort: a
    failure here resurfaces, per case, when the case renders.
    """
    wanted: dict[int, tuple[Any, dict[str, None]]] = {}
    names_of: dict[int, tuple[str, ...]] = {}  # per arm: its templates' retrieve arguments
    for item in batch:
        index = getattr(item.arm.context.get("retrieve"), "__self__", None)
        if index is None or not hasattr(index, "search_many"):
            continue
        names = names_of.get(id(item.arm))
        if names is None:
            names = names_of[id(item.arm)] = _retrieved_names(item.arm)
        if not names:
            continue
        _, texts = wanted.setdefault(id(index), (index, {}))
        for name in names:
            value = item.case.vars.get(name)
            if isinstance(value, str):
                texts[value] = None
    for index, texts in wanted.values():
        if len(texts) > 1:
            try:
                index.search_many(list(texts), k=1)
            except Exception:  # noqa: BLE001 - the case's own render reports it
                pass


_RETRIEVE_ARG = re.compile(r"\bretrieve\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*[,)]")


def _retrieved_names(arm: Arm) -> tuple[str, ...]:
    found = {n for m in arm.prompt.messages for n in _RETRIEVE_ARG.findall(m.content)}
    return tuple(sorted(found))


def _share_answers(shared: ObjectStore, cache_path: Path) -> None:
    """Push the answers this run added to the cache; a store that fails here costs only
    calls another machine will make again (a warning, never the run)."""
    import warnings

    from ..store.shared_cache import push_cache

    try:
        push_cache(shared, cache_path)
    except StorageError as exc:
        warnings.warn(f"the run's answers were not shared ({exc})", stacklevel=2)
