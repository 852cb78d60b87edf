"""Golden sets: labeled cases in JSONL, YAML or CSV, streamed rather than loaded whole.

A case:

    {"id": "t-001", "vars": {"description": "TESCO STORES 2231"}, "expected": "groceries",
     "segment": "cohort=established", "tags": ["uk"], "metadata": {"source": "bank-a"}}

CSV: the columns `id`, `expected`, `reference`, `segment` and `tags` (separated by `;`) are
reserved; a column `meta.X` goes into metadata; every other column is a template variable.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from ._files import format_loc, iter_json_objects, iter_text_lines, load_data, read_text
from ._strict import Strict
from .errors import ConfigError

SUFFIXES = (".jsonl", ".yaml", ".yml", ".csv", ".json")


class Case(Strict):
    id: str = Field(min_length=1)
    vars: dict[str, Any] = Field(default_factory=dict)
    expected: Any = None
    reference: str | None = None
    segment: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def template_context(self) -> dict[str, Any]:
        """What a prompt template sees: the vars, plus the case itself under `case`."""
        return {**self.vars, "case": {"id": self.id, "segment": self.segment, "tags": self.tags}}


def _case(data: Any, path: Path, line: int | None, index: int) -> Case:
    if not isinstance(data, dict):
        raise ConfigError("a case must be a mapping/object", path=path, line=line)
    if "id" not in data:
        data = {**data, "id": str(index + 1)}
    elif isinstance(data["id"], bool) or not isinstance(data["id"], str | int):
        raise ConfigError(
            f"a case id must be a string or an integer, not {type(data['id']).__name__} "
            f"{_short(data['id'])}",
            path=path,
            line=line,
            field="id",
        )
    elif not isinstance(data["id"], str):
        data = {**data, "id": str(data["id"])}
    try:
        return Case.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = (
            err["msg"]
            if err["type"] != "extra_forbidden"
            else (
                "unknown field (case fields: id, vars, expected, reference, segment, tags, metadata)"
            )
        )
        raise ConfigError(msg, path=path, line=line, field=format_loc(tuple(err["loc"]))) from None


def iter_cases(path: Path) -> Iterator[Case]:
    """Stream the cases of one golden-set file; duplicate ids are an error."""
    path = Path(path)
    seen: set[str] = set()
    for case, line in _iter_raw(path):
        if case.id in seen:
            raise ConfigError(f"duplicate case id {case.id!r}", path=path, line=line, field="id")
        seen.add(case.id)
        yield case


def _iter_raw(path: Path) -> Iterator[tuple[Case, int | None]]:
    suffix = path.suffix.lower()
    if not path.exists():
        raise ConfigError("golden set file not found", path=path)
    if suffix == ".jsonl":
        text_lines = iter_text_lines(path)
        for index, (lineno, data) in enumerate(iter_json_objects(text_lines, path, what="a case")):
            yield _case(data, path, lineno, index), lineno
    elif suffix == ".csv":
        for index, (line, row) in enumerate(_csv_records(path)):
            yield _case(_csv_row(row), path, line, index), line
    elif suffix in (".yaml", ".yml", ".json"):
        text = read_text(path)
        data = load_data(path, text)
        if isinstance(data, dict) and "cases" in data:
            data = data["cases"]
        if not isinstance(data, list):
            raise ConfigError("expected a list of cases (or a mapping with `cases:`)", path=path)
        lines = _yaml_item_lines(text) if suffix != ".json" else []
        for index, item in enumerate(data):
            item_line = lines[index] if index < len(lines) else None
            yield _case(item, path, item_line, index), item_line
    else:
        raise ConfigError(
            f"unsupported golden set format {suffix!r}",
            path=path,
            hint=f"use one of {', '.join(SUFFIXES)}",
        )


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(first line, {column: cell}) per CSV record, checked so a stray quote cannot merge rows.

    The reader is strict (a quote that never closes, or text after a closing quote, is an
    error), and a record that spans several lines, which only a quoted field with line
    breaks does, must have exactly the header's cells: a stray quote that swallows the
    line breaks up to the next quote leaves a record with the wrong count.
    """
    reader = csv.reader(iter_text_lines(path), strict=True)
    start, header = 1, None
    try:
        for cells in reader:
            end, line, start = reader.line_num, start, reader.line_num + 1
            if header is None:
                header = [c.strip() for c in cells]
                continue
            if not cells:
                continue  # a blank line
            if len(cells) > len(header):
                raise ConfigError("row has more cells than the header", path=path, line=line)
            if end > line and len(cells) != len(header):
                raise ConfigError(
                    f"a quoted field runs from line {line} to line {end}, leaving "
                    f"{len(cells)} cells where the header has {len(header)}: an unbalanced "
                    "quote?",
                    path=path,
                    line=line,
                    hint='close the quote, or double a quote inside a quoted field ("")',
                )
            yield line, dict(zip(header, cells, strict=False))
    except csv.Error as exc:
        raise ConfigError(
            f"malformed CSV: {exc} (an unbalanced quote?)", path=path, line=start
        ) from None
    if header is None:
        raise ConfigError("CSV file has no header row", path=path, line=1)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _csv_row(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"vars": {}, "metadata": {}}
    for key, value in row.items():
        key = key.strip()
        if key in ("id", "expected", "reference", "segment"):
            if value != "":
                out[key] = value
        elif key == "tags":
            out["tags"] = [t.strip() for t in value.split(";") if t.strip()]
        elif key.startswith("meta."):
            out["metadata"][key[5:]] = value
        else:
            out["vars"][key] = value
    return out


def _yaml_item_lines(text: str) -> list[int]:
    import yaml

    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "cases":
                node = value
    if not isinstance(node, yaml.SequenceNode):
        return []
    return [item.start_mark.line + 1 for item in node.value]


class EvalSet:
    """A named golden set backed by a file; iterate it to stream its cases."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = Path(path)

    def __iter__(self) -> Iterator[Case]:
        return iter_cases(self.path)

    def __repr__(self) -> str:
        return f"EvalSet({self.name!r}, {str(self.path)!r})"

    def digest(self) -> str:
        """Hash of the file's bytes: the golden set's version identity."""
        import hashlib

        h = hashlib.sha256()
        with self.path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()[:12]

    def validate(self) -> int:
        """Parse every case; returns the count. Raises ConfigError on the first bad one."""
        return sum(1 for _ in self)
