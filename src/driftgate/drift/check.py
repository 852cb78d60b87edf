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

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._digest import digest
from ..errors import ConfigError
from ..store.records import CaseResult, RunManifest
from ..suite import Suite, load_suite
from ..workspace import Workspace
from .config import DriftConfig, config_path, load_drift_config
from .model import (
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
from .store import DriftStore, drift_key, new_id
from .triggers import apply_triggers
from .vectorize import Vectorizer, resolve_vectorizer

if TYPE_CHECKING:
    from ..engine.plan import Plan
    from ..engine.runner import Run
    from ..providers.base import ModelConfig


class Target:
    """The monitored configuration: suite, model override, its key, store and settings."""

    def __init__(
        self,
        suite: Suite | Path | str | None,
        *,
        workspace: Workspace | Path | str | None,
        models: list[str] | None = None,
        config: DriftConfig | None = None,
    ) -> None:
        self.ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
        self.path: Path | None = None
        if isinstance(suite, Suite):
            self.suite = suite
        else:
            self.path = (
                self.ws.default_suite_path()
                if suite is None
                else self.ws.inside(suite, what="suite file")
            )
            self.suite = load_suite(self.path)
        self.name = str(self.path.relative_to(self.ws.root)) if self.path else None
        self.models = list(models or [])
        self.sample: int | None = None  # a route's loop policy may fix its sample size
        self.key = drift_key(self.name, self.models, self.suite.model_dump(mode="json"))
        self.store = DriftStore.for_key(self.ws, self.key)
        self.config = (
            config
            if config is not None
            else load_drift_config(config_path(self.path, self.ws.evalsets_dir))
        )

    @classmethod
    def for_route(
        cls,
        route: str,
        *,
        workspace: Workspace | Path | str | None,
        config: DriftConfig | None = None,
    ) -> Target:
        """What a route serves: its baseline arm's prompt and model on the suite of its
        `loop:` policy (else the workspace's suite), golden sets and scorers as that suite's.

        The prompt stays a ref (`categorize@production`), so the key and history survive
        promotions; a promoted version shows as a prompt change in the check's notes and
        `driftgate loop` records a new baseline after it moves production.
        """
        from ..router.router import load_route_ref

        ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
        spec = load_route_ref(ws, route)
        policy = spec.loop
        path = (
            ws.inside(policy.suite, what="suite file")
            if policy is not None and policy.suite
            else ws.default_suite_path()
        )
        base = load_suite(path)
        arm = next(a for a in spec.arms if a.name == spec.baseline_arm)
        data = base.model_dump(mode="json", exclude={"prompts", "models"})
        data["description"] = f"route {spec.name}: arm {arm.name} ({base.description or path.name})"
        suite = Suite.model_validate(
            {**data, "prompts": [arm.prompt], "models": [arm.model] if arm.model else []}
        )
        target = cls(
            suite,
            workspace=ws,
            config=config
            if config is not None
            else load_drift_config(config_path(path, ws.evalsets_dir)),
        )
        target.sample = policy.drift_sample if policy is not None else None
        target.name = f"route/{spec.name}"
        target.key = drift_key(target.name, [], None)
        target.store = DriftStore.for_key(ws, target.key)
        return target

    def tuned(self) -> TuningReport | None:
        return self.store.load_thresholds()


# ---- golden sets: snapshot, stratified sample, changes ----------------------------------


def snapshot_evalsets(ws: Workspace, suite: Suite) -> list[EvalSetSnapshot]:
    """Each golden set's digest and per-case content digests (after the suite's filter)."""
    from ..engine.plan import parse_filter

    keep = parse_filter([suite.filter] if suite.filter else [])
    out = []
    for ref in suite.evalsets:
        es = ws.evalset(ref)
        cases, segments = {}, {}
        for case in es:
            if keep(case):
                cases[case.id] = digest(case.model_dump(mode="json"))
                segments[case.id] = case.segment
        out.append(
            EvalSetSnapshot(
                name=es.name,
                path=str(es.path.relative_to(ws.root)),
                digest=es.digest(),
                cases=cases,
                segments=segments,
            )
        )
    return out


def stratified_sample(snapshot: EvalSetSnapshot, n: int, seed: int) -> list[str]:
    """`n` case ids, allocated to segments in proportion (largest remainder, at least one
    per segment when n allows), each segment's cases taken in hash order."""
    by_seg: dict[str, list[str]] = {}
    for cid, seg in snapshot.segments.items():
        by_seg.setdefault(seg or "", []).append(cid)
    total = len(snapshot.segments)
    if n >= total:
        return list(snapshot.segments)
    exact = {s: n * len(ids) / total for s, ids in by_seg.items()}
    alloc = {s: int(v) for s, v in exact.items()}
    if n >= len(by_seg):
        for s in alloc:
            alloc[s] = max(alloc[s], 1)
    spare = n - sum(alloc.values())
    for s in sorted(by_seg, key=lambda s: (-(exact[s] - int(exact[s])), s)):
        if spare <= 0:
            break
        if alloc[s] < len(by_seg[s]):
            alloc[s] += 1
            spare -= 1
    while sum(alloc.values()) > n:  # the one-per-segment minimum overshot: trim the largest
        alloc[max(alloc, key=lambda s: alloc[s])] -= 1

    def rank(cid: str) -> bytes:
        return hashlib.blake2b(f"{seed}:{snapshot.name}:{cid}".encode(), digest_size=8).digest()

    chosen = []
    for s, ids in by_seg.items():
        chosen += sorted(ids, key=rank)[: alloc[s]]
    return chosen


def golden_set_changes(
    baseline: Sequence[EvalSetSnapshot], current: Sequence[EvalSetSnapshot]
) -> tuple[list[GoldenSetChange], dict[str, set[str]]]:
    """What changed per golden set, and the case ids usable for the comparison."""
    cur = {s.name: s for s in current}
    changes, usable = [], {}
    for b in baseline:
        c = cur.get(b.name)
        if c is None:
            changes.append(
                GoldenSetChange(evalset=b.name, baseline_digest=b.digest, removed=len(b.cases))
            )
            continue
        common = [i for i in b.cases if i in c.cases]
        modified = [i for i in common if b.cases[i] != c.cases[i]]
        usable[b.name] = set(common) - set(modified)
        if b.digest != c.digest or len(common) != len(b.cases) or len(common) != len(c.cases):
            added = [i for i in c.cases if i not in b.cases]
            removed = [i for i in b.cases if i not in c.cases]
            changes.append(
                GoldenSetChange(
                    evalset=b.name,
                    baseline_digest=b.digest,
                    current_digest=c.digest,
                    added=len(added),
                    removed=len(removed),
                    modified=len(modified),
                    common=len(usable[b.name]),
                    examples={
                        k: v[:5]
                        for k, v in (("added", added), ("removed", removed), ("modified", modified))
                        if v
                    },
                )
            )
    for c in current:
        if c.name not in {b.name for b in baseline}:
            changes.append(
                GoldenSetChange(evalset=c.name, current_digest=c.digest, added=len(c.cases))
            )
    return changes, usable


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
            results = list(RunStore(ws.runs_dir).results(run_id))
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


def drift_target(
    suite: Suite | Path | str | None = None,
    *,
    workspace: Workspace | Path | str | None = None,
    models: list[str] | None = None,
    route: str | None = None,
    config: DriftConfig | None = None,
) -> Target:
    """The monitored configuration of a check: a suite's matrix (`models` overriding its
    models), or with `route` what that route serves (`Target.for_route`). Built once and
    passed to `check_drift`, `tune_thresholds` and the renderers (its triggers)."""
    if route is None:
        return Target(suite, workspace=workspace, models=models, config=config)
    if suite is not None or models:
        raise ConfigError(
            "give a suite or --route, not both: a route's check runs what its baseline "
            "arm serves on its loop policy's suite",
            field="route",
        )
    return Target.for_route(route, workspace=workspace, config=config)


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
) -> DriftCheck:
    """Run the production configuration and compare it with the baseline on every signal.

    `route` checks what a route serves instead of a suite's matrix (`Target.for_route`);
    `suite` may also be a `Target` built by `drift_target`.

    Without a baseline (or with `rebaseline`) the run is recorded as the baseline and the
    check says so (no alert). `sample` (default: the config's, else the baseline's) runs a
    fixed stratified sample of N cases per golden set. `vectorizer`: auto, embedder, tfidf
    or a callable (default: the config's). The check is stored and returned.
    """
    target = (
        suite
        if isinstance(suite, Target)
        else drift_target(suite, workspace=workspace, models=models, route=route, config=config)
    )
    cfg = target.config
    previous = target.store.load_baseline()
    baseline = None if rebaseline else previous
    n_sample = _sample_size(sample, target, previous)
    snapshot = snapshot_evalsets(target.ws, target.suite)
    selection = (
        {s.name: stratified_sample(s, n_sample, cfg.seed) for s in snapshot} if n_sample else None
    )
    run, plan = _run(target, selection, progress=progress)
    target.store.save_key(DriftKey(key=target.key, suite=target.name, models=target.models))
    check = _new_check(target, run, plan, n_sample)
    if baseline is None:
        _record_baseline(target, run, plan, snapshot, check, rebaseline=rebaseline)
    else:
        _compare_with(baseline, target, run, plan, snapshot, check, vectorizer)
    target.store.save_check(check)
    return check


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
    target.store.save_baseline(
        DriftBaseline(
            key=target.key,
            suite=target.name,
            models=target.models,
            run_id=run.id,
            sample=check.sample,
            seed=target.config.seed,
            arms=arms,
            prompts={p.ref: p.digest for p in run.manifest.prompts},
            model_ids={a.model.name: a.model.id for a in plan.arms},
            evalsets=snapshot,
        )
    )
    check.status = "baseline_recorded"
    check.notes.append(
        f"no baseline yet: run {run.id} ({check.cases} cases × {len(arms)} arm(s)) is now the baseline; "
        "later checks compare with it"
        if not rebaseline
        else f"new baseline recorded: run {run.id}"
    )


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
