"""`drift check`: re-run the production configuration and compare it with the baseline.

    check = check_drift()                              # the workspace's default suite
    check = check_drift("evalsets/cat.suite.yaml", sample=400)
    check.alert, check.exit_code, check.arms[0].signals

The production configuration is the suite's prompts × models (or `models=`), run on its
golden sets — all cases, or a fixed stratified sample by segment: cases are ranked by a
hash of (seed, golden set, case id), so every check runs the same cases and adding cases
to a golden set barely moves the sample. The provider is always called (`no_cache`): a
cached answer cannot drift. The first check's run becomes the baseline; later checks
compare with it on the cases both ran, leaving out cases whose content changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..store.records import CaseResult, RunManifest
from ..suite import Suite
from ..workspace import Workspace
from .config import DriftConfig
from .golden import golden_set_changes, snapshot_evalsets, stratified_sample
from .schema import (
    ArmCheck,
    DriftBaseline,
    DriftCheck,
    DriftKey,
    EvalSetSnapshot,
    GoldenSetChange,
    TuningReport,
)
from .signal_lookup import signal_specs
from .signal_registry import evaluate_signal
from .signals import CheckContext
from .store import new_id
from .target import Target, drift_target
from .triggers import apply_triggers
from .vectorize import Vectorizer, resolve_vectorizer

if TYPE_CHECKING:
    from ..engine.plan import Plan
    from ..engine.runner import Run
    from ..providers.base import ModelConfig


# ---- the comparison of one arm -----------------------------------------------------------


def compare_sides(
    baseline: Sequence[CaseResult],
    current: Sequence[CaseResult],
    *,
    config: DriftConfig | None = None,
    tuned: TuningReport | None = None,
    vectorizer: str | Vectorizer | None = "tfidf",
    arm: str = "",
    baseline_arm: str | None = None,
) -> ArmCheck:
    """Every enabled signal of one arm, and the triggers: the pure core of a check."""
    cfg = config or DriftConfig()
    vectorize, _ = resolve_vectorizer(vectorizer)
    ctx = CheckContext(
        list(baseline),
        list(current),
        metric=cfg.metric,
        min_segment_cases=cfg.min_segment_cases,
        vectorize=vectorize,
        seed=cfg.seed,
        n_boot=cfg.n_boot,
    )
    results = []
    for spec in signal_specs("check"):
        s = cfg.settings(spec.name)
        if not (s.enabled if s.enabled is not None else spec.enabled):
            continue
        results.append(
            evaluate_signal(
                spec,
                ctx,
                config_threshold=s.threshold,
                tuned_threshold=tuned.threshold(spec.name) if tuned else None,
                min_n=s.min_n,
            )
        )
    n_common = len(
        {(r.evalset, r.case_id) for r in baseline} & {(r.evalset, r.case_id) for r in current}
    )
    out = ArmCheck(arm=arm, baseline_arm=baseline_arm or arm, n_common=n_common, signals=results)
    return apply_triggers(out, cfg.triggers)


def _match_arms(base: list[str], cur: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Pairs (baseline arm, current arm): same name first, then the rest in plan order."""
    pairs = [(a, a) for a in cur if a in base]
    rest_b = [a for a in base if a not in cur]
    rest_c = [a for a in cur if a not in base]
    notes = []
    if len(rest_b) == len(rest_c):
        for b, c in zip(rest_b, rest_c, strict=True):
            pairs.append((b, c))
            notes.append(f"arm {c!r} compared with baseline arm {b!r} (same place in the plan)")
    else:
        notes += [f"arm {c!r} has no baseline arm: --rebaseline to include it" for c in rest_c]
        notes += [f"baseline arm {b!r} is no longer run" for b in rest_b]
    return pairs, notes


_RESULTS_CACHE: dict[tuple[str, str], list[CaseResult]] = {}


def _baseline_results(ws: Workspace, run_id: str) -> list[CaseResult]:
    """A finished run never changes: keep the last baseline's results in memory (a cron
    job checks once; a benchmark or a long-lived monitor checks hundreds of times)."""
    from ..store.runs import RunNotFound, RunStore

    key = (str(ws.runs_dir), run_id)
    if key not in _RESULTS_CACHE:
        try:
            results = list(RunStore.of(ws).results(run_id))
        except RunNotFound:
            raise ConfigError(
                f"the baseline run {run_id} is missing from {ws.runs_dir}",
                hint="run `driftgate drift check --rebaseline` to record a new baseline",
            ) from None
        _RESULTS_CACHE.clear()
        _RESULTS_CACHE[key] = results
    return _RESULTS_CACHE[key]


# ---- running the production configuration ------------------------------------------------


def _run(
    target: Target, selection: dict[str, list[str]] | None, *, progress: bool
) -> tuple[Run, Plan]:
    """Run the suite on the selected cases, calling the provider for every one."""
    from ..engine import runner

    suite: Suite | Path = target.path if target.path is not None else target.suite
    sample = sum(map(len, (selection or {}).values())) or None
    # No cache: drift detection must hit the provider. No error budget: an outage is a
    # signal to report (error_rate, score_change), not a reason to stop half-way.
    models: list[str | ModelConfig] | None = list(target.models) if target.models else None
    run = runner.run(
        suite,
        workspace=target.ws,
        models=models,
        no_cache=True,
        max_error_rate=1.0,
        cases=selection,
        metadata={"drift": {"key": target.key, "sample": sample}},
        progress=progress,
    )
    assert run.plan is not None  # a run started here (not resumed) keeps its plan
    return run, run.plan


def check_drift(
    suite: Target | Suite | Path | str | None = None,
    *,
    workspace: Workspace | Path | str | None = None,
    models: list[str] | None = None,
    sample: int | None = None,
    rebaseline: bool = False,
    config: DriftConfig | None = None,
    vectorizer: str | Vectorizer | None = None,
    progress: bool = False,
    route: str | None = None,
    baseline_model: str | None = None,
    baseline_run: str | None = None,
) -> DriftCheck:
    """Run the production configuration and compare it with the baseline on every signal.

    `route` checks what a route serves instead of a suite's matrix (`Target.for_route`);
    `suite` may also be a `Target` built by `drift_target`.

    Without a baseline (or with `rebaseline`) the run is recorded as the baseline and the
    check says so (no alert). `sample` (default: the config's, else the baseline's) runs a
    fixed stratified sample of N cases per golden set. `vectorizer`: auto, embedder, tfidf
    or a callable (default: the config's). The check is stored and returned.

    `baseline_model` compares two models directly (two recorded models of a replay file,
    say): the suite runs on it first and that run is the baseline of this one check only;
    the stored baseline and the check history are left alone. `baseline_run` (a run id,
    a unique prefix or `latest`) compares with a stored run instead, on the cases both ran;
    it too stores nothing.
    """
    target = (
        suite
        if isinstance(suite, Target)
        else drift_target(suite, workspace=workspace, models=models, route=route, config=config)
    )
    if baseline_model is not None and baseline_run is not None:
        raise ConfigError(
            "--baseline and --baseline-model both name a baseline: pick one",
            field="baseline",
        )
    if baseline_model is not None:
        return _check_against_model(target, baseline_model, sample, vectorizer, progress)
    if baseline_run is not None:
        return _check_against_run(target, baseline_run, sample, vectorizer, progress)
    previous = target.store.load_baseline()
    baseline = None if rebaseline else previous
    n_sample = _sample_size(sample, target, previous)
    snapshot = snapshot_evalsets(target.ws, target.suite)
    selection = _selection(target, snapshot, n_sample)
    run, plan = _run(target, selection, progress=progress)
    target.store.save_key(DriftKey(key=target.key, suite=target.name, models=target.models))
    check = _new_check(target, run, plan, n_sample)
    if baseline is None:
        _record_baseline(target, run, plan, snapshot, check, rebaseline=rebaseline)
    else:
        _compare_with(baseline, target, run, plan, snapshot, check, vectorizer)
    target.store.save_check(check)
    return check


def _selection(
    target: Target, snapshot: list[EvalSetSnapshot], n_sample: int | None
) -> dict[str, list[str]] | None:
    """The fixed stratified sample of each golden set (None: every case)."""
    if not n_sample:
        return None
    return {s.name: stratified_sample(s, n_sample, target.config.seed) for s in snapshot}


def _sample_size(sample: int | None, target: Target, previous: DriftBaseline | None) -> int | None:
    """The sample size sticks: explicit, else the route policy's, else the config's, else
    what the baseline ran (so later checks run the same cases)."""
    if sample is None:
        sample = target.sample
    if sample is not None:
        return sample
    if target.config.sample is not None:
        return target.config.sample
    return previous.sample if previous else None


def _new_check(target: Target, run: Run, plan: Plan, n_sample: int | None) -> DriftCheck:
    check = DriftCheck(
        id=new_id(),
        key=target.key,
        suite=target.name,
        models=list(dict.fromkeys(a.model.id for a in plan.arms)),
        status="checked",
        run_id=run.id,
        sample=n_sample,
        cases=sum(plan.counts.values()),
    )
    if run.manifest.status != "finished":
        check.notes.append(
            f"run {run.id} is {run.manifest.status}: compared on its finished results"
        )
    return check


def _record_baseline(
    target: Target,
    run: Run,
    plan: Plan,
    snapshot: list[EvalSetSnapshot],
    check: DriftCheck,
    *,
    rebaseline: bool,
) -> None:
    """Make this check's run the baseline (first check, or `rebaseline`): no comparison."""
    arms = [a.name for a in plan.arms]
    target.store.save_baseline(_baseline_of(target, run, plan, snapshot, check.sample))
    check.status = "baseline_recorded"
    check.notes.append(
        f"no baseline yet: run {run.id} ({check.cases} cases × {len(arms)} arm(s)) is now the baseline; "
        "later checks compare with it"
        if not rebaseline
        else f"new baseline recorded: run {run.id}"
    )


def _baseline_of(
    target: Target, run: Run, plan: Plan, snapshot: list[EvalSetSnapshot], sample: int | None
) -> DriftBaseline:
    return DriftBaseline(
        key=target.key,
        suite=target.name,
        models=target.models,
        run_id=run.id,
        sample=sample,
        seed=target.config.seed,
        arms=[a.name for a in plan.arms],
        prompts={p.ref: p.digest for p in run.manifest.prompts},
        model_ids={a.model.name: a.model.id for a in plan.arms},
        evalsets=snapshot,
    )


def _check_against_model(
    target: Target,
    model: str,
    sample: int | None,
    vectorizer: str | Vectorizer | None,
    progress: bool,
) -> DriftCheck:
    """One check of `target` against a run of the same suite on `model`, not stored."""
    suite: Suite | Path = target.path if target.path is not None else target.suite
    base = Target(suite, workspace=target.ws, models=[model], config=target.config)
    n_sample = sample if sample is not None else target.config.sample
    snapshot = snapshot_evalsets(target.ws, target.suite)
    selection = _selection(target, snapshot, n_sample)
    base_run, base_plan = _run(base, selection, progress=progress)
    run, plan = _run(target, selection, progress=progress)
    check = _new_check(target, run, plan, n_sample)
    baseline = _baseline_of(base, base_run, base_plan, snapshot, n_sample)
    _compare_with(baseline, target, run, plan, snapshot, check, vectorizer)
    check.notes.insert(0, f"baseline: model {model}, run {base_run.id} (this check only)")
    return check


def _check_against_run(
    target: Target,
    ref: str,
    sample: int | None,
    vectorizer: str | Vectorizer | None,
    progress: bool,
) -> DriftCheck:
    """One check of `target` against a stored run (compared on the cases both ran)."""
    from ..store.runs import RunStore
    from ..summary import arm_key

    store = RunStore.of(target.ws)
    run_id = store.resolve_id(ref)
    manifest = store.load(run_id)
    base_results = _baseline_results(target.ws, run_id)
    if not base_results:
        raise ConfigError(
            f"run {run_id} has no results to compare with", field="baseline",
            hint="`driftgate runs list` shows the runs and their status",
        )  # fmt: skip
    n_sample = sample if sample is not None else target.config.sample
    snapshot = snapshot_evalsets(target.ws, target.suite)
    selection = _selection(target, snapshot, n_sample)
    run, plan = _run(target, selection, progress=progress)
    check = _new_check(target, run, plan, n_sample)
    baseline = DriftBaseline(
        key=target.key,
        suite=manifest.suite,
        run_id=run_id,
        sample=n_sample,
        seed=target.config.seed,
        arms=list(dict.fromkeys(arm_key(r.prompt, r.model) for r in base_results)),
        prompts={p.ref: p.digest for p in manifest.prompts},
        # The cases as they are now: a stored run pairs on the case ids both ran.
        evalsets=snapshot,
    )
    shared = {(r.evalset, r.case_id) for r in base_results} & {
        (r.evalset, r.case_id) for r in run.results
    }
    if not shared:
        raise ConfigError(
            f"run {run_id} ({manifest.suite or 'suite unknown'}) shares no case with this "
            f"check's suite ({target.name})",
            field="baseline",
            hint="name a run of the same golden sets",
        )
    _compare_with(baseline, target, run, plan, snapshot, check, vectorizer)
    where = "" if manifest.suite in (None, target.name) else f" of {manifest.suite}"
    check.notes.insert(
        0, f"baseline: run {run_id}{where}, on the {len(shared)} cases both ran (this check only)"
    )
    return check


def _compare_with(
    baseline: DriftBaseline,
    target: Target,
    run: Run,
    plan: Plan,
    snapshot: list[EvalSetSnapshot],
    check: DriftCheck,
    vectorizer: str | Vectorizer | None,
) -> None:
    """Compare the run with the baseline, arm by arm, on the cases both ran unchanged."""
    cfg = target.config
    check.baseline_run_id = baseline.run_id
    changes, usable = golden_set_changes(baseline.evalsets, snapshot)
    check.golden_set_changes = changes
    check.notes += _change_notes(changes, check.sample, baseline)
    check.notes += _config_notes(baseline, run.manifest, plan)
    base_by_arm = _by_arm(_baseline_results(target.ws, baseline.run_id), usable)
    cur_by_arm = _by_arm(run.results, usable)
    pairs, notes = _match_arms(baseline.arms, [a.name for a in plan.arms])
    check.notes += notes
    tuned = target.tuned()
    check.thresholds_tuned_at = tuned.created_at if tuned else None
    vectorize, _ = resolve_vectorizer(vectorizer if vectorizer is not None else cfg.vectorizer)
    for b_arm, c_arm in pairs:
        check.arms.append(
            compare_sides(
                base_by_arm.get(b_arm, []),
                cur_by_arm.get(c_arm, []),
                config=cfg,
                tuned=tuned,
                vectorizer=vectorize,
                arm=c_arm,
                baseline_arm=b_arm,
            )
        )
    check.alert = any(a.alert for a in check.arms)


def _change_notes(
    changes: list[GoldenSetChange], n_sample: int | None, baseline: DriftBaseline
) -> list[str]:
    """Golden-set edits and sample changes: the comparison narrows to common cases."""
    notes = [
        f"golden set {c.evalset!r} changed since the baseline ({c.baseline_digest} → {c.current_digest}): "
        f"{c.added} added, {c.removed} removed, {c.modified} modified; compared on {c.common} unchanged cases"
        for c in changes
    ]
    if n_sample != baseline.sample:
        notes.append(
            f"sample {n_sample} differs from the baseline's {baseline.sample}: common cases only"
        )
    return notes


def _by_arm(
    results: Sequence[CaseResult], usable: dict[str, set[str]]
) -> dict[str, list[CaseResult]]:
    """Results on usable (unchanged, common) cases, grouped by arm key."""
    from ..summary import arm_key

    out: dict[str, list[CaseResult]] = {}
    for r in results:
        if r.case_id in usable.get(r.evalset, ()):
            out.setdefault(arm_key(r.prompt, r.model), []).append(r)
    return out


def _config_notes(baseline: DriftBaseline, manifest: RunManifest, plan: Plan) -> list[str]:
    """Changes that are not provider drift but mix into it: prompts and model ids."""
    notes = []
    for p in manifest.prompts:
        old = baseline.prompts.get(p.ref)
        if old is not None and old != p.digest:
            notes.append(
                f"prompt {p.ref} changed since the baseline ({old} → {p.digest}): signals mix the "
                "prompt change with provider drift; --rebaseline once the new version is reviewed"
            )
    for arm in plan.arms:
        old = baseline.model_ids.get(arm.model.name)
        if old is not None and old != arm.model.id:
            notes.append(f"model {arm.model.name} now has id {arm.model.id} (baseline: {old})")
    return notes
