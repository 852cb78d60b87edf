"""Scorers of JSON output: validity (optionally against a JSON Schema) and values at a path.

    - {type: json-valid, schema: {type: object, required: [category]}}
    - {type: json-path, path: $.items[0].sku, value: "A-100"}
    - {type: json-path, path: category}          # compares with the case's expected answer

Paths are a small dotted/bracket subset of JSONPath, resolved without a dependency:
`$.a.b[0]`, `a.b.0`, `$["key with spaces"]`, `items[-1]`. No wildcards or filters.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field, PrivateAttr, field_validator, model_validator

from ._common import OutputScorer, loose_equal, option_error, render, short, verdict
from .base import Score, ScoreContext, ScorerConfig, scorer
from .parsing import compile_schema, extract_json

PathPart = str | int

_TOKEN = re.compile(
    r"""\.?(?P<name>[^.\[\]'"\s][^.\[\]]*)      # .name or a bare first name
      | \[\s*(?P<index>-?\d+)\s*\]            # [0], [-1]
      | \[\s*(?P<q>['"])(?P<key>.*?)(?P=q)\s*\] # ['key'], ["key"]
    """,
    re.VERBOSE,
)


def parse_path(path: str) -> tuple[PathPart, ...]:
    """`$.a.b[0]` → ("a", "b", 0). Raises ValueError naming the offending position."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    parts: list[PathPart] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read JSON path {path!r} at {text[pos:]!r}")
        if m.group("name") is not None:
            name = m.group("name").strip()
            # a.b.0: a digit segment is an index for a list, a key for a mapping (resolve decides)
            parts.append(name)
        elif m.group("index") is not None:
            parts.append(int(m.group("index")))
        else:
            parts.append(m.group("key"))
        pos = m.end()
    return tuple(parts)


_MISSING = object()


def resolve_path(doc: Any, parts: tuple[PathPart, ...]) -> Any:
    """The value at `parts` in `doc`, or the module's `_MISSING` sentinel when absent."""
    node = doc
    for part in parts:
        if isinstance(node, dict):
            key = str(part) if isinstance(part, int) else part
            if key not in node:
                return _MISSING
            node = node[key]
        elif isinstance(node, list):
            if isinstance(part, str):
                if not re.fullmatch(r"-?\d+", part):
                    return _MISSING
                part = int(part)
            if not -len(node) <= part < len(node):
                return _MISSING
            node = node[part]
        else:
            return _MISSING
    return node


def _json_of(ctx: ScoreContext) -> tuple[Any, str | None]:
    """The output's JSON value: the prompt's parse when it was JSON, else extracted now."""
    if ctx.parsed is not None and not isinstance(ctx.parsed, str):
        return ctx.parsed, None
    return extract_json(ctx.output if ctx.output is not None else str(ctx.parsed))


@scorer("json-valid")
class JsonValid(OutputScorer):
    """The output is JSON (in a ```json fence or after prose too, unless `strict`), and
    valid against `schema` when given. A schema error the prompt's own parser reported
    also fails it."""

    class Config(ScorerConfig):
        json_schema: dict[str, Any] | None = Field(None, alias="schema")
        strict: bool = Field(
            False, description="The whole output must be JSON: no fences or prose."
        )

        _check: Any = PrivateAttr(None)

        @field_validator("json_schema")
        @classmethod
        def _valid_schema(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
            if v is not None:
                try:
                    compile_schema(v)
                except ValueError as exc:
                    raise option_error(str(exc)) from None
            return v

        @model_validator(mode="after")
        def _compile(self) -> JsonValid.Config:
            if self.json_schema is not None:
                self._check = compile_schema(self.json_schema)
            return self

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        if self.config.strict:
            try:
                doc = json.loads((ctx.output or "").strip())
            except json.JSONDecodeError as exc:
                return verdict(
                    False, f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
                )
        else:
            doc, error = _json_of(ctx)
            if error is not None:
                return verdict(False, error)
        if self.config._check is not None:
            problem = self.config._check(doc)
            if problem is not None:
                return verdict(False, problem)
        elif ctx.parse_error and ctx.parsed is not None:
            return verdict(False, ctx.parse_error)  # the prompt's schema rejected it
        return verdict(True, "valid JSON" + (" matching the schema" if self.config._check else ""))


@scorer("json-path")
class JsonPath(OutputScorer):
    """The value at `path` in the JSON output equals `value` (default: the case's expected
    answer; with neither, the path merely has to exist). `"42"` equals `42`, so CSV golden
    sets work."""

    class Config(ScorerConfig):
        path: str
        value: Any = None

        _parts: tuple[PathPart, ...] = PrivateAttr(())

        @field_validator("path")
        @classmethod
        def _readable(cls, v: str) -> str:
            try:
                parse_path(v)
            except ValueError as exc:
                raise option_error(str(exc)) from None
            return v

        @model_validator(mode="after")
        def _compile(self) -> JsonPath.Config:
            self._parts = parse_path(self.path)
            return self

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        doc, error = _json_of(ctx)
        if error is not None:
            return verdict(False, f"output is not JSON: {error}")
        got = resolve_path(doc, self.config._parts)
        path = self.config.path
        if got is _MISSING:
            return verdict(False, f"nothing at {path}")
        want = render(self.config.value, ctx) if self.config.value is not None else ctx.expected
        shown = short(json.dumps(got, ensure_ascii=False))
        if want is None:
            return verdict(True, f"{path} = {shown}")
        ok = loose_equal(got, want)
        reason = f"{path} = {shown}" + (
            "" if ok else f", expected {short(json.dumps(want, ensure_ascii=False))}"
        )
        return verdict(ok, reason)
