"""The async runner: streams cases through providers and scorers into the store.

A fixed pool of workers pulls work items (case × arm × repeat) from a bounded queue, so
memory stays flat however large the golden set is; each model has its own concurrency
limit. Each result is appended to the run's segment the moment it is scored, so a killed
run loses nothing finished and `resume` completes it with exactly one result per key.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    EXIT_BAD_INPUT,
    EXIT_BELOW_THRESHOLD,
    EXIT_OK,
    EXIT_PROVIDER_ERRORS,
    ConfigError,
    MissingCredentialError,
    TemplateError,
)
from ..evalset import Case
from ..providers.base import CaseHint, CompletionRequest, ModelConfig, Provider, ProviderError
from ..scoring.base import ScoreContext
from ..store.records import CaseResult, RunManifest, Summary
from ..store.runs import RunStore
from ..suite import Suite
from ..workspace import Workspace
from .manifest import new_manifest
from .plan import Arm, Plan, RunOptions, build_plan
from .progress import ProgressBar

if TYPE_CHECKING:
    from ..summary import SummaryBuilder


class Run:
    """A finished (or interrupted) run: its manifest, and its results read from the store."""

    def __init__(self, manifest: RunManifest, store: RunStore, plan: Plan | None = None) -> None:
        self.manifest = manifest
        self.store = store
        self.plan = plan  # the validated plan the run executed (None for a run loaded from disk)
        self._results: list[CaseResult] | None = None

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def summary(self) -> Summary | None:
        return self.manifest.summary

    @property
    def results(self) -> list[CaseResult]:
        if self._results is None:
            self._results = list(self.store.results(self.id))
        return self._results

    @property
    def passed(self) -> bool:
        return self.manifest.verdict == "passed"

    @property
    def exit_code(self) -> int:
        return {
            "passed": EXIT_OK,
            "below_threshold": EXIT_BELOW_THRESHOLD,
            "provider_errors": EXIT_PROVIDER_ERRORS,
        }.get(self.manifest.verdict or "", EXIT_BAD_INPUT)

    def __repr__(self) -> str:
        s = self.summary
        rate = f", pass_rate={s.pass_rate:.3f}" if s and s.pass_rate is not None else ""
        return f"Run({self.id!r}, verdict={self.manifest.verdict!r}{rate})"


def run(
    suite: Suite | Path | str | None = None,
    *,
    workspace: Workspace | Path | str | None = None,
    prompts: list[str] | None = None,
    models: list[str | ModelConfig] | None = None,
    repeat: int | None = None,
    max_concurrency: int | None = None,
    limit: int | None = None,
    sample: int | None = None,
    filter: list[str] | str | None = None,
    no_cache: bool = False,
    max_error_rate: float | None = None,
    seed: int | None = None,
    cases: dict[str, list[str]] | None = None,
    metadata: dict[str, Any] | None = None,
    progress: bool = False,
) -> Run:
    """Run a suite and return the run with its results.

    `suite` is a Suite, a suite file, or None for the workspace's default suite.
    `cases` runs exactly these case ids per golden set; `metadata` is stored in the
    manifest (`settings.metadata`) for the caller's own bookkeeping.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    options = RunOptions(
        repeat=repeat,
        max_concurrency=max_concurrency,
        limit=limit,
        sample=sample,
        filter=[filter] if isinstance(filter, str) else list(filter or []),
        no_cache=no_cache,
        max_error_rate=max_error_rate,
        seed=seed,
        cases=cases,
    )
    plan = build_plan(suite, workspace=ws, options=options, prompts=prompts, models=models)
    from ..registry import record_run_artifacts

    # Every artifact version a run uses is kept, so editing a file never loses what was evaluated.
    record_run_artifacts(ws, plan)
    store = RunStore(ws.runs_dir)
    manifest = new_manifest(plan)
    if metadata:
        manifest.settings["metadata"] = metadata
    store.create(manifest)
    return _execute(plan, store, manifest, progress=progress)


def resume(run_id: str, *, workspace: Workspace | Path | str | None = None, progress: bool = False) -> Run:
    """Finish an interrupted run: only the missing results are computed."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    store = RunStore(ws.runs_dir)
    manifest = store.load(run_id)
    if manifest.status == "finished":
        return Run(manifest, store)
    s = manifest.settings
    options = RunOptions(**{k: s.get(k) for k in RunOptions().__dict__ if k in s})
    suite = Suite.model_validate(s["suite"]) if "suite" in s else manifest.suite
    plan = build_plan(suite, workspace=ws, options=options)
    then = {p.ref: p.digest for p in manifest.prompts}
    for arm in plan.arms:
        if then.get(arm.prompt.ref) not in (None, arm.prompt.digest):
            raise ConfigError(
                f"prompt {arm.prompt.ref} changed since run {manifest.id} started "
                f"({then[arm.prompt.ref]} → {arm.prompt.digest}); a resumed run must use the same prompts",
                path=arm.prompt.source,
                hint="restore the prompt file, or start a new run",
            )
    manifest.resumed += 1
    manifest.status = "running"
    store.save(manifest)
    return _execute(plan, store, manifest, progress=progress)


def _execute(plan: Plan, store: RunStore, manifest: RunManifest, *, progress: bool) -> Run:
    from ..summary import SummaryBuilder

    labels = {a.prompt.ref: a.prompt.output.labels for a in plan.arms if a.prompt.output.labels}
    # The summary is built as results complete (no re-read of the run at the end); a resumed
    # run starts it from the results stored before.
    summary = SummaryBuilder(list(plan.suite.metrics), labels=labels)
    done: set[str] = set()
    for rec in store.iter_raw(manifest.id):
        done.add(rec["key"])
        summary.add(rec)
    try:
        aborted = asyncio.run(_Executor(plan, store, manifest, done, progress, summary).run())
    except BaseException:
        manifest.status = "interrupted"
        store.save(manifest)
        raise
    return _finalize(plan, store, manifest, aborted, summary)


def _finalize(
    plan: Plan, store: RunStore, manifest: RunManifest, aborted: bool, builder: SummaryBuilder
) -> Run:
    summary = builder.build()
    manifest.summary = summary
    manifest.finished_at = time.time()
    max_err = manifest.max_error_rate if manifest.max_error_rate is not None else 0.0
    if aborted or (summary.error_rate or 0.0) > max_err:
        manifest.verdict = "provider_errors"
        manifest.status = "failed"
    else:
        manifest.status = "finished" if summary.results >= (manifest.planned or 0) else "interrupted"
        if manifest.status != "finished":
            manifest.verdict = "incomplete"
        elif (summary.pass_rate or 0.0) + 1e-12 >= (manifest.pass_threshold or 0.0):
            manifest.verdict = "passed"
        else:
            manifest.verdict = "below_threshold"
    store.save(manifest)
    return Run(manifest, store, plan)


@dataclass(slots=True)
class _Item:
    evalset: str
    case: Case
    arm: Arm
    repeat: int
    key: str


class _Executor:
    def __init__(
        self,
        plan: Plan,
        store: RunStore,
        manifest: RunManifest,
        done: set[str],
        progress: bool,
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
        self.cache = None
        self.providers: dict[str, Provider] = {}
        self.semaphores: dict[str, asyncio.Semaphore] = {}

    async def run(self) -> bool:
        from ..providers import create_provider

        plan = self.plan
        for arm in plan.arms:
            if arm.model.name not in self.providers:
                provider = create_provider(arm.model, workspace=plan.workspace)
                self.providers[arm.model.name] = provider
                # A provider may serve fewer calls at once than configured (the local model
                # generates one or a few at a time): queue here, not inside its timeout.
                limit = min(arm.model.concurrency, getattr(provider, "max_concurrency", None) or arm.model.concurrency)
                self.semaphores[arm.model.name] = asyncio.Semaphore(limit)
        from ..providers.cache import ResponseCache

        # --no-cache skips reading the cache, not writing it: fresh answers refresh it.
        self.read_cache = not plan.options.no_cache
        self.cache = ResponseCache(plan.workspace.cache_dir / "responses.sqlite")
        n_workers = plan.options.max_concurrency or plan.suite.max_concurrency
        n_workers = max(1, min(n_workers, sum(a.model.concurrency for a in plan.arms), plan.planned))
        queue: asyncio.Queue[_Item | None] = asyncio.Queue(maxsize=n_workers * 4)
        writer = self.store.writer(self.manifest.id)
        self.writer = writer
        bar = ProgressBar(self.plan.planned, self.completed) if self.show_progress else None
        self.bar = bar
        try:
            workers = [asyncio.create_task(self._worker(queue)) for _ in range(n_workers)]
            producer = asyncio.create_task(self._produce(queue, n_workers))
            await asyncio.gather(producer, *workers)
        finally:
            writer.close()
            if bar:
                bar.close()
            if self.cache is not None:
                self.cache.close()
            for p in self.providers.values():
                try:
                    await p.aclose()
                except Exception:  # noqa: BLE001 - closing must not mask the run's outcome
                    pass
        return self.aborted

    async def _produce(self, queue: asyncio.Queue[_Item | None], n_workers: int) -> None:
        try:
            for es in self.plan.evalsets:
                for case in self.plan.cases(es):
                    for arm in self.plan.arms:
                        for r in range(self.plan.repeat):
                            if self.aborted:
                                return
                            key = f"{arm.prompt.ref}|{arm.model.name}|{es.name}|{case.id}|{r}"
                            if key in self.done:
                                continue
                            await queue.put(_Item(es.name, case, arm, r, key))
        finally:
            for _ in range(n_workers):
                await queue.put(None)

    async def _worker(self, queue: asyncio.Queue[_Item | None]) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            if self.aborted:
                continue
            record = await self._evaluate(item)
            self.writer.write(record)
            self.summary.add(record)
            self.completed += 1
            if record["error"] is not None:
                self.errors += 1
                if self.errors > self.error_budget and record["error_kind"] not in ("template",):
                    self.aborted = True
            if self.bar:
                self.bar.advance(self.errors)

    async def _evaluate(self, item: _Item) -> dict[str, Any]:
        arm, case = item.arm, item.case
        prompt = arm.prompt
        rec: dict[str, Any] = {
            "run_id": self.manifest.id,
            "key": item.key,
            "evalset": item.evalset,
            "case_id": case.id,
            "segment": case.segment,
            "tags": case.tags,
            "prompt": prompt.ref,
            "prompt_digest": prompt.digest,
            "model": arm.model.name,
            "repeat": item.repeat,
            "messages": None,
            "expected": case.expected,
            "output": None,
            "parsed": None,
            "parse_error": None,
            "scores": [],
            "score": None,
            "passed": False,
            "error": None,
            "error_kind": None,
            "attempts": 0,
            "input_tokens": None,
            "output_tokens": None,
            "cost_usd": None,
            "latency_ms": None,
            "cached": False,
            "fingerprint": None,
            "ts": 0.0,
        }
        try:
            messages = prompt.render({**case.template_context(), **arm.context}, case_id=case.id)
        except TemplateError as exc:
            rec.update(error=exc.message, error_kind="template", ts=time.time())
            return rec
        rec["messages"] = messages
        request = CompletionRequest(
            model=arm.model.id,
            messages=messages,
            params=arm.params,
            response_format=arm.response_format(),
            case=CaseHint(
                id=case.id, expected=case.expected, segment=case.segment,
                labels=prompt.output.labels, output_type=prompt.output.type, repeat=item.repeat,
            ),
            timeout_s=arm.model.timeout_s,
        )
        completion = None
        ckey = None
        provider = self.providers[arm.model.name]
        if self.cache is not None and provider.cacheable:
            from ..providers.cache import cache_key

            ckey = cache_key(
                arm.model.id, arm.model.api_base, messages, arm.params, request.response_format, item.repeat,
                case=request.case,
            )
            if self.read_cache:
                completion = self.cache.get(ckey)
        if completion is None:
            from ..providers.retry import complete_with_retries

            try:
                async with self.semaphores[arm.model.name]:
                    completion, attempts = await complete_with_retries(
                        provider, request, max_retries=arm.model.max_retries
                    )
            except ProviderError as exc:
                rec.update(
                    error=str(exc), error_kind=exc.kind, attempts=getattr(exc, "attempts", 1), ts=time.time()
                )
                return rec
            except MissingCredentialError:
                raise
            except Exception as exc:  # noqa: BLE001 - an adapter bug is recorded, never a pass
                rec.update(error=f"{type(exc).__name__}: {exc}", error_kind="other", attempts=1, ts=time.time())
                return rec
            rec["attempts"] = attempts
            if self.cache is not None and ckey is not None:
                self.cache.put(ckey, completion)
        rec.update(
            output=completion.text,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            cost_usd=completion.cost_usd,
            latency_ms=completion.latency_ms,
            cached=completion.cached,
            fingerprint=completion.fingerprint,
        )
        await self._score(rec, arm, case, completion)
        rec["ts"] = time.time()
        return rec

    async def _score(self, rec: dict[str, Any], arm: Arm, case: Case, completion: Any) -> None:
        parsed, parse_error = arm.parse(completion.text)
        rec["parsed"] = parsed
        rec["parse_error"] = parse_error
        ctx = ScoreContext(
            output=completion.text,
            parsed=parsed,
            parse_error=parse_error,
            expected=case.expected,
            reference=case.reference,
            vars=case.vars,
            case_id=case.id,
            segment=case.segment,
            latency_ms=completion.latency_ms,
            cost_usd=completion.cost_usd,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            labels=arm.prompt.output.labels,
        )
        total_w = 0.0
        total = 0.0
        passed = True
        scores = []
        for scorer in self.plan.scorers:
            s = await scorer.evaluate(ctx)
            w = scorer.config.weight
            scores.append(
                {"metric": scorer.metric, "value": s.value, "passed": s.passed, "weight": w,
                 "reason": s.reason, "error": s.error, "data": s.data}
            )
            if w > 0:
                total_w += w
                total += w * s.value
                passed = passed and s.passed and s.error is None
            if s.error is not None:
                rec["error"] = rec["error"] or f"scorer {scorer.metric}: {s.error}"
                rec["error_kind"] = rec["error_kind"] or "scorer"
        rec["scores"] = scores
        rec["score"] = total / total_w if total_w else None
        rec["passed"] = passed and rec["error"] is None
