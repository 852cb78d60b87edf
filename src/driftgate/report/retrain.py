"""A retrain as text: labels read, artifacts rebuilt, the candidate, the gate, the alias."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..retraining.labels import describe_sources

if TYPE_CHECKING:
    from ..retraining import RetrainResult


def render_result(result: RetrainResult) -> str:
    """What retrain collected, built, decided and did, for the terminal."""
    from ..report.gate import render_verdict

    c = result.labels
    since = f", {c.before_since} older feedback not read" if c.before_since else ""
    lines = [
        f"retrain {result.prompt}: base {result.base}, suite {result.suite}",
        f"  labeled rows: {c.rows} read from {describe_sources(c) or 'nothing'}{since}; "
        f"{c.duplicates} duplicate ids, {c.leaked} in the golden sets (dropped), "
        f"{c.unusable} without a label of the prompt; {c.used} used",
    ]
    for a in result.artifacts:
        what = (
            f"{a.added} examples new, {a.removed} replaced, {a.size} in all"
            if a.kind == "fewshot"
            else f"{a.added} corpus rows added, {a.size} in all"
        )
        skipped = f", {a.skipped} rows unusable" if a.skipped else ""
        if a.changed:
            digests = f"{a.old_digest} → {a.new_digest} (registered {a.version})"
        else:
            digests = f"unchanged ({a.old_digest})"
        lines.append(f"  {a.kind}/{a.name}: {digests}; {what}{skipped}")
    if result.candidate:
        lines.append(f"  candidate: {result.candidate} ({result.candidate_digest})")
    if result.verdict is not None:
        lines.append(render_verdict(result.verdict))
    lines += [f"note: {n}" for n in result.notes]
    if result.candidate is None:
        lines.append("nothing to evaluate: no new version")
    elif result.applied:
        lines.append(
            f"{result.alias} → {result.candidate}; production is unchanged "
            f"(promote it: driftgate promote {result.candidate} --to production)"
        )
    elif not result.passed:
        lines.append(
            f"gate failed: {result.alias} not moved ({result.candidate} stays registered, "
            "unaliased); production is unchanged"
        )
    else:
        lines.append(f"dry run: the gate passed; {result.alias} not moved (would point it at "
                     f"{result.candidate})")  # fmt: skip
    return "\n".join(lines)
