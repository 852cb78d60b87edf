"""Retraining in one command: new labels → new few-shot set / index versions → a new prompt
version bound to them → gated against the base → the `candidate` alias points at it.

    from driftgate.retrain import retrain
    result = retrain("categorize@production", route="categorize", since=last_run_ts)
    result.candidate        # "prompt/categorize@7" (None when nothing changed)

1. Labeled rows come from a route's feedback (logged after `since`) and from golden-set
   files (`vars` + `expected`); see `labels.py`. Rows equal to a case of the suite's golden
   sets are dropped: the evaluation must not find its own answers in the prompt.
2. The base prompt (a workspace file version such as `categorize@few-shot`, or a registry
   ref such as `categorize@production` or `categorize@3`) is bound: it pins the exact
   few-shot set and index it renders. New versions of those are built from them plus the
   rows and registered (an index with its corpus bytes); see `candidates.py`.
3. A new prompt version is registered: the base's definition with `fewshot` / `index`
   pinned to the new digests. Its identity covers what it renders, so it and the base are
   two arms of one paired run on the suite, sharing the response cache
   (`gate.evidence.gate_version`), and the gate compares them.
4. When the gate passes (and not `dry_run`), `alias` (default `candidate`) of the prompt
   is moved to the new version through the registry's audited compare-and-swap move.

It never writes a workspace file and never moves `production`: what serves changes only
when someone (or `driftgate loop`) promotes the candidate. Registered versions are
immutable, so a rejected candidate only leaves versions no alias points at.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from .._strict import Strict
from ..errors import ConfigError
from ..gate import GateVerdict
from ..registry.prompts import find_prompt
from ..workspace import Workspace
from .candidates import ArtifactChange, fewshot_candidate, index_candidate
from .labels import LabelCounts, collect_labels, describe_sources, no_usable_rows, rel

if TYPE_CHECKING:
    from ..prompt import Prompt
    from ..registry.versions import VersionRecord
    from ..suite import Suite

__all__ = ["ArtifactChange", "LabelCounts", "RetrainResult", "retrain"]


class RetrainResult(Strict):
    prompt: str = Field(description="The base as asked for (e.g. categorize@production).")
    base: str = Field(description="The base version evaluated against: `prompt/NAME@N (DIGEST)`.")
    base_digest: str
    suite: str
    dry_run: bool
    alias: str = Field(description="The alias a passing candidate is pointed at.")
    labels: LabelCounts
    artifacts: list[ArtifactChange]
    candidate: str | None = Field(None, description="The new prompt version: prompt/NAME@N.")
    candidate_digest: str | None = None
    verdict: GateVerdict | None = None
    passed: bool = Field(description="The gate passed (or there was nothing to change).")
    applied: bool = Field(False, description="The alias was moved to the candidate.")
    alias_from: str | None = Field(None, description="Digest the alias pointed at before.")
    notes: list[str] = Field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def summary(self) -> str:
        """One line: what was built from what, the gate, and the alias (for audit logs)."""
        if self.candidate is None:
            return f"no new version from {self.base}: the rebuilt artifacts equal its own"
        gate = self.verdict.summary() if self.verdict is not None else "not gated"
        if self.applied:
            done = f"{self.alias} → {self.candidate}"
        elif not self.passed:
            done = f"{self.alias} not moved"
        else:
            done = f"dry run, {self.alias} not moved"
        return f"{self.candidate} from {self.base}: {gate}; {done}"


def retrain(
    prompt: str,
    *,
    route: str | None = None,
    labels: list[str | Path] | tuple[str | Path, ...] = (),
    suite: str | Path | None = None,
    model: str | None = None,
    since: float | None = None,
    dry_run: bool = False,
    alias: str = "candidate",
    workspace: Workspace | Path | str | None = None,
    fresh: bool = False,
) -> RetrainResult:
    """Build, register and gate a prompt version bound to retrained artifacts; on a pass
    (and not `dry_run`) point `alias` at it. See the module docstring.

    `since` (unix time): only route feedback logged after it counts. `model` picks one
    model when the suite runs several (a gate compares one arm). Raises ConfigError
    (exit 2) for bad input: nothing to retrain, no labeled row to use, a bad alias.
    `fresh`: base and candidate are both answered by the provider now, with no stored run
    or cached response (what `driftgate loop` does: after provider drift, stored answers
    describe a provider that no longer exists).
    """
    from ..registry.core import Registry
    from ..suite import load_suite

    _check_alias(alias)
    reg = Registry.of(workspace)
    ws = reg.workspace
    base = find_prompt(ws, prompt)  # bound: pins what it renders
    _check_retrainable(base, route=route, labels=bool(labels))
    suite_path = ws.inside(suite, what="suite file") if suite else ws.default_suite_path()
    suite_obj = load_suite(suite_path)
    _check_one_model(suite_obj, model)
    golden = [ws.evalset(ref) for ref in suite_obj.evalsets]
    counts, rows = collect_labels(
        ws, route=route, labels=list(labels), golden=golden, prompt=base, since=since
    )
    if not rows:
        raise no_usable_rows(counts, route=route, labels=bool(labels))
    base_rec = reg.register(base)[0]
    alias_from = reg.aliases_of(base_rec.target).get(alias)  # compare-and-swap from here
    result = RetrainResult(
        prompt=prompt,
        base=f"{base_rec.ref} ({base_rec.digest})",
        base_digest=base_rec.digest,
        suite=rel(ws, suite_path),
        dry_run=dry_run,
        alias=alias,
        labels=counts,
        artifacts=[],
        passed=True,
        alias_from=alias_from,
    )
    result.artifacts = _rebuild(ws, base, rows, describe_sources(counts), result.notes)
    if not any(c.changed for c in result.artifacts):
        result.notes.append("the rebuilt artifacts equal the base's: no new version")
        return result
    cand_rec = _register_candidate(reg, base_rec, result.artifacts)
    result.candidate, result.candidate_digest = cand_rec.ref, cand_rec.digest
    result.verdict = _gate(ws, cand_rec, base_rec, suite_path, model, fresh)
    result.passed = result.verdict.passed
    if result.passed and not dry_run:
        _move_alias(ws, cand_rec, alias, alias_from, result)
    return result


def _check_alias(alias: str) -> None:
    """Retrain points a candidate alias; the aliases that serve move only by promotion."""
    from ..registry.aliases import PREVIOUS, PRODUCTION, check_alias

    check_alias(alias)
    if alias in (PRODUCTION, PREVIOUS):
        raise ConfigError(
            f"retrain never moves {alias!r}: it points a candidate alias at the new version",
            hint="promote the candidate afterwards: driftgate promote prompt/NAME@candidate",
        )


def _check_retrainable(base: Prompt, *, route: str | None, labels: bool) -> None:
    """Something to rebuild (a few-shot set or an index) and labeled data to rebuild from."""
    if not base.fewshot and not base.index:
        raise ConfigError(
            f"prompt {base.ref} has neither `fewshot:` nor `index:`: there is nothing to retrain",
            path=base.source,
            hint="retrain rebuilds few-shot sets and retrieval indexes; edit the prompt itself",
        )
    if not route and not labels:
        raise ConfigError(
            "no labeled data given", hint="pass --route NAME (user feedback) and/or --labels FILE"
        )


def _rebuild(
    ws: Workspace, base: Prompt, rows: list[dict[str, Any]], source: str, notes: list[str]
) -> list[ArtifactChange]:
    """The prompt's few-shot set and index rebuilt from the labeled rows (new versions)."""
    out = []
    if base.fewshot:
        out.append(fewshot_candidate(ws, base, rows, source, notes))
    if base.index:
        out.append(index_candidate(ws, base, rows))
    return out


def _register_candidate(
    reg: Any, base_rec: VersionRecord, changes: list[ArtifactChange]
) -> VersionRecord:
    """The base's stored (bound) definition with the new versions pinned, registered."""
    from ..prompt import Prompt

    definition = dict(base_rec.definition)
    for change in changes:
        definition[change.kind] = change.ref
    return reg.register(Prompt.model_validate(definition))[0]


def _gate(
    ws: Workspace,
    cand: VersionRecord,
    base: VersionRecord,
    suite_path: Path,
    model: str | None,
    fresh: bool,
) -> GateVerdict:
    """Candidate and base as two arms of one run (or stored runs of the same experiment),
    judged by the prompt's gate policy."""
    from ..gate import find_policy
    from ..gate.evidence import gate_version

    return gate_version(
        cand,
        f"{base.target}@{base.digest}",
        suite=suite_path,
        policy=find_policy(ws, cand.name),
        workspace=ws,
        model=model,
        fresh=fresh,
    )


def _move_alias(
    ws: Workspace, cand: VersionRecord, alias: str, expect: str | None, result: RetrainResult
) -> None:
    from ..registry.moves import promote

    assert result.verdict is not None
    moved = promote(
        f"{cand.target}@{cand.digest}",
        to=alias,
        reason=f"retrain of {result.base}: {describe_sources(result.labels)}",
        workspace=ws,
        verdict=result.verdict,
        expect=expect,
    )
    result.applied = True
    if not moved.moved:
        result.notes.append(moved.message)


def _check_one_model(suite: Suite, model: str | None) -> None:
    if model is None and len(suite.models) > 1:
        raise ConfigError(
            f"the suite runs {len(suite.models)} models; a retrain gate compares on one",
            field="models",
            hint="pick it with --model (" + ", ".join(m.name for m in suite.models) + ")",
        )
