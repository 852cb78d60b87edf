"""`driftgate ui`'s Versions page: every registered artifact; for one, its versions,
aliases and audit trail, and a diff of two versions with how each scored."""

from __future__ import annotations

from typing import Any

from ._format import fmt_pct, fmt_time
from .html import text


def versions_values(
    targets: list[tuple[str, int, list[str]]],
    target: str | None,
    rows: list[Any],
    audit: list[Any],
    diff: Any,
    picked: dict[str, str | None],
) -> dict[str, Any]:
    """The versions page: every artifact; for one, its versions, aliases, audit trail and a
    diff of two versions (added lines, removed lines, each version's eval results)."""

    def seq(s: int | None, digest: str | None) -> str:
        return f"@{s}" if s else (digest or "(unset)")

    lines = []
    if diff is not None:
        for line in diff.diff.splitlines():
            kind = "same"
            if line.startswith(("+++", "---", "@@")):
                kind = "head"
            elif line.startswith("+"):
                kind = "ins"
            elif line.startswith("-"):
                kind = "del"
            lines.append((kind, line))
    evals = []
    if diff is not None:
        for side, rows_ in (("A", diff.evals_a), ("B", diff.evals_b)):
            evals += [
                (side, e.run_id, e.arm, str(e.results or "—"), fmt_pct(e.pass_rate)) for e in rows_
            ]
    return {
        "targets": [
            {"target": t, "versions": n, "aliases": ", ".join(a) or "—"} for t, n, a in targets
        ],
        "target": target,
        "rows": [
            {
                "seq": f"@{r.seq}",
                "digest": r.digest,
                "created": fmt_time(r.created_at),
                "by": r.created_by or "—",
                "source": r.source or "—",
                "aliases": ", ".join(r.aliases),
            }
            for r in reversed(rows)
        ],  # fmt: skip
        "choices": [f"{r.seq}" for r in rows],
        "audit": [
            {
                "when": fmt_time(e.ts),
                "who": e.who,
                "action": e.action,
                "alias": e.alias,
                "move": f"{seq(e.from_seq, e.from_digest)} → {seq(e.to_seq, e.to_digest)}",
                "why": e.reason or "",
                "gate": e.gate or "",
                "forced": e.forced,
            }
            for e in reversed(audit)
        ],  # fmt: skip
        "picked": picked,
        "diff": diff,
        "diff_lines": lines,
        "evals": evals,
    }


def example_values(changes: Any) -> dict[str, Any] | None:
    """Few-shot examples added and removed, as one line of text each."""
    if changes is None:
        return None

    def line(e: dict[str, Any]) -> str:
        shown = e.get("input", e)
        shown = (
            " · ".join(str(v) for v in shown.values()) if isinstance(shown, dict) else text(shown)
        )
        return f"{shown} → {text(e.get('output', e.get('label')))}"

    return {
        "a": changes.fewshot_a or "none",
        "b": changes.fewshot_b or "none",
        "added": [line(e) for e in changes.added],
        "removed": [line(e) for e in changes.removed],
    }


def rendered_values(case_id: str, pairs: list[tuple[str, str, str]]) -> dict[str, Any]:
    """What two prompt versions send for one case, message by message, as a word diff."""
    from .web_compare import word_diff

    return {
        "case": case_id,
        "messages": [
            {"role": role, "same": a == b, "diff": word_diff(text(a), text(b))}
            for role, a, b in pairs
        ],
    }
