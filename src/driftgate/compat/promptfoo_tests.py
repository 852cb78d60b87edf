"""promptfoo `tests`: inline, or `file://tests.csv` / `.jsonl` / `.yaml` / `.json`.

Each test comes back as (mapping in promptfoo's test format, Where it was written), so an
error in it names its own file and line. CSV columns: `__expected` (and `__expected1`…,
promptfoo's assertion syntax: `icontains:bonjour`), `__description`, `__metric`,
`__threshold`, `__metadata:KEY`; every other column is a variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .promptfoo_asserts import Where, expected_cell

Test = tuple[dict[str, Any], Where]
_CSV_UNSUPPORTED = {
    "__prefix": "put the text in the prompt",
    "__suffix": "put the text in the prompt",
    "__config": "give the assertion in the config's `assert` list",
}


def load_tests(raw: Any, where: Where, base: Path) -> list[Test]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return _from_file(raw, where, base)
    if not isinstance(raw, list):
        raise where.error("`tests` must be a list or file://PATH")
    out: list[Test] = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            out.extend(_from_file(item, where.at(i), base))
        elif isinstance(item, dict):
            out.append((item, where.at(i)))
        else:
            raise where.at(i).error("a test must be a mapping or file://PATH")
    return out


def _from_file(ref: str, where: Where, base: Path) -> list[Test]:
    from .._files import load_data, read_text

    if not ref.startswith("file://"):
        raise where.error(f"tests {ref!r}: expected file://PATH")
    rel = ref[len("file://") :]
    if path_glob(rel):
        paths = matched(rel, base, where, what="tests")
        return [t for p in paths for t in _from_file("file://" + str(p), where, base)]
    path = base / rel
    if not path.is_file():
        raise where.error(f"tests file {ref!r} not found (relative to {base})")
    if path.suffix == ".csv":
        return _csv(path)
    if path.suffix == ".jsonl":
        return _jsonl(path)
    if path.suffix in (".yaml", ".yml", ".json"):
        text = read_text(path)
        data = load_data(path, text)
        here = Where(path, text)
        if not isinstance(data, list):
            raise here.error("a tests file holds a list of tests")
        return [(t, here.at(i)) for i, t in enumerate(data) if _mapping(t, here.at(i))]
    raise where.error(f"tests file {ref!r}: use .csv, .jsonl, .yaml or .json")


def path_glob(rel: str) -> bool:
    """Whether a `file://` path is a glob pattern (promptfoo expands `*`, `?`, `[…]`)."""
    return any(c in rel for c in "*?[")


def matched(pattern: str, base: Path, where: Where, *, what: str) -> list[Path]:
    """The files a glob matches, relative to `base`, in sorted order (a run's cases and
    prompts must not depend on the file system's listing order); none is an error."""
    if Path(pattern).is_absolute():
        raise where.error(
            f"{what} glob {pattern!r} must be relative to the config's folder",
            hint="write the pattern relative to the promptfoo config",
        )
    paths = sorted(p for p in base.glob(pattern) if p.is_file())
    if not paths:
        raise where.error(
            f"{what} glob 'file://{pattern}' matches no file (relative to {base})",
            hint="check the pattern, or list each file",
        )
    return [Path(os.path.relpath(p, base)) for p in paths]


def _mapping(test: Any, where: Where) -> bool:
    if not isinstance(test, dict):
        raise where.error("a test must be a mapping")
    return True


def _jsonl(path: Path) -> list[Test]:
    from .._files import iter_json_objects, iter_text_lines

    out = []
    for line, data in iter_json_objects(iter_text_lines(path), path, what="a test"):
        where = Where(path, None, line=line)
        out.append((data, where) if _mapping(data, where) else ({}, where))
    return out


def _csv(path: Path) -> list[Test]:
    from ..evalset import _csv_records

    out = []
    for line, row in _csv_records(path):
        where = Where(path, None, line=line)
        test: dict[str, Any] = {"vars": {}}
        asserts: list[dict[str, Any]] = []
        metric = None
        for column, cell in row.items():
            if column.startswith("__expected"):
                if cell.strip():
                    asserts.append(expected_cell(cell))
            elif column == "__description":
                test["description"] = cell
            elif column == "__metric":
                metric = cell or None
            elif column == "__threshold":
                test["threshold"] = float(cell) if cell.strip() else None
            elif column.startswith("__metadata:"):
                test.setdefault("metadata", {})[column.split(":", 1)[1]] = cell
            elif column.startswith("__"):
                hint = _CSV_UNSUPPORTED.get(
                    column,
                    "columns read: __expected[N], __description, "
                    "__metric, __threshold, __metadata:KEY",
                )
                raise where.error(f"CSV column {column!r} is not supported", hint=hint)
            else:
                test["vars"][column] = cell
        if metric:
            asserts = [{**a, "metric": metric} for a in asserts]
        if asserts:
            test["assert"] = asserts
        out.append((test, where))
    return out
