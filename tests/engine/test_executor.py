"""The executor's cache path: answers served from the cache (inline, without the worker
pool) are recorded exactly as answers from a provider call, and mixed runs stay complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import driftgate
from driftgate.engine.executor import CACHE_BATCH, Executor
from driftgate.engine.manifest import new_manifest
from driftgate.engine.plan import build_plan
from driftgate.providers import Completion, CompletionRequest, Provider, register_provider
from driftgate.scoring.base import Score, ScoreContext, Scorer, scorer
from driftgate.store.runs import RunStore
from driftgate.summary import SummaryBuilder

# Fields that differ between two runs of the same suite by design.
PER_RUN = {"run_id", "ts", "cached", "attempts"}


class CountingProvider(Provider):
    """Answers every case with its expected label, counting the calls it receives."""

    calls = 0

    async def complete(self, request: CompletionRequest) -> Completion:
        type(self).calls += 1
        assert request.case is not None
        return Completion(
            text=f"  {request.case.expected}  ",
            input_tokens=7,
            output_tokens=1,
            cost_usd=0.001,
            latency_ms=12.5,
            fingerprint="fp-count",
        )


register_provider("counting", CountingProvider)


@scorer("test-async-length")
class AsyncLength(Scorer):
    """A scorer that awaits (as a judge does): the engine must not score it inline."""

    async def ascore(self, ctx: ScoreContext) -> Score:
        return Score(1.0, len(ctx.output or "") > 0, reason="awaited")


def lines(run: driftgate.Run) -> dict[str, dict[str, Any]]:
    """The run's stored result lines by key, as written (field order included)."""
    segs = sorted((run.store.run_dir(run.id) / "results").glob("*.jsonl"))
    out = {}
    for seg in segs:
        for line in seg.read_text().splitlines():
            rec = json.loads(line)
            out[rec["key"]] = rec
    return out


def without(rec: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in fields}


def test_cached_rerun_records_what_the_first_run_recorded(ws_root: Path):
    first = driftgate.run(workspace=ws_root)
    second = driftgate.run(workspace=ws_root)
    a, b = lines(first), lines(second)
    assert len(a) == len(b) == 40 and a.keys() == b.keys()
    for key, rec in a.items():
        hit = b[key]
        assert list(hit) == list(rec)  # the same fields, in the same order
        assert without(hit, PER_RUN) == without(rec, PER_RUN)
        assert rec["cached"] is False and hit["cached"] is True
        assert rec["attempts"] == 1 and hit["attempts"] == 0  # no call was made for the hit
        assert hit["run_id"] == second.id and hit["ts"] >= rec["ts"]
    assert second.manifest.summary == first.manifest.summary
    assert second.manifest.verdict == first.manifest.verdict == "passed"


def test_hits_never_reach_the_provider(ws_root: Path):
    model = driftgate.ModelConfig(id="counting/any")
    CountingProvider.calls = 0
    first = driftgate.run(workspace=ws_root, models=[model])
    assert CountingProvider.calls == 40
    r = first.results[0]
    assert r.output == f"  {r.expected}  " and r.parsed == r.expected and r.passed
    second = driftgate.run(workspace=ws_root, models=[model])
    assert CountingProvider.calls == 40
    assert all(r.cached for r in second.results)
    assert {r.key: r.score for r in second.results} == {r.key: r.score for r in first.results}
    hit = second.results[0]
    assert (hit.input_tokens, hit.output_tokens, hit.cost_usd, hit.latency_ms, hit.fingerprint) == (
        7,
        1,
        0.001,
        12.5,
        "fp-count",
    )


def test_a_partly_cached_run_calls_only_for_the_misses(ws_root: Path):
    model = driftgate.ModelConfig(id="counting/any")
    CountingProvider.calls = 0
    driftgate.run(workspace=ws_root, models=[model], limit=10)
    assert CountingProvider.calls == 10
    full = driftgate.run(workspace=ws_root, models=[model])
    assert CountingProvider.calls == 40
    assert len(full.results) == 40 and full.manifest.summary.results == 40
    cached = {r.case_id for r in full.results if r.cached}
    assert cached == {f"c{i:03d}" for i in range(10)}
    assert all(r.passed for r in full.results)


def test_more_cases_than_one_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from conftest import write_workspace

    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    root = write_workspace(tmp_path / "ws", n_cases=CACHE_BATCH * 2 + 5)
    first = driftgate.run(workspace=root)
    second = driftgate.run(workspace=root, repeat=2)  # repeat 0 from the cache, repeat 1 called
    assert len(second.results) == 2 * (CACHE_BATCH * 2 + 5)
    by_repeat = {0: set(), 1: set()}
    for r in second.results:
        by_repeat[r.repeat].add(r.cached)
    assert by_repeat == {0: {True}, 1: {False}}
    assert first.manifest.summary.pass_rate == second.manifest.summary.pass_rate == 1.0


def test_a_scorer_that_awaits_is_scored_by_the_workers(ws_root: Path):
    suite = ws_root / "evalsets" / "main.suite.yaml"
    suite.write_text(
        suite.read_text().replace(
            "  - {type: label-match, metric: category}\n",
            "  - {type: label-match, metric: category}\n  - {type: test-async-length}\n",
        )
    )
    plan = build_plan(workspace=driftgate.Workspace.find(ws_root))
    assert not Executor(
        plan, RunStore(ws_root / "runs"), new_manifest(plan), set(), False, SummaryBuilder()
    ).inline_hits
    first = driftgate.run(workspace=ws_root)
    second = driftgate.run(workspace=ws_root)
    assert all(r.cached for r in second.results)
    a, b = lines(first), lines(second)
    assert {k: without(v, PER_RUN) for k, v in a.items()} == {
        k: without(v, PER_RUN) for k, v in b.items()
    }
    assert all(r.scores[1].reason == "awaited" for r in second.results)


def test_suites_of_sync_scorers_are_served_inline(ws_root: Path):
    plan = build_plan(workspace=driftgate.Workspace.find(ws_root))
    store = RunStore(ws_root / "runs")
    assert Executor(plan, store, new_manifest(plan), set(), False, SummaryBuilder()).inline_hits
    plan.options.no_cache = True  # --no-cache never reads the cache
    assert not Executor(plan, store, new_manifest(plan), set(), False, SummaryBuilder()).inline_hits


def test_a_template_error_is_recorded_alike_from_the_cache_path(ws_root: Path):
    prompt = ws_root / "prompts" / "cat.yaml"
    prompt.write_text(
        prompt.read_text().replace("'{{ description }}'", "'{{ description }} {{ meta.shop }}'")
    )
    cases = ws_root / "evalsets" / "tx.jsonl"
    rows = [json.loads(x) for x in cases.read_text().splitlines()]
    for i, row in enumerate(rows):
        # The same variables in every case (one shape), but case 5 lacks the attribute.
        row["vars"]["meta"] = {} if i == 5 else {"shop": f"s{i}"}
    cases.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first = driftgate.run(workspace=ws_root, max_error_rate=0.5)
    second = driftgate.run(workspace=ws_root, max_error_rate=0.5)
    a, b = lines(first), lines(second)
    bad = "cat@v1|sim/perfect@v1|tx|c005|0"
    assert a[bad]["error_kind"] == b[bad]["error_kind"] == "template"
    assert "shop" in a[bad]["error"] and a[bad]["messages"] is None
    assert {k: without(v, PER_RUN) for k, v in a.items()} == {
        k: without(v, PER_RUN) for k, v in b.items()
    }
    assert sum(r.cached for r in second.results) == 39
    assert second.manifest.summary.errors == first.manifest.summary.errors == 1


def test_a_resumed_run_serves_its_missing_cases_from_the_cache(ws_root: Path):
    first = driftgate.run(workspace=ws_root)
    # A run interrupted after 15 results: its other 25 come from the cache on resume.
    run = driftgate.run(workspace=ws_root, limit=15)
    store = RunStore(ws_root / "runs")
    manifest = store.load(run.id)
    manifest.status, manifest.planned = "interrupted", 40
    manifest.settings["limit"] = None
    store.save(manifest)
    done = driftgate.resume(run.id, workspace=ws_root)
    assert done.manifest.status == "finished" and len(done.results) == 40
    assert {r.key: r.score for r in done.results} == {r.key: r.score for r in first.results}
