"""The gate's steps, in order (see `pipeline.py` for the overview)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import (
    EXIT_BELOW_THRESHOLD,
    EXIT_OK,
    EXIT_PROVIDER_ERRORS,
    ConfigError,
    DriftgateError,
)
from ..store.records import CaseResult, RunManifest
from ..store.runs import RunStore
from ..workspace import Workspace
from .baseline import (
    ArmSpec,
    SidePlan,
    StoredRuns,
    changed_arms,
    pair_arms,
    plan_side,
    tree_workspace,
)
from .changes import (
    SuiteDeps,
    affected_suites,
    changed_files,
    dirty_paths,
    discover_suites,
    error_annotation,
    suite_dependencies,
    validate_changed,
)
from .git import Repo
from .judge import failed_rules_text, judge_arm, usage_of
from .options import CIOptions
from .schema import (
    Annotation,
    ArmOutcome,
    CallEstimate,
    ChangedFile,
    CIReport,
    CostEstimate,
    SuiteOutcome,
)

Found = tuple[RunManifest, list[CaseResult]]


@dataclass(eq=False)  # identity: works are keys of dicts
class _Work:
    """One affected suite on its way through the gate."""

    outcome: SuiteOutcome
    head: SidePlan
    base: SidePlan | None = None
    pairs: list[ArmSpec | None] = field(default_factory=list)
    touched: dict[int, str] = field(default_factory=dict)  # head arm → why it is gated
    found: dict[int, tuple[Found, str]] = field(
        default_factory=dict
    )  # head arm → (base results, source)
    head_manifest: RunManifest | None = None
    head_results: list[CaseResult] = field(default_factory=list)


class Gate:
    def __init__(self, ws: Workspace, options: CIOptions, echo: Callable[[str], None]) -> None:
        self.ws = ws
        self.opts = options
        self.echo = echo
        self.repo = Repo.open(ws.root)

    # ---- 1. commits and the work tree ----------------------------------------------------
    def run(self) -> CIReport:
        o, repo = self.opts, self.repo
        head = repo.resolve(o.head or "HEAD", what="head")
        base = repo.resolve(o.base, what="base")
        merge_base = repo.merge_base(base, head)
        on_checkout = head == repo.resolve("HEAD", what="HEAD")
        dirty = dirty_paths(self.ws, repo) if on_checkout else []
        if dirty and not o.allow_dirty:
            shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
            raise ConfigError(
                f"the work tree has uncommitted changes ({shown}); the gate evaluates commits",
                hint="commit or stash them (`git stash --include-untracked`), or pass --allow-dirty "
                "to evaluate the work tree as it is",
            )
        report = CIReport(
            base_ref=o.base,
            base_commit=base,
            merge_base=merge_base,
            head_ref=o.head or "HEAD",
            head_commit=head,
            dirty=bool(dirty),
            dry_run=o.dry_run,
        )
        self.echo(
            f"driftgate ci: base {o.base} (merge base {merge_base[:12]}) → head {head[:12]}"
            + (" + uncommitted changes" if dirty else "")
        )
        self.dirty = bool(dirty)
        with head_workspace(self.ws, repo, head, on_checkout) as hws:
            self._gate(report, hws)
        report.exit_code = _exit_code(report)
        self.echo(
            f"gate {'passed' if report.exit_code == 0 else 'FAILED'} (exit {report.exit_code})"
            if not o.dry_run or report.exit_code
            else "dry run: nothing was called"
        )
        return report

    def _path(self, hws: Workspace, p: Path | str) -> Path:
        """A user-given path, resolved in the head's workspace (which may be a worktree)."""
        path = Path(p)
        if path.is_absolute() and self.ws.root in path.resolve().parents:
            path = path.resolve().relative_to(self.ws.root)
        return hws.inside(path, what="file")

    # ---- 2. what changed and what it affects ------------------------------------------------
    def _gate(self, report: CIReport, hws: Workspace) -> None:
        o = self.opts
        changes, deps = self._changes(report, hws)
        parse_errors = validate_changed(hws, self.repo, [c for c in changes if c.kind != "other"])
        report.annotations += parse_errors
        affected = [d for d in deps if any(d.path in c.suites for c in changes)]
        report.unaffected_suites = [d.path for d in deps if d not in affected]
        if parse_errors:
            report.message = (
                "A changed file does not parse, so nothing was evaluated; see the annotations."
            )
            report.suites = [
                self._outcome(
                    d,
                    changes,
                    status="error",
                    error="not evaluated: a file it reads does not parse",
                )
                for d in affected
            ]
            self.echo(report.message)
            return
        if not affected:
            report.message = (
                f"Nothing relevant changed: none of the {len(changes)} changed files is read by "
                f"any of the {len(deps)} suites, so nothing was evaluated."
            )
            self.echo(report.message)
            return
        work = self._plan(report, hws, affected, changes)
        if not work:
            return
        report.estimate = self._estimate(work)
        from .cost import format_estimate

        for line in format_estimate(report.estimate.items):
            self.echo(line)
        if o.dry_run:
            return
        self._check_budget(report.estimate)
        self._run_head(report, hws, work)
        self._complete_base(report, work)
        for w in work:
            self._judge(report, hws, w, changes)

    def _changes(
        self, report: CIReport, hws: Workspace
    ) -> tuple[list[ChangedFile], list[SuiteDeps]]:
        """The files the pull request changes, each with the suites that read it, and every
        suite's dependencies (the gate policy, when given, counts as one)."""
        o, repo = self.opts, self.repo
        policy = self._path(hws, o.policy) if o.policy else None
        if policy is not None and not policy.is_file():
            raise ConfigError("gate policy file not found", path=policy, field="--policy")
        changes = changed_files(
            hws,
            repo,
            report.merge_base,
            None if report.dirty else report.head_commit,
            include_untracked=report.dirty,
        )
        deps = [
            suite_dependencies(hws, p, policy)
            for p in discover_suites(hws, [self._path(hws, s) for s in o.suites])
        ]
        for c in changes:
            c.suites = affected_suites(hws, repo, c, report.merge_base, deps, policy)
        report.changed = changes
        for c in changes:
            if c.suites:
                self.echo(f"changed: {c.path} ({c.kind}, {c.status}) → {', '.join(c.suites)}")
        return changes, deps

    def _outcome(self, d: SuiteDeps, changes: list[ChangedFile], **kw: Any) -> SuiteOutcome:
        return SuiteOutcome(
            suite=d.path,
            changed=[c.path for c in changes if d.path in c.suites],
            policy_changed=[c.path for c in changes if c.kind == "policy" and d.path in c.suites],
            **kw,
        )

    # ---- 3. plans at the head and at the base ---------------------------------------------------
    def _plan(
        self,
        report: CIReport,
        hws: Workspace,
        affected: list[SuiteDeps],
        changes: list[ChangedFile],
    ) -> list[_Work]:
        work = []
        for d in affected:
            outcome = self._outcome(d, changes, status="passed")
            report.suites.append(outcome)
            try:
                if d.error is not None:
                    raise d.error
                work.append(_Work(outcome, plan_side(hws, hws.root / d.path, self.repo)))
            except DriftgateError as exc:
                self._suite_error(report, hws, outcome, exc)
        self.stored = StoredRuns(RunStore.of(self.ws), self.repo)
        with tree_workspace(self.repo, report.merge_base, self.ws, worktree=False) as bws:
            for w in work:
                w.base = self._plan_base(report, bws, w)
                w.pairs = (
                    pair_arms(w.head.arms, w.base.arms) if w.base else [None] * len(w.head.arms)
                )
                w.touched = changed_arms(w.head, w.base, w.pairs, self._suite_wide(w, changes))
                w.outcome.gated = {w.head.arms[i].name: r for i, r in w.touched.items()}
                w.outcome.unchanged = [
                    h.name for i, h in enumerate(w.head.arms) if i not in w.touched
                ]
                self._echo_scope(w)
                for i in w.touched:
                    b = w.pairs[i]
                    hit = self.stored.find(w.base, b) if (w.base and b) else None
                    if hit:
                        w.found[i] = (hit, "stored")
            self._estimates = {id(w): self._estimate_work(w) for w in work}
        return work

    @staticmethod
    def _suite_wide(w: _Work, changes: list[ChangedFile]) -> str | None:
        """A change that touches every arm of the suite without changing what any arm
        renders: the gate policy (verdicts change) or the workspace settings."""
        if w.outcome.policy_changed:
            return "gate policy changed"
        if any(c.kind == "settings" and w.outcome.suite in c.suites for c in changes):
            return "workspace settings changed"
        return None

    def _echo_scope(self, w: _Work) -> None:
        """Which arms the gate evaluates, and why; which it leaves alone."""
        for i, reason in w.touched.items():
            self.echo(f"gating {w.outcome.suite} · {w.head.arms[i].name}: {reason}")
        if w.outcome.unchanged:
            self.echo(
                f"unchanged in {w.outcome.suite} (same as the base, not run): "
                + ", ".join(w.outcome.unchanged)
            )

    def _plan_base(self, report: CIReport, bws: Workspace | None, w: _Work) -> SidePlan | None:
        path = bws.root / w.head.suite_rel if bws else None
        if path is None or not path.is_file():
            return None  # a new suite: every arm is gated without a baseline
        try:
            return plan_side(bws, path, self.repo)  # type: ignore[arg-type]
        except DriftgateError as exc:
            msg = f"{w.outcome.suite}: the merge base's suite could not be planned, gating without a baseline: {exc}"
            report.annotations.append(
                Annotation(
                    level="warning",
                    message=msg.replace(str(bws.root) + "/", ""),  # type: ignore[union-attr]
                    title="no baseline",
                )
            )
            return None

    def _suite_error(
        self, report: CIReport, hws: Workspace, outcome: SuiteOutcome, exc: DriftgateError
    ) -> None:
        outcome.status = "error"
        ann = error_annotation(
            hws,
            self.repo,
            exc,
            default_file=self._repo_path(outcome.suite),
            title=f"suite {outcome.suite} cannot be evaluated",
        )
        outcome.error = ann.message
        report.annotations.append(ann)

    def _repo_path(self, ws_rel: str) -> str:
        return f"{self.repo.prefix}/{ws_rel}" if self.repo.prefix else ws_rel

    # ---- 4. the cost guard ------------------------------------------------------------------------
    def _estimate_work(self, w: _Work) -> list[CallEstimate]:
        from .cost import estimate_side

        gated = [w.head.arms[i] for i in w.touched]
        items = estimate_side(w.head, gated, label="head", suite=w.outcome.suite)
        refs = {
            b.ref
            for i, b in ((i, w.pairs[i]) for i in w.touched)
            if b is not None and i not in w.found and not self._served_by_head(w, b)
        }
        if w.base is None:
            return items
        # The base run takes a prompt list, so it runs those prompts on every model of the suite.
        base_arms = [b for b in w.base.arms if b.arm.prompt.ref in refs]
        return items + estimate_side(w.base, base_arms, label="base", suite=w.outcome.suite)

    def _served_by_head(self, w: _Work, b: ArmSpec) -> bool:
        """Whether the head's own run will hold results that answer for base arm `b` (the
        change left this arm's inputs untouched)."""
        if w.base is None or (w.base.suite_key, w.base.evalsets) != (
            w.head.suite_key,
            w.head.evalsets,
        ):
            return False
        # Bound digests cover few-shot sets and indexes: equal digests, equal inputs. Only
        # the gated arms run at the head.
        return any(
            h.digest == b.digest
            and h.model_name == b.model_name
            and h.arm.model.id == b.arm.model.id
            for h in (w.head.arms[i] for i in w.touched)
        )

    def _estimate(self, work: list[_Work]) -> CostEstimate:
        est = CostEstimate()
        for w in work:
            est.items += self._estimates[id(w)]
            est.reused += [
                f"{w.outcome.suite} · {w.pairs[i].name}"  # type: ignore[union-attr]
                for i in w.touched
                if i in w.found
            ]
        return est

    def _check_budget(self, est: CostEstimate) -> None:
        budget = self.opts.budget_usd
        if budget is None:
            return
        if est.unpriced:
            raise ConfigError(
                f"cannot check --budget-usd {budget:g}: litellm's price table has no price for "
                f"{', '.join(est.unpriced)}",
                field="--budget-usd",
                hint="drop --budget-usd for these models, or warm the response cache first",
            )
        if est.cost_usd > budget + 1e-12:
            raise ConfigError(
                f"the gate would make {est.calls - est.cached} calls estimated at ${est.cost_usd:.4f}, "
                f"above --budget-usd {budget:g}; nothing was run",
                field="--budget-usd",
                hint="raise the budget, narrow the run with -c SUITE, or warm the response cache "
                "(`driftgate ci --dry-run` shows the estimate)",
            )

    # ---- 5. running the head and what the base still lacks ------------------------------------------
    def _run_head(self, report: CIReport, hws: Workspace, work: list[_Work]) -> None:
        from ..engine.runner import run

        for w in work:
            if not w.touched:
                continue
            # The head runs the prompts of the gated arms only (on the suite's models).
            refs = sorted({w.head.arms[i].ref for i in w.touched})
            result = run(w.head.plan.suite_path, workspace=hws, prompts=refs)
            w.outcome.head_run, w.outcome.head_verdict = result.id, result.manifest.verdict
            w.head_manifest, w.head_results = result.manifest, result.results
            w.outcome.usage = w.outcome.usage.add(usage_of(w.head_results))
            self.echo(f"head run {result.id} of {w.outcome.suite}: {result.manifest.verdict}")
            if result.manifest.verdict in ("provider_errors", "incomplete"):
                self._provider_errors(report, w, result.id, "head")

    def _provider_errors(self, report: CIReport, w: _Work, run_id: str, side: str) -> None:
        w.outcome.status = "provider_errors"
        w.outcome.error = (
            f"the {side} run {run_id} hit too many provider errors; no verdict without complete "
            f"results (`driftgate show {run_id}` lists them)"
        )
        report.annotations.append(
            Annotation(
                level="error",
                message=w.outcome.error,
                title=f"provider errors in {w.outcome.suite}",
            )
        )

    def _complete_base(self, report: CIReport, work: list[_Work]) -> None:
        from ..engine.runner import run

        self.stored.refresh()  # the head's own runs can answer for unchanged arms
        missing: list[tuple[_Work, int]] = []
        for w in work:
            if w.outcome.status != "passed" or w.base is None:
                continue
            for i in w.touched:
                b = w.pairs[i]
                if b is not None and i not in w.found:
                    hit = self.stored.find(w.base, b)
                    if hit:
                        w.found[i] = (hit, "stored")
                    else:
                        missing.append((w, i))
        if not missing:
            return
        with tree_workspace(self.repo, report.merge_base, self.ws, worktree=True) as wws:
            assert wws is not None  # the snapshot at the same commit had the suite
            for w in dict.fromkeys(w for w, _ in missing):
                assert w.base is not None
                idx = [i for ww, i in missing if ww is w]
                refs = sorted({w.pairs[i].arm.prompt.ref for i in idx})  # type: ignore[union-attr]
                self.echo(
                    f"evaluating {', '.join(refs)} at the merge base {report.merge_base[:12]} "
                    f"(temporary worktree)"
                )
                result = run(wws.root / w.base.suite_rel, workspace=wws, prompts=refs)
                w.outcome.usage = w.outcome.usage.add(usage_of(result.results))
                if result.manifest.verdict in ("provider_errors", "incomplete"):
                    self._provider_errors(report, w, result.id, "base")
                    continue
                for i in idx:
                    b = w.pairs[i]
                    assert b is not None
                    mine = [
                        r
                        for r in result.results
                        if r.prompt_digest == b.digest and r.model == b.model_name
                    ]
                    w.found[i] = ((result.manifest, mine), "worktree")

    # ---- 6. verdicts ----------------------------------------------------------------------------------
    def _judge(
        self, report: CIReport, hws: Workspace, w: _Work, changes: list[ChangedFile]
    ) -> None:
        """Judge each head arm against its base arm, then the suite-wide checks."""
        if w.outcome.status != "passed":
            return
        for i in w.touched:
            outcome = self._judge_arm(hws, w, i)
            w.outcome.arms.append(outcome)
            self._echo_arm(w, outcome)
            self._arm_annotations(report, w, outcome, changes)
        self._suite_annotations(report, w)

    def _judge_arm(self, hws: Workspace, w: _Work, i: int) -> ArmOutcome:
        """Head arm `i` judged by its gate policy against the base arm paired with it (its
        stored or fresh base run), or alone when it has none."""
        h, b = w.head.arms[i], w.pairs[i]
        found = w.found.get(i)
        base_manifest, base_results = found[0] if found else (None, None)
        outcome = ArmOutcome(
            arm=h.name,
            prompt=h.arm.prompt.ref,
            prompt_name=h.prompt_name,
            model=h.model_name,
            prompt_source=_rel(hws, h.arm.prompt.source),
            baseline_arm=b.name if (b and found) else None,
            baseline_source=found[1] if found else "none",  # type: ignore[arg-type]
            baseline_run=base_manifest.id if base_manifest else None,
            head_run=w.outcome.head_run,
        )
        mine = [
            r for r in w.head_results if r.prompt == h.arm.prompt.ref and r.model == h.model_name
        ]
        judge_arm(
            outcome,
            mine,
            base_results,
            w.head_manifest,
            base_manifest,
            policy_path=self._path(hws, self.opts.policy) if self.opts.policy else None,
            workspace=hws,
            baseline_digest=b.digest if b else None,
        )
        return outcome

    def _echo_arm(self, w: _Work, outcome: ArmOutcome) -> None:
        """One progress line per arm: what it was compared with, and the verdict."""
        compared = outcome.baseline_source != "none"
        self.echo(
            f"{w.outcome.suite} · {outcome.arm}"
            + (
                f" vs {outcome.baseline_arm} ({outcome.baseline_source} run {outcome.baseline_run})"
                if compared
                else " (no baseline)"
            )
            + ": "
            + (outcome.error or (outcome.verdict.summary() if outcome.verdict else ""))
        )

    def _arm_annotations(
        self, report: CIReport, w: _Work, outcome: ArmOutcome, changes: list[ChangedFile]
    ) -> None:
        """A failed arm fails its suite and annotates the changed files behind it; an arm
        without a baseline gets a warning (only the rules needing none were applied)."""
        if not outcome.passed:
            w.outcome.status = "error" if outcome.error else "failed"
            report.annotations += self._failure_annotations(w, outcome, changes)
        elif outcome.baseline_source == "none":
            report.annotations.append(
                Annotation(
                    level="warning",
                    file=self._repo_path(outcome.prompt_source or w.outcome.suite),
                    line=1,
                    title="no baseline",
                    message=f"{w.outcome.suite} · {outcome.arm}: no base arm to compare "
                    "with (a new prompt or suite, or no case in common); only the rules that need no baseline "
                    "were applied",
                )
            )

    def _suite_annotations(self, report: CIReport, w: _Work) -> None:
        """Suite-wide: a head run below the pass threshold fails it; a changed gate policy
        is pointed out (the head's version was applied)."""
        if w.outcome.head_verdict == "below_threshold":
            w.outcome.status = "failed"
            report.annotations.append(
                Annotation(
                    level="error",
                    file=self._repo_path(w.outcome.suite),
                    line=1,
                    title="below the pass threshold",
                    message=f"the head run {w.outcome.head_run} of {w.outcome.suite} is below the suite's pass_threshold",
                )
            )
        for p in w.outcome.policy_changed:
            report.annotations.append(
                Annotation(
                    level="warning",
                    file=self._repo_path(p),
                    line=1,
                    title="gate policy changed",
                    message=f"{p} changed in this pull request; the gate applied the head's version",
                )
            )

    def _failure_annotations(
        self, w: _Work, arm: ArmOutcome, changes: list[ChangedFile]
    ) -> list[Annotation]:
        """Errors on the changed files behind a failed arm: its own prompt file when the PR
        changed it, else every changed file the suite reads (deleted ones excepted)."""
        mine = [c for c in changes if w.outcome.suite in c.suites and c.status != "deleted"]
        own = [c for c in mine if c.path == arm.prompt_source]
        targets = (own or mine)[:5]
        why = arm.error or (failed_rules_text(arm.verdict) if arm.verdict else "")
        msg = f"driftgate gate failed for {w.outcome.suite} · {arm.arm}: {why}"
        if arm.comparison is not None and arm.comparison.regressed:
            ids = ", ".join(f.case_id for f in arm.comparison.regressed[:10])
            msg += f"\nregressed cases: {ids}"
        if not targets:
            return [
                Annotation(
                    level="error",
                    message=msg,
                    file=self._repo_path(w.outcome.suite),
                    line=1,
                    title="prompt gate failed",
                )
            ]
        return [
            Annotation(
                level="error",
                message=msg,
                file=c.repo_path,
                line=c.line or 1,
                title="prompt gate failed",
            )
            for c in targets
        ]


@contextlib.contextmanager
def head_workspace(
    gate_ws: Workspace, repo: Repo, head: str, on_checkout: bool
) -> Iterator[Workspace]:
    """The workspace at the head: the checkout itself, or a temporary worktree when
    `--head` names another commit."""
    if on_checkout:
        yield gate_ws
        return
    with tree_workspace(repo, head, gate_ws, worktree=True) as hws:
        if hws is None:
            raise ConfigError(
                f"the workspace folder does not exist at head {head[:12]}", field="head"
            )
        yield hws


def _rel(ws: Workspace, path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(ws.root).as_posix()
    except ValueError:
        return None


def _exit_code(report: CIReport) -> int:
    if any(s.status == "provider_errors" for s in report.suites):
        return EXIT_PROVIDER_ERRORS
    if any(a.level == "error" for a in report.annotations) or any(
        s.status in ("failed", "error") for s in report.suites
    ):
        return EXIT_BELOW_THRESHOLD
    return EXIT_OK
