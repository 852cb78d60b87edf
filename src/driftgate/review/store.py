"""Where reviews land: the reviewed golden set and the skip log, and the golden cases the
queue measures new inputs (and the leakage guard) against.

    evalsets/reviewed.jsonl            one golden case per reviewed answer (`review.golden_set`)
    .driftgate/review/skips.jsonl      answers a person skipped (they go to the queue's end)

Both files are appended one line per write (O_APPEND, one `write`, then fsync), so two
people reviewing at once never tear a line; the reviewed set is deduplicated by id on read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..artifacts.route import RouteSpec
    from ..workspace import Workspace


def reviewed_path(ws: Workspace) -> Path:
    path = ws.root / ws.settings.review.golden_set
    if not path.resolve().is_relative_to(ws.root):
        raise ConfigError(
            "the reviewed golden set must be inside the workspace",
            field="review.golden_set",
            hint="a path such as evalsets/reviewed.jsonl",
        )
    if path.suffix != ".jsonl":
        raise ConfigError(
            "the reviewed golden set is appended to, so it must be a .jsonl file",
            field="review.golden_set",
            hint="a path such as evalsets/reviewed.jsonl",
        )
    return path


def _skips_path(ws: Workspace) -> Path:
    return ws.state_dir / "review" / "skips.jsonl"


def append_line(path: Path, record: dict[str, Any]) -> None:
    """One JSON line, written whole and synced (the registry's appender)."""
    from ..registry._fs import append_line as append

    append(path, json.dumps(record, ensure_ascii=False, default=str))


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_bytes().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a torn last line of a killed writer
        if isinstance(row, dict):
            rows.append(row)
    return rows


def reviewed_rows(ws: Workspace) -> list[dict[str, Any]]:
    """The reviewed golden set's cases (the first line per id)."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for row in _read_lines(reviewed_path(ws)):
        if row.get("id") in seen:
            continue
        seen.add(str(row.get("id")))
        out.append(row)
    return out


def skipped_ids(ws: Workspace) -> set[str]:
    return {str(r.get("item")) for r in _read_lines(_skips_path(ws))}


def record_skip(ws: Workspace, item_id: str, reviewer: str) -> None:
    append_line(_skips_path(ws), {"item": item_id, "reviewer": reviewer, "ts": time.time()})


def golden_cases(ws: Workspace, spec: RouteSpec) -> list[dict[str, Any]]:
    """The golden cases a route is evaluated on: its loop suite's golden sets, else the
    workspace's default suite's (none when there is no suite)."""
    from ..evalset import iter_cases
    from ..suite import load_suite

    suite_file = spec.loop.suite if spec.loop and spec.loop.suite else ws.settings.suite
    if not suite_file:
        return []
    suite = load_suite(ws.root / suite_file)
    reviewed = reviewed_path(ws).resolve()
    out: list[dict[str, Any]] = []
    for ref in suite.evalsets:
        es = ws.evalset(ref)
        if es.path.resolve() == reviewed:
            continue  # the reviewed set is counted on its own
        out.extend(c.model_dump(mode="json") for c in iter_cases(es.path))
    return out
