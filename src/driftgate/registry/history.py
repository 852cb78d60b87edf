"""Looking back: the versions of an artifact, a diff of two, and how each scored.

Eval results come from the run manifests' summaries (no result file is read): every
stored run that used a version's digest contributes one row per arm.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from .._strict import Strict
from ..errors import ConfigError
from ..workspace import Workspace
from .aliases import StateCorrupted
from .core import Registry
from .versions import ArtifactRef, VersionRecord, parse_ref


class VersionRow(Strict):
    seq: int
    digest: str
    created_at: float
    created_by: str | None = None
    source: str | None = None
    git_revision: str | None = None
    aliases: list[str] = Field(default_factory=list)


class EvalRow(Strict):
    """How one version did in one arm of one stored run."""

    run_id: str
    created_at: float
    arm: str
    model: str | None = None
    results: int | None = None
    pass_rate: float | None = None
    mean_score: float | None = None


class VersionDiff(Strict):
    a: str
    b: str
    digest_a: str
    digest_b: str
    diff: str = Field(description="Unified diff of the normalized definitions (YAML)")
    evals_a: list[EvalRow] = Field(default_factory=list)
    evals_b: list[EvalRow] = Field(default_factory=list)


def list_versions(
    target: str, *, workspace: Workspace | Path | str | None = None
) -> tuple[list[VersionRow], list[str]]:
    """(one row per version, warnings). Aliases are left out, with a warning, when the
    state file is corrupt: listing stays possible while it is repaired."""
    reg = Registry.of(workspace)
    ref = parse_ref(target)
    if ref.selector is not None:
        ref = ArtifactRef(ref.kind, ref.name)
    records = reg.versions.list(ref.kind, ref.name)
    if not records:
        reg.versions.find(ArtifactRef(ref.kind, ref.name, "1"))  # raises the helpful error
    warnings: list[str] = []
    try:
        aliases = reg.aliases_of(ref.target)
    except StateCorrupted as exc:
        aliases = {}
        warnings.append(str(exc))
    by_digest: dict[str, list[str]] = {}
    for alias, digest in sorted(aliases.items()):
        by_digest.setdefault(digest, []).append(alias)
    rows = [
        VersionRow(
            seq=r.seq,
            digest=r.digest,
            created_at=r.created_at,
            created_by=r.created_by,
            source=r.source,
            git_revision=r.git_revision,
            aliases=by_digest.get(r.digest, []),
        )
        for r in records
    ]
    return rows, warnings


def normalized_yaml(record: VersionRecord) -> str:
    """The definition as YAML in a stable order: what a diff compares."""
    return yaml.safe_dump(record.definition, sort_keys=True, allow_unicode=True, width=100)


def diff_versions(
    a: str, b: str, *, workspace: Workspace | Path | str | None = None
) -> VersionDiff:
    """Diff `KIND/NAME@x` against `@y` (or a full ref), with each version's eval results."""
    reg = Registry.of(workspace)
    ra = reg.find(a)
    ref_b = f"{ra.kind}/{ra.name}{b}" if b.startswith("@") else b
    rb = reg.find(ref_b)
    lines = difflib.unified_diff(
        normalized_yaml(ra).splitlines(keepends=True),
        normalized_yaml(rb).splitlines(keepends=True),
        fromfile=ra.ref,
        tofile=rb.ref,
    )
    evals = eval_history(reg.workspace, {ra.digest, rb.digest}) if ra.kind == "prompt" else {}
    return VersionDiff(
        a=ra.ref,
        b=rb.ref,
        digest_a=ra.digest,
        digest_b=rb.digest,
        diff="".join(lines),
        evals_a=evals.get(ra.digest, []),
        evals_b=evals.get(rb.digest, []),
    )


def eval_history(ws: Workspace, digests: set[str]) -> dict[str, list[EvalRow]]:
    """digest → rows of stored runs whose manifest lists a prompt with that digest."""
    from ..store.runs import RunStore

    out: dict[str, list[EvalRow]] = {d: [] for d in digests}
    for m in RunStore(ws.runs_dir).list():
        for p in m.prompts:
            if p.digest not in digests:
                continue
            by_arm: dict[str, dict[str, Any]] = m.summary.by_arm if m.summary else {}
            arms = {k: v for k, v in by_arm.items() if v.get("prompt") == p.ref}
            if not arms:  # an unfinished run: still say it used the version
                out[p.digest].append(EvalRow(run_id=m.id, created_at=m.created_at, arm=p.ref))
            for key, stats in arms.items():
                out[p.digest].append(
                    EvalRow(
                        run_id=m.id,
                        created_at=m.created_at,
                        arm=key,
                        model=stats.get("model"),
                        results=stats.get("results"),
                        pass_rate=stats.get("pass_rate"),
                        mean_score=stats.get("mean_score"),
                    )
                )
    return out


class AliasRow(Strict):
    """Where one alias of one artifact points (`seq` is None when its version file is gone)."""

    target: str
    alias: str
    digest: str
    seq: int | None = None


def alias_rows(
    workspace: Workspace | Path | str | None = None, target: str | None = None
) -> list[AliasRow]:
    """Every alias of `target` (KIND/NAME), or of every artifact, with its version's sequence."""
    reg = Registry.of(workspace)
    state = reg.aliases.read()
    targets = [parse_ref(target).target] if target else sorted(state.aliases)
    rows = []
    for t in targets:
        kind, _, name = t.partition("/")
        for alias, digest in sorted(state.of(t).items()):
            rec = reg.versions.get(kind, name, digest)
            rows.append(
                AliasRow(target=t, alias=alias, digest=digest, seq=rec.seq if rec else None)
            )
    return rows


def verify_aliases(workspace: Workspace | Path | str | None = None) -> tuple[int, int]:
    """Check the alias state's checksum (`StateCorrupted`, with the repair hint) and that every
    alias points at a stored version (`ConfigError` naming the alias); (aliases, state counter)."""
    reg = Registry.of(workspace)
    state = reg.aliases.read()
    missing = [row for row in alias_rows(reg.workspace) if row.seq is None]
    if missing:
        row = missing[0]
        raise ConfigError(
            f"alias {row.alias!r} of {row.target} points to {row.digest}, which has no version file",
            hint="`driftgate registry repair` rebuilds the alias state from the audit log",
        )
    return sum(len(a) for a in state.aliases.values()), state.counter


class ExampleChanges(Strict):
    """Few-shot examples one version has and the other does not (by their content)."""

    fewshot_a: str | None = None
    fewshot_b: str | None = None
    added: list[dict[str, Any]] = Field(default_factory=list)
    removed: list[dict[str, Any]] = Field(default_factory=list)


def example_changes(
    a: str, b: str, *, workspace: Workspace | Path | str | None = None
) -> ExampleChanges | None:
    """Examples added and removed between two few-shot versions, or between the few-shot
    sets two prompt versions pin; None when neither side has one."""
    import json

    reg = Registry.of(workspace)
    ra, rb = reg.find(a), reg.find(b)

    def fewshot(record: VersionRecord) -> VersionRecord | None:
        if record.kind == "fewshot":
            return record
        ref = record.definition.get("fewshot") if record.kind == "prompt" else None
        return reg.find(f"fewshot/{ref}") if ref else None

    fa, fb = fewshot(ra), fewshot(rb)
    if fa is None and fb is None:
        return None

    def examples(record: VersionRecord | None) -> dict[str, dict[str, Any]]:
        rows = record.definition.get("examples") or [] if record else []
        return {json.dumps(e, sort_keys=True, default=str): e for e in rows}

    ea, eb = examples(fa), examples(fb)
    return ExampleChanges(
        fewshot_a=fa.ref if fa else None,
        fewshot_b=fb.ref if fb else None,
        added=[e for k, e in eb.items() if k not in ea],
        removed=[e for k, e in ea.items() if k not in eb],
    )


def rendered_pair(
    a: str, b: str, variables: dict[str, Any], *, workspace: Workspace | Path | str | None = None
) -> list[tuple[str, str, str]]:
    """What two prompt versions send for the same variables: (role, A's text, B's text) per
    message position (a side without that message: empty)."""
    from .binding import render_messages
    from .prompts import find_prompt

    reg = Registry.of(workspace)
    ra, rb = reg.find(a), reg.find(b)
    ws = reg.workspace
    ma = render_messages(ws, find_prompt(ws, f"{ra.name}@{ra.seq}"), variables)
    mb = render_messages(ws, find_prompt(ws, f"{rb.name}@{rb.seq}"), variables)
    out = []
    for i in range(max(len(ma), len(mb))):
        role = (ma[i] if i < len(ma) else mb[i]).get("role", "")
        out.append(
            (role, ma[i].get("content", "") if i < len(ma) else "",
             mb[i].get("content", "") if i < len(mb) else "")
        )  # fmt: skip
    return out
