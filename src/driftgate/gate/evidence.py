"""Getting results for a gate: reuse stored runs when they answer the question, else run.

A stored run is reused for a prompt version when it finished, its suite settings (all but
the prompt list) and case selection match the suite being gated with, its golden set
files have the same digests as now, and it has an arm with the version's digest on the
expected model. Whatever is missing is run now: both versions as two arms of one run, on
the response cache, so a re-gate after an unrelated change costs almost nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._digest import digest
from ..errors import ConfigError, DriftgateError, ProviderErrorBudgetExceeded
from ..registry.aliases import check_alias
from ..registry.core import Registry
from ..registry.prompts import find_prompt
from ..registry.versions import VersionRecord, parse_ref
from ..store.records import CaseResult, RunManifest
from ..workspace import Workspace
from .policy import GatePolicy, policy_for
from .verdict import GateVerdict

if TYPE_CHECKING:
    from ..suite import Suite


def gate_version(
    candidate: str | VersionRecord,
    against: str | None = "production",
    *,
    suite: Path | str | None = None,
    policy: GatePolicy | Path | str | None = None,
    workspace: Workspace | Path | str | None = None,
    model: str | None = None,
    fresh: bool = False,
) -> GateVerdict:
    from ..suite import load_suite
    from .rules import evaluate_gate  # numpy, on the first gate

    reg = Registry.of(workspace)
    ws = reg.workspace
    cand = candidate if isinstance(candidate, VersionRecord) else reg.find(candidate)
    if cand.kind != "prompt":
        raise ConfigError(
            f"{cand.ref}: only prompt versions are gated by running a suite",
            hint="promote other kinds with --force --skip-gate --reason TEXT",
        )
    base, base_label = baseline_of(reg, cand, against)
    pol = policy_for(ws, cand.name, policy)
    check_policy_evalsets(ws, pol)
    suite_path = ws.inside(suite, what="suite file") if suite else ws.default_suite_path()
    suite_obj = load_suite(suite_path)
    wanted = [cand] + ([base] if base is not None and base.digest != cand.digest else [])
    results = collect_results(ws, suite_path, suite_obj, wanted, model, fresh=fresh)
    verdict = evaluate_gate(
        results[cand.digest],
        results[base.digest] if base is not None else None,
        pol,
        candidate=cand.ref,
        baseline=base_label or "",
        candidate_digest=cand.digest,
        baseline_digest=base.digest if base else None,
    )
    # Named in the verdict's headline: a gate on the default suite is never a silent choice.
    shown = suite_path.relative_to(ws.root) if suite_path.is_relative_to(ws.root) else suite_path
    verdict.on = f"{shown} on {_model_label(suite_obj, cand, model)}"
    if base is not None and base.digest == cand.digest:
        verdict.warnings.append(f"{cand.ref} is the version {base_label} already points to")
    return verdict


def gate(
    candidate: str,
    against: str | None = "production",
    *,
    suite: Path | str | None = None,
    policy: GatePolicy | Path | str | None = None,
    workspace: Workspace | Path | str | None = None,
    model: str | None = None,
) -> GateVerdict:
    """Gate a registered prompt version (`prompt/cat@3`) against an alias or a version.

    Results come from stored finished runs of the same suite settings, golden set files,
    prompt digests and model; what is missing is run now (both versions as two arms of one
    run; the response cache makes a re-run cheap). `against=None` gates without baseline.
    """
    return gate_version(
        candidate, against, suite=suite, policy=policy, workspace=workspace, model=model
    )


def baseline_of(
    reg: Registry, cand: VersionRecord, against: str | None
) -> tuple[VersionRecord | None, str | None]:
    """The version to compare with: an alias of the candidate's artifact (None when it is
    not set yet), or a version (`@3`, `3`, a digest, `prompt/cat@3`)."""
    if against is None:
        return None, None
    sel = against.lstrip("@")
    if "/" in sel or "@" in sel:
        rec = reg.find(sel)
        return rec, rec.ref
    if sel.isdigit() or not _is_alias_name(sel):
        rec = reg.find(parse_ref(f"{cand.kind}/{cand.name}@{sel}"))
        return rec, rec.ref
    digest_ = reg.aliases_of(cand.target).get(sel)
    if digest_ is None:
        return None, None
    aliased = reg.versions.get(cand.kind, cand.name, digest_)
    if aliased is None:
        raise ConfigError(
            f"alias {sel!r} of {cand.target} points to {digest_}, which is not registered",
            hint="`driftgate registry repair` rebuilds the aliases from the audit log",
        )
    return aliased, f"{aliased.ref} ({sel})"


def _is_alias_name(sel: str) -> bool:
    try:
        check_alias(sel)
    except ConfigError:
        return False
    return True


def check_policy_evalsets(ws: Workspace, policy: GatePolicy) -> None:
    """A policy naming a golden set the workspace does not have is bad input (exit 2)."""
    names = list(policy.required_evalsets) + [f.evalset for f in policy.floors if f.evalset]
    for name in dict.fromkeys(names):
        ws.evalset(name)  # raises UnknownNameError with the valid names


def _model_label(suite: Suite, record: VersionRecord, model: str | None) -> str:
    if model:
        return model
    if len(suite.models) > 1:
        raise ConfigError(
            f"the suite runs {len(suite.models)} models "
            f"({', '.join(m.name for m in suite.models)}); a gate compares on one",
            field="models",
            hint=f"pick it with --model, e.g. --model {suite.models[-1].name}",
        )
    if suite.models:
        return suite.models[0].name
    own = record.definition.get("model")
    if not own:
        raise ConfigError(f"{record.ref} names no model and the suite lists none", field="models")
    return own


def _suite_key(data: dict[str, Any]) -> str:
    return digest({k: v for k, v in data.items() if k != "prompts"})


def _reusable(m: RunManifest, key: str, repeat: int, evalsets: dict[str, str]) -> bool:
    s = m.settings
    if m.status != "finished" or "suite" not in s:
        return False
    if s.get("limit") is not None or s.get("sample") is not None or s.get("filter"):
        return False
    if s.get("repeat") != repeat or _suite_key(s["suite"]) != key:
        return False
    return {e.name: e.digest for e in m.evalsets} == evalsets


def collect_results(
    ws: Workspace,
    suite_path: Path,
    suite: Suite,
    records: list[VersionRecord],
    model: str | None = None,
    *,
    fresh: bool = False,
) -> dict[str, list[CaseResult]]:
    """digest → results of that prompt version on its model, from stored runs or a new run.

    `fresh`: neither stored runs nor the response cache — every answer from the provider
    now (after provider drift, stored answers describe a provider that no longer exists)."""
    from ..providers.base import ModelConfig
    from ..store.runs import RunStore

    effective = suite.model_copy(update={"models": [ModelConfig(id=model)]}) if model else suite
    key = _suite_key(effective.model_dump(mode="json", exclude_defaults=False))
    evalsets = {e.name: e.digest() for e in (ws.evalset(ref) for ref in suite.evalsets)}
    labels = {r.digest: _model_label(suite, r, model) for r in records}
    store = RunStore.of(ws)
    out: dict[str, list[CaseResult]] = {}
    for m in [] if fresh else reversed(store.list()):
        missing = [r for r in records if r.digest not in out]
        if not missing:
            break
        digests = {p.digest for p in m.prompts}
        if not any(r.digest in digests for r in missing) or not _reusable(
            m, key, suite.repeat, evalsets
        ):
            continue
        results = list(store.results(m.id))
        expected = sum(e.cases or 0 for e in m.evalsets) * suite.repeat
        for r in missing:
            mine = [
                x for x in results if x.prompt_digest == r.digest and x.model == labels[r.digest]
            ]
            if mine and len(mine) == expected:
                out[r.digest] = mine
    missing = [r for r in records if r.digest not in out]
    if missing:
        from ..engine.runner import run

        refs = [_runnable_ref(ws, r) for r in missing]
        result = run(
            suite_path,
            workspace=ws,
            prompts=refs,
            models=[model] if model else None,
            no_cache=fresh,
        )
        if result.manifest.status != "finished":
            raise ProviderErrorBudgetExceeded(
                f"the gate's run {result.id} ended {result.manifest.status} "
                f"({result.manifest.verdict}); no verdict without complete results",
                hint=f"`driftgate show {result.id}` lists the errors",
            )
        for r in missing:
            out[r.digest] = [
                x
                for x in result.results
                if x.prompt_digest == r.digest and x.model == labels[r.digest]
            ]
    return out


def _runnable_ref(ws: Workspace, record: VersionRecord) -> str:
    """`NAME@SEQ`, unless a prompt file happens to carry that label (file labels win):
    then the digest, which no file label will equal."""
    ref = f"{record.name}@{record.seq}"
    try:
        if find_prompt(ws, ref).digest == record.digest:
            return ref
    except DriftgateError:
        pass
    return f"{record.name}@{record.digest}"
