"""Labeled rows for a retrain: a route's feedback and golden-set files, deduplicated,
without the suite's own golden cases, and with every row accounted for.

Every row read ends in exactly one bucket, so the counts add up:

    rows = duplicates + leaked + unusable + used          (+ `before_since`, not read)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from .._strict import Strict
from ..errors import ConfigError
from ..workspace import Workspace

if TYPE_CHECKING:
    from ..prompt import Prompt


class LabelCounts(Strict):
    """What was collected, and what was left out and why."""

    sources: dict[str, int] = Field(default_factory=dict, description="Rows read per source.")
    rows: int = Field(0, description="Rows read in all.")
    before_since: int = Field(
        0, description="Route feedback logged before `since`: not new, not read."
    )
    duplicates: int = Field(0, description="Rows whose id a later source also had.")
    leaked: int = Field(0, description="Rows equal to a golden-set case (id or vars): dropped.")
    unusable: int = Field(0, description="Rows without a label of the prompt.")
    used: int = Field(0, description="Rows handed to the artifact builders.")


def collect_labels(
    ws: Workspace,
    *,
    route: str | None,
    labels: list[str | Path] | tuple[str | Path, ...] | None,
    golden: list[Any],
    prompt: Prompt,
    since: float | None = None,
) -> tuple[LabelCounts, list[dict[str, Any]]]:
    """Labeled rows (`{id, vars, expected}`) from a route (feedback logged after `since`)
    and golden-set files, deduplicated by id (later sources win), without golden-set cases
    and rows the prompt cannot use."""
    from ..evalset import iter_cases
    from ..router.log import labeled_cases

    counts = LabelCounts()
    by_id: dict[str, dict[str, Any]] = {}
    sources: list[tuple[str, list[dict[str, Any]]]] = []
    if route:
        cases = labeled_cases(ws, route)
        if since is not None:
            new = [c for c in cases if float(c.get("metadata", {}).get("ts") or 0) > since]
            counts.before_since = len(cases) - len(new)
            cases = new
        sources.append((f"route:{route}", cases))
    for item in labels or []:
        path = labels_path(ws, item)
        # Named as in the workspace when it is in it, else as given (not a temp path).
        name = rel(ws, path) if ws.root in path.parents else str(item)
        sources.append((name, [c.model_dump() for c in iter_cases(path)]))
    for name, cases in sources:
        counts.sources[name] = len(cases)
        counts.rows += len(cases)
        for case in cases:
            if case["id"] in by_id:
                counts.duplicates += 1
                del by_id[case["id"]]  # re-inserted last: the later source's row wins
            by_id[case["id"]] = case
    ids: set[str] = set()
    seen_vars: set[str] = set()
    for es in golden:
        for case in es:
            ids.add(case.id)
            seen_vars.add(vars_key(case.vars))
    allowed = set(prompt.output.labels or [])
    rows = []
    for case in by_id.values():
        if case["id"] in ids or vars_key(case.get("vars") or {}) in seen_vars:
            counts.leaked += 1
            continue
        expected = case.get("expected")
        if isinstance(expected, bool) or not isinstance(expected, (str, int, float)):
            counts.unusable += 1  # no label, or a structured answer: not a few-shot label
            continue
        if allowed and str(expected) not in allowed:
            counts.unusable += 1
            continue
        rows.append({"id": case["id"], "vars": dict(case.get("vars") or {}), "expected": expected})
    counts.used = len(rows)
    return counts, rows


def no_usable_rows(counts: LabelCounts, *, route: str | None, labels: bool) -> ConfigError:
    """The error for "nothing to learn from", with counts that add up and a hint that fits
    what was passed and where the rows went."""
    c = counts
    parts = [f"{c.rows} read"]
    if c.duplicates:
        parts.append(f"{c.duplicates} duplicate ids")
    parts += [f"{c.leaked} in the golden sets", f"{c.unusable} without a label of the prompt"]
    message = f"no usable labeled rows ({', '.join(parts)})"
    if c.before_since:
        message += f"; {c.before_since} feedback rows logged before --since were not read"
    more = "pass --labels FILE" if not labels else "pass other --labels files"
    if route and not labels:
        more += " or label more traffic (`driftgate route feedback`)"
    if c.rows == 0:
        where = (
            f"route {route!r} has no labeled feedback" if route else "the labels files are empty"
        )
        if route and labels:
            where = f"neither route {route!r} nor the labels files have labeled rows"
        hint = f"{where}{' since then' if c.before_since else ''}; {more}"
    elif c.leaked >= c.unusable:
        hint = (
            "the rows are cases of the suite's golden sets (same id or same vars), which "
            "the evaluation must not find in the prompt; " + more + " with rows that are not"
        )
    else:
        hint = "a usable row has `expected` set to one of the prompt's output labels"
    return ConfigError(message, hint=hint)


def labels_path(ws: Workspace, item: str | Path) -> Path:
    """A labels file as given: absolute, else relative to the current folder, else to the
    workspace root."""
    path = Path(item).expanduser()
    for cand in [path] if path.is_absolute() else [Path.cwd() / path, ws.root / path]:
        if cand.is_file():
            return cand.resolve()
    raise ConfigError("labels file not found", path=item, hint="a golden-set file: vars + expected")


def describe_sources(counts: LabelCounts) -> str:
    return ", ".join(f"{name} ({n})" for name, n in counts.sources.items())


def vars_key(variables: dict[str, Any]) -> str:
    """What makes two cases the same input: the leakage guard (here and in the review
    queue's golden set) compares these."""
    return json.dumps(variables, sort_keys=True, ensure_ascii=False, default=str)


def rel(ws: Workspace, path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(ws.root).as_posix()
    except ValueError:
        return str(path)
