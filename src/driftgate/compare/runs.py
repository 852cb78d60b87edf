"""Comparing stored runs (`compare_runs`) and the one-step form (`compare_suite`)."""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..providers.base import ModelConfig
from ..store.records import CaseResult, RunManifest
from ..store.runs import RunStore
from ..summary import arm_key
from ..workspace import Workspace
from .align import arms_of, choose_arms, choose_arms_in_run
from .core import RESULT_CLUSTER_FIELDS, compare_results
from .schema import Comparison

if TYPE_CHECKING:
    from ..engine.progress import ProgressMode
    from ..engine.runner import Run
    from ..suite import Suite

_GOLDEN_SET_FIELDS = ("metadata.", "vars.")


def compare_runs(
    a: str,
    b: str | None = None,
    *,
    workspace: Workspace | Path | str | None = None,
    arm_a: str | None = None,
    arm_b: str | None = None,
    metric: str = "pass",
    reducer: str = "mean",
    k: int | None = None,
    cluster_by: str | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    margin: float = 0.0,
    n_boot: int = 10_000,
) -> Comparison:
    """Compare run B with run A, or two arms of run A when `b` is None.

    Run ids may be prefixes or `latest`. Arms are picked by `arm_a` / `arm_b`
    (`PROMPT · MODEL` or a unique part of it), by being a run's only arm, or by name when
    both runs have it. A run that is not finished is compared on its finished cases with a
    warning. `cluster_by` also accepts `metadata.KEY` and `vars.KEY`, read from the golden
    set files the runs name. The rest is as in `compare_results`.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    sides = _load_sides(RunStore.of(ws), a, b, arm_a, arm_b)
    warnings = sides.warnings()
    clusters = _run_clusters(ws, sides, cluster_by, warnings)
    return compare_results(
        _of_arm(sides.res_a, sides.arm_a),
        _of_arm(sides.res_b, sides.arm_b),
        metric=metric,
        reducer=reducer,
        k=k,
        cluster_by=cluster_by,
        clusters=clusters,
        confidence=confidence,
        seed=seed,
        margin=margin,
        n_boot=n_boot,
        manifest_a=sides.man_a,
        manifest_b=sides.man_b,
        warnings=warnings,
    )


@dataclass
class _Sides:
    """Two stored runs (one run twice for two of its arms), their results and chosen arms."""

    man_a: RunManifest
    res_a: list[CaseResult]
    man_b: RunManifest
    res_b: list[CaseResult]
    arm_a: str
    arm_b: str

    def warnings(self) -> list[str]:
        """Unfinished runs (compared on what finished) and golden sets that changed."""
        runs = {self.man_a.id: (self.man_a, self.res_a), self.man_b.id: (self.man_b, self.res_b)}
        out = [w for m, res in runs.values() for w in _status_warnings(m, res)]
        return out + _digest_warnings(self.man_a, self.man_b)


def _load_sides(
    store: RunStore, a: str, b: str | None, arm_a: str | None, arm_b: str | None
) -> _Sides:
    id_a = store.resolve_id(a)
    id_b = store.resolve_id(b) if b is not None else id_a
    man_a = store.load(id_a)
    res_a = list(store.results(id_a))
    where_a = f"run {id_a}"
    if id_b == id_a:  # two arms of one run: read it once
        pa, pb = choose_arms_in_run(arms_of(res_a), arm_a, arm_b, where=where_a)
        return _Sides(man_a, res_a, man_a, res_a, pa, pb)
    man_b = store.load(id_b)
    res_b = list(store.results(id_b))
    pa, pb = choose_arms(
        arms_of(res_a), arms_of(res_b), arm_a, arm_b, where_a=where_a, where_b=f"run {id_b}"
    )
    return _Sides(man_a, res_a, man_b, res_b, pa, pb)


def _run_clusters(
    ws: Workspace, sides: _Sides, cluster_by: str | None, warnings: list[str]
) -> dict[str, Hashable] | None:
    """Cluster labels read from the golden sets (`metadata.KEY`, `vars.KEY`); None for
    the fields `compare_results` reads from the results themselves."""
    if cluster_by is not None and cluster_by.startswith(_GOLDEN_SET_FIELDS):
        return _golden_set_clusters(ws, sides.man_a, sides.man_b, cluster_by, warnings)
    if cluster_by is not None and cluster_by not in RESULT_CLUSTER_FIELDS:
        raise ConfigError(
            f"cannot cluster by {cluster_by!r}; use one of {', '.join(RESULT_CLUSTER_FIELDS)}, "
            "metadata.KEY or vars.KEY",
            field="cluster_by",
        )
    return None


def compare_suite(
    suite: Suite | Path | str | None = None,
    *,
    models: list[str | ModelConfig] | None = None,
    prompts: list[str] | None = None,
    workspace: Workspace | Path | str | None = None,
    **kw: Any,
) -> tuple[Run, Comparison]:
    """Run a suite on two models (`models=[A, B]`) or two prompts (`prompts=[P1, P2]`) in
    one run, then compare the two arms (B against A). A suite whose other axis makes more
    than two arms is refused: `compare_suite_pairs` compares those pair by pair. `kw` as in
    `compare_suite_pairs`."""
    result, pairs = compare_suite_pairs(
        suite, models=models, prompts=prompts, workspace=workspace, _only_one=True, **kw
    )
    return result, pairs[0]


def compare_suite_pairs(
    suite: Suite | Path | str | None = None,
    *,
    models: list[str | ModelConfig] | None = None,
    prompts: list[str] | None = None,
    workspace: Workspace | Path | str | None = None,
    repeat: int | None = None,
    limit: int | None = None,
    sample: int | None = None,
    filter: list[str] | str | None = None,
    no_cache: bool = False,
    max_concurrency: int | None = None,
    max_error_rate: float | None = None,
    progress: ProgressMode = "auto",
    _only_one: bool = False,
    **compare_kw: Any,
) -> tuple[Run, list[Comparison]]:
    """Run a suite on two models (or two prompts) in one run and compare them side by side
    on each value of the suite's other axis: with `models=[A, B]` and a suite of prompts
    P1, P2, B is compared with A on P1, then on P2 (the prompt held fixed in each pair), as
    promptfoo and Inspect users read a matrix. The response cache makes a rerun of
    unchanged arms free. `compare_kw` goes to `compare_runs` (metric, reducer, margin…)."""
    from ..engine.plan import RunOptions, build_plan
    from ..engine.runner import run
    from ..providers.replay import use_workspace

    n_models, n_prompts = len(models or []), len(prompts or [])
    if not ((n_models == 2 and n_prompts <= 1) or (n_prompts == 2 and n_models <= 1)):
        raise ConfigError(
            f"give two models or two prompts to compare (got {n_models} models, {n_prompts} prompts)",
            field="models" if n_models else "prompts",
            hint="e.g. --models sim/acme@v1,sim/acme@v2 or --prompts cat@v1,cat@v2",
        )
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    with use_workspace(ws):
        # Plan first (cheap, writes nothing) to learn the arms' exact names and pair them.
        plan = build_plan(suite, workspace=ws, options=RunOptions(), prompts=prompts, models=models)
        pairs = _pairs([(a.prompt.ref, a.model.name) for a in plan.arms], by_model=n_models == 2)
        if _only_one and len(pairs) != 1:
            names = [arm.name for arm in plan.arms]
            raise ConfigError(
                f"the suite makes {len(names)} arms ({'; '.join(names)}), not 2",
                field="prompts" if n_models else "models",
                hint="compare_suite_pairs compares them pair by pair",
            )
        result = run(
            suite, workspace=ws, prompts=prompts, models=models, repeat=repeat, limit=limit,
            sample=sample, filter=filter, no_cache=no_cache, max_concurrency=max_concurrency,
            max_error_rate=max_error_rate, progress=progress,
        )  # fmt: skip
    comparisons = [
        compare_runs(result.id, workspace=ws, arm_a=a, arm_b=b, **compare_kw) for a, b in pairs
    ]
    return result, comparisons


def _pairs(arms: list[tuple[str, str]], *, by_model: bool) -> list[tuple[str, str]]:
    """(arm A, arm B) names, one pair per value of the axis not being compared: with
    `by_model`, the two models of each prompt; else the two prompts on each model."""
    groups: dict[str, list[str]] = {}
    for prompt, model in arms:
        fixed = prompt if by_model else model
        groups.setdefault(fixed, []).append(arm_key(prompt, model))
    bad = {fixed: names for fixed, names in groups.items() if len(names) != 2}
    if bad:
        fixed, names = next(iter(bad.items()))
        raise ConfigError(
            f"{fixed} has {len(names)} arms in the suite ({'; '.join(names)}), not the 2 to compare",
            field="models" if by_model else "prompts",
        )
    return [(names[0], names[1]) for names in groups.values()]


def _of_arm(results: list[CaseResult], arm: str) -> list[CaseResult]:
    return [r for r in results if arm_key(r.prompt, r.model) == arm]


def _status_warnings(manifest: RunManifest, results: list[CaseResult]) -> list[str]:
    if manifest.status == "finished":
        return []
    planned = f" of {manifest.planned} planned" if manifest.planned else ""
    why = {
        "running": "is still running (or was killed without a trace)",
        "interrupted": "was interrupted",
        "failed": "failed (provider errors over budget)",
    }.get(manifest.status, manifest.status)
    return [
        f"run {manifest.id} {why}: compared on its {len(results)} finished results{planned}; "
        f"`driftgate run --resume {manifest.id}` completes it"
    ]


def _digest_warnings(man_a: RunManifest, man_b: RunManifest) -> list[str]:
    if man_a.id == man_b.id:
        return []
    b_sets = {e.name: e for e in man_b.evalsets}
    out = []
    for e in man_a.evalsets:
        other = b_sets.get(e.name)
        if other is not None and other.digest != e.digest:
            out.append(
                f"golden set {e.name!r} changed between the runs (digest {e.digest} → {other.digest}): "
                "compared on the case ids both have, whose content may differ"
            )
    return out


def _golden_set_clusters(
    ws: Workspace, man_a: RunManifest, man_b: RunManifest, cluster_by: str, warnings: list[str]
) -> dict[str, Hashable]:
    """`EVALSET:CASE_ID` → the case's metadata.KEY / vars.KEY, read from the golden sets."""
    from ..evalset import iter_cases

    section, _, key = cluster_by.partition(".")
    if not key:
        raise ConfigError(f"{cluster_by!r} names no key, e.g. {section}.source", field="cluster_by")
    out: dict[str, Hashable] = {}
    seen: set[str] = set()
    for info in [*man_a.evalsets, *man_b.evalsets]:
        if info.name in seen:
            continue
        seen.add(info.name)
        path = ws.inside(info.path, what="golden set")
        if not path.exists():
            warnings.append(f"golden set {info.path} is gone: its cases are not clustered")
            continue
        for case in iter_cases(path):
            value = (case.metadata if section == "metadata" else case.vars).get(key)
            if value is not None:
                label = (
                    value
                    if isinstance(value, str | int | float | bool)
                    else json.dumps(value, sort_keys=True)
                )
                out[f"{info.name}:{case.id}"] = label
    if not out:
        raise ConfigError(
            f"no case of the compared golden sets has {cluster_by!r}",
            field="cluster_by",
            hint='e.g. a case {"id": ..., "metadata": {"source": "doc-17"}} with --cluster-by metadata.source',
        )
    return out


def compare_runs_or_suite(
    run_a: str | None = None,
    run_b: str | None = None,
    *,
    models: Sequence[str | ModelConfig] | None = None,
    prompts: list[str] | None = None,
    suite: Suite | Path | str | None = None,
    workspace: Workspace | Path | str | None = None,
    arm_a: str | None = None,
    arm_b: str | None = None,
    repeat: int | None = None,
    limit: int | None = None,
    no_cache: bool = False,
    **compare_kw: Any,
) -> list[Comparison]:
    """What `driftgate compare` does: with `models` or `prompts`, run the suite on the two
    and compare them, one comparison per value of the other axis (`compare_suite_pairs`);
    else compare stored runs (`compare_runs`: two runs, or two arms of `run_a`), one
    comparison. `compare_kw` (metric, reducer, margin…) goes to both."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    if models or prompts:
        if run_a or run_b:
            raise ConfigError(
                "give runs to compare, or --models/--prompts to run a suite, not both"
            )
        _, comparisons = compare_suite_pairs(
            suite, models=None if models is None else list(models), prompts=prompts, workspace=ws, repeat=repeat, limit=limit,
            no_cache=no_cache, **compare_kw,
        )  # fmt: skip
        return comparisons
    if not run_a:
        raise ConfigError(
            "nothing to compare",
            hint="driftgate compare RUN_A RUN_B, or --models A,B / --prompts P1,P2",
        )
    return [compare_runs(run_a, run_b, workspace=ws, arm_a=arm_a, arm_b=arm_b, **compare_kw)]
