"""Golden sets: labeled cases in JSONL, YAML or CSV, streamed rather than loaded whole.

A case:

    {"id": "t-001", "vars": {"description": "TESCO STORES 2231"}, "expected": "groceries",
     "segment": "cohort=established", "tags": ["uk"], "metadata": {"source": "bank-a"}}

CSV: the columns `id`, `expected`, `reference`, `segment` and `tags` (separated by `;`) are
reserved; a column `meta.X` goes into metadata; every other column is a template variable.

Rows in other shapes load as they are (`_row_shape`, the one place that reads them), so a
golden set from elsewhere needs no conversion script:

* flat rows, `{"id": "q1", "query": "...", "expected": "..."}`: a JSONL/YAML row without
  `vars` keeps the case fields (id, expected, reference, segment, tags, metadata) and every
  other field becomes a variable, as CSV columns do;
* OpenAI-evals rows, `{"input": [{"role": "user", "content": "..."}], "ideal": "..."}`:
  `ideal` (a string, or a list meaning any of them) is the expected answer and `input` (chat
  messages or a string) a variable; a prompt places it with `{insert: input}`, or a suite
  names the built-in prompt `passthrough`, which sends it as it is (see prompt.py).

Multi-turn cases and tools: a case's `messages` is a chat history in OpenAI's shape (an
assistant's `tool_calls`, `tool` messages answering them). It is the variable `messages`,
placed like any other with `{insert: messages}` (or sent as it is by `passthrough`), and is
checked when the file loads. `tools` (OpenAI function tools) add to the prompt's, and
`tool_choice` replaces the prompt's:

    {"id": "w1", "messages": [{"role": "user", "content": "Weather in Paris?"}],
     "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {...}}}],
     "expected": {"name": "get_weather", "arguments": {"city": "Paris"}}}
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from ._files import format_loc, iter_json_objects, iter_text_lines, load_data, read_text
from ._strict import Strict
from ._tools import Tool, ToolChoice, check_unique, history_message
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
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, v: list[Tool] | None) -> list[Tool] | None:
        return check_unique(v)

    @field_validator("vars")
    @classmethod
    def _history(cls, v: dict[str, Any]) -> dict[str, Any]:
        # A conversation is checked at load, not when the first case renders it.
        history = v.get("messages")
        if isinstance(history, list):
            for i, m in enumerate(history):
                history_message(m, f"messages[{i}]")
        return v

    def template_context(self) -> dict[str, Any]:
        """What a prompt template sees: the vars, plus the case itself under `case`."""
        return {**self.vars, "case": {"id": self.id, "segment": self.segment, "tags": self.tags}}


CASE_FIELDS = frozenset(
    ("id", "vars", "expected", "reference", "segment", "tags", "metadata", "tools", "tool_choice")
)


def _row_shape(data: dict[str, Any], path: Path, line: int | None) -> dict[str, Any]:
    """A row as a case: a native case (it has `vars`, or only case fields) as it is; a flat
    or OpenAI-evals row with its other fields moved into `vars` and `ideal` as `expected`.
    A native case's top-level `messages` is its variable `messages` (a flat row's already is)."""
    if "vars" in data and "messages" in data:
        if isinstance(data["vars"], dict) and "messages" in data["vars"]:
            raise ConfigError(
                "`messages` is given twice, at the top and in `vars`: keep one",
                path=path,
                line=line,
                field="messages",
            )
        if isinstance(data["vars"], dict):
            rest = {k: v for k, v in data.items() if k != "messages"}
            data = {**rest, "vars": {**data["vars"], "messages": data["messages"]}}
    if "vars" in data or data.keys() <= CASE_FIELDS:
        return data
    if "ideal" in data and "expected" in data:
        raise ConfigError(
            "a row has both `ideal` (OpenAI evals) and `expected`: keep one",
            path=path,
            line=line,
            field="ideal",
        )
    extra = [k for k in data if k not in CASE_FIELDS and k != "ideal"]
    typo = next((k for k in extra if _near_miss(k, data)), None)
    if typo is not None:
        raise ConfigError(
            f"unknown field {typo!r}: did you mean `{_near_miss(typo, data)}`?",
            path=path,
            line=line,
            field=typo,
            hint="a variable with this name goes under `vars:`",
        )
    out = {k: v for k, v in data.items() if k in CASE_FIELDS}
    if "ideal" in data:
        out["expected"] = data["ideal"]
    out["vars"] = {k: data[k] for k in extra}
    return out


# Which values each case field takes: a flat row's field close to a missing case field's
# name and of its shape (`varz: {...}`, `expect: "x"`) is a typo, not a variable; flat rows
# would otherwise lose the typo protection `extra="forbid"` gives.
_SHAPES: dict[str, type | tuple[type, ...]] = {
    "vars": dict, "metadata": dict, "tags": list, "expected": object,
    "reference": str, "segment": str, "ideal": object, "tools": list,
}  # fmt: skip


def _near_miss(key: str, data: dict[str, Any]) -> str | None:
    names = [n for n in _SHAPES if n not in data and isinstance(data[key], _SHAPES[n])]
    if "ideal" in data:
        names = [n for n in names if n != "expected"]
    close = get_close_matches(key, names, n=1, cutoff=0.75)
    return close[0] if close else None


def _case(data: Any, path: Path, line: int | None, index: int, *, flat: bool = True) -> Case:
    if not isinstance(data, dict):
        raise ConfigError("a case must be a mapping/object", path=path, line=line)
    if flat:
        data = _row_shape(data, path, line)
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
            err["msg"].removeprefix("Value error, ")
            if err["type"] != "extra_forbidden"
            else (
                "unknown field (case fields: id, vars, expected, reference, segment, tags, "
                "metadata, messages, tools, tool_choice; a row with `vars` holds only these, "
                "a row without it makes every other field a variable)"
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
            yield _case(_csv_row(row), path, line, index, flat=False), line
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
