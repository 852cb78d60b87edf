"""Replay: serve outputs recorded elsewhere, so they are scored, compared and gated like a run.

Outputs produced by another tool, a notebook or production logs go in a JSONL or CSV file
inside the workspace, one row per answer:

    {"case_id": "t-001", "output": "groceries", "model": "gpt-4o", "repeat": 0,
     "latency_ms": 412, "cost_usd": 0.00031, "input_tokens": 52, "output_tokens": 1}

Only `case_id` (or `id`) and `output` are required. An answer that called tools has
`tool_calls` (OpenAI's `message.tool_calls`, or `[{name, arguments}]`; in CSV, that list as
JSON text) and may leave `output` out. CSV files use the same column names
(empty cells are missing values: a missing latency or cost is recorded as missing, not 0).
The column naming the model is `model`, or another one named with `?model_column=NAME`
(`params: {model_column: NAME}`, `driftgate run --model-column NAME`), so a published
file of several models' answers loads as it is. A suite names the file as a model:

    models:
      - replay/outputs/prod.jsonl                     # the file's only model
      - replay/outputs/prod.jsonl?model=gpt-4o        # one recorded model of several
      - {id: replay/outputs/prod.jsonl, label: gpt-4o}  # the label picks it too

The path is relative to the workspace root and must stay inside it. The recorded model is
chosen by `?model=`, else `params: {model: ...}` of the model config, else the label when
the file has a model of that name, else the file's only model. Rows are keyed by
(model, case id, repeat); a case with no recorded answer fails with a `bad_request`
provider error (recorded as an error, never a pass). Each recorded model's fingerprint is a
digest of its own rows, so two models of one file are two model versions to drift checks,
and editing one model's rows changes only its fingerprint.

The engine passes no workspace to providers, so the workspace comes from `use_workspace`
(set by `compare_suite`) or is found from the current folder / DRIFTGATE_WORKSPACE.
Each file is read and indexed once per process (re-read when it changes on disk).
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from pydantic import Field, ValidationError, field_validator, model_validator

from .._files import format_loc
from .._strict import Strict
from .._tools import normalize_calls
from ..errors import ConfigError
from ..workspace import Workspace
from .base import Completion, CompletionRequest, ModelConfig, Provider, ProviderError

_CURRENT_WORKSPACE: ContextVar[Workspace | None] = ContextVar(
    "driftgate_replay_workspace", default=None
)
_QUERY_KEYS = {"model", "model_column"}


class ReplayRow(Strict):
    """One recorded answer."""

    case_id: str = Field(min_length=1)
    output: str
    tool_calls: list[dict[str, Any]] | None = Field(
        None, description="The tool calls the model made: [{id?, name, arguments}]."
    )
    model: str | None = None
    repeat: int = Field(0, ge=0)
    latency_ms: float | None = Field(None, ge=0)
    cost_usd: float | None = Field(None, ge=0)
    input_tokens: int | None = Field(None, ge=0)
    output_tokens: int | None = Field(None, ge=0)
    finish_reason: str | None = Field(
        None, description="The provider's, as it gave it (`finish-reason` compares it as is)."
    )
    metadata: dict[str, Any] | None = Field(None, description="Free-form; ignored by driftgate.")

    @field_validator("tool_calls", mode="before")
    @classmethod
    def _calls(cls, v: Any) -> Any:
        if isinstance(v, str):  # a CSV cell
            try:
                v = json.loads(v)
            except json.JSONDecodeError as exc:
                raise ValueError(f"tool_calls is not JSON: {exc.msg}") from None
        if v is not None and not isinstance(v, list):
            raise ValueError("tool_calls must be a list of calls")
        return normalize_calls(v)

    @model_validator(mode="before")
    @classmethod
    def _calls_are_an_answer(cls, data: Any) -> Any:
        # An answer that only called tools has no text: its output is "" (as OpenAI's null).
        if isinstance(data, dict) and "output" not in data and data.get("tool_calls"):
            return {**data, "output": ""}
        return data


@dataclass(frozen=True, slots=True)
class ReplayIndex:
    path: Path
    digest: str
    rows: dict[tuple[str | None, str, int], ReplayRow]
    models: list[str | None]  # distinct models in file order (None: rows without a model)
    fingerprints: dict[str | None, str]  # per model: a digest of its rows


@contextmanager
def use_workspace(workspace: Workspace) -> Iterator[None]:
    """Resolve replay paths against `workspace` inside this block (and tasks it starts)."""
    token = _CURRENT_WORKSPACE.set(workspace)
    try:
        yield
    finally:
        _CURRENT_WORKSPACE.reset(token)


def parse_model_id(model_id: str) -> tuple[str, dict[str, str]]:
    """`replay/PATH?model=X` → (PATH, {"model": "X"}); unknown query keys are an error."""
    _, _, rest = model_id.partition("/")
    path, _, query = rest.partition("?")
    if not path:
        raise ConfigError(
            f"replay model {model_id!r} names no file",
            field="models.id",
            hint="e.g. replay/outputs.jsonl",
        )
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(params) - _QUERY_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown option {unknown[0]!r} in {model_id!r}; valid: model, model_column",
            field="models.id",
        )
    return path, params


_CACHE: dict[tuple[Path, str], tuple[tuple[int, int], ReplayIndex]] = {}
_LOCK = threading.Lock()


def load_index(path: Path, model_column: str = "model") -> ReplayIndex:
    """Read and index a replay file (its model named by `model_column`); cached while the
    file's size and mtime are unchanged."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError("replay file not found", path=path) from None
    stamp = (st.st_mtime_ns, st.st_size)
    with _LOCK:
        hit = _CACHE.get((path, model_column))
        if hit is not None and hit[0] == stamp:
            return hit[1]
        index = _read(path, model_column)
        _CACHE[(path, model_column)] = (stamp, index)
        return index


def _row_fields(raw: Any, model_column: str, path: Path, line: int) -> Any:
    """The row with `id` read as `case_id` and `model_column` as `model`."""
    if not isinstance(raw, dict):
        return raw  # validation names it
    if model_column != "model" and model_column not in raw:
        raise ConfigError(
            f"the row has no model column {model_column!r}",
            path=path,
            line=line,
            hint="name the column that holds the model with model_column / --model-column",
        )
    for alias, name in (("id", "case_id"), (model_column, "model")):
        if alias == name or alias not in raw:
            continue
        if name in raw:
            raise ConfigError(
                f"a row has both `{alias}` and `{name}`: which is it?",
                path=path,
                line=line,
                field=alias,
                hint="keep one" if name == "case_id" else f"drop `{name}` or the model column",
            )
        raw = {(name if k == alias else k): v for k, v in raw.items()}
    if isinstance(raw.get("case_id"), int) and not isinstance(raw["case_id"], bool):
        raw["case_id"] = str(raw["case_id"])  # golden-set ids may be integers too
    if raw.get("model") is not None and not isinstance(raw["model"], str):
        raw["model"] = str(raw["model"])
    return raw


def _read(path: Path, model_column: str = "model") -> ReplayIndex:
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise ConfigError(
            f"replay files are .jsonl or .csv, not {suffix or 'no extension'!r}", path=path
        )
    data = path.read_bytes()
    rows: dict[tuple[str | None, str, int], ReplayRow] = {}
    lines: dict[tuple[str | None, str, int], int] = {}
    models: dict[str | None, None] = {}
    digests: dict[str | None, Any] = {}
    for line, raw in _records(path, data, suffix):
        raw = _row_fields(raw, model_column, path, line)
        try:
            row = ReplayRow.model_validate(raw)
        except ValidationError as exc:
            # An unknown field first: a misspelt `ouput` also makes `output` missing.
            errs = exc.errors()
            err = next((e for e in errs if e["type"] == "extra_forbidden"), errs[0])
            msg = (
                "unknown field (replay fields: "
                + ", ".join(ReplayRow.model_fields)
                + "; `id` for case_id)"
                if err["type"] == "extra_forbidden"
                else err["msg"]
            )
            raise ConfigError(
                msg, path=path, line=line, field=format_loc(tuple(err["loc"]))
            ) from None
        key = (row.model, row.case_id, row.repeat)
        if key in rows:
            raise ConfigError(
                f"case {row.case_id!r} (model {row.model!r}, repeat {row.repeat}) is recorded twice; "
                f"first on line {lines[key]}",
                path=path,
                line=line,
                field="case_id",
            )
        rows[key] = row
        lines[key] = line
        models.setdefault(row.model, None)
        # Rows without tool calls or a finish reason hash as before those fields existed.
        unset = {k for k in ("tool_calls", "finish_reason") if getattr(row, k) is None}
        digests.setdefault(row.model, hashlib.sha256()).update(
            row.model_dump_json(exclude=unset or None).encode() + b"\n"
        )
    if not rows:
        raise ConfigError("replay file has no rows", path=path)
    fingerprints = {m: h.hexdigest()[:12] for m, h in digests.items()}
    return ReplayIndex(
        path, hashlib.sha256(data).hexdigest()[:12], rows, list(models), fingerprints
    )


def _records(path: Path, data: bytes, suffix: str) -> Iterator[tuple[int, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", path=path) from None
    if suffix == ".jsonl":
        from .._files import iter_json_objects

        yield from iter_json_objects(text.splitlines(), path, what="a row")
        return
    reader = csv.DictReader(text.splitlines(keepends=True))
    if not reader.fieldnames:
        raise ConfigError("CSV file has no header row", path=path, line=1)
    for row in reader:
        if None in row:
            raise ConfigError("row has more cells than the header", path=path, line=reader.line_num)
        # An empty cell is a missing value, except for the output (an empty answer).
        yield reader.line_num, {k: v for k, v in row.items() if v != "" or k == "output"}


class ReplayProvider(Provider):
    """Serves recorded outputs; see the module docstring."""

    # The answers are already on disk, keyed by case id (which the engine's cache key does
    # not include), and change when the file does: the response cache must skip them.
    cacheable = False

    def __init__(self, config: ModelConfig, *, workspace: Workspace | None = None) -> None:
        super().__init__(config)
        rel, query = parse_model_id(config.id)
        ws = workspace or _CURRENT_WORKSPACE.get() or Workspace.find()
        column = query.get("model_column") or config.params.get("model_column") or "model"
        self.index = load_index(ws.inside(rel, what="replay file"), str(column))
        self.model = self._choose_model(query)

    def _choose_model(self, query: dict[str, str]) -> str | None:
        recorded = self.index.models
        wanted = query.get("model") or self.config.params.get("model")
        if wanted is not None:
            if wanted not in recorded:
                raise ConfigError(
                    f"model {wanted!r} is not recorded in the replay file; recorded: {_names(recorded)}",
                    path=self.index.path,
                    field="model",
                )
            return str(wanted)
        if self.config.label is not None and self.config.label in recorded:
            return self.config.label
        if len(recorded) == 1:
            return recorded[0]
        raise ConfigError(
            f"the replay file records several models ({_names(recorded)}); choose one",
            path=self.index.path,
            field="model",
            hint=f"e.g. {self.config.id.partition('?')[0]}?model={next(m for m in recorded if m)}",
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        if request.case is None:
            raise ProviderError("bad_request", "replay needs the case id; it only serves eval runs")
        key = (self.model, request.case.id, request.case.repeat)
        row = self.index.rows.get(key)
        if row is None:
            which = f" for model {self.model!r}" if self.model is not None else ""
            raise ProviderError(
                "bad_request",
                f"no recorded output for case {request.case.id!r}{which}, repeat {request.case.repeat}, "
                f"in {self.index.path.name}",
            )
        return Completion(
            text=row.output,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cost_usd=row.cost_usd,
            latency_ms=row.latency_ms,  # None when not recorded: unknown, not instant
            model=row.model,
            # This model's rows: another model of the file is another "model version", and
            # a changed answer makes a new one, as drift checks expect.
            fingerprint=f"replay-{self.index.fingerprints[self.model]}",
            finish_reason=row.finish_reason or ("tool_calls" if row.tool_calls else "stop"),
            tool_calls=row.tool_calls,  # normalized: {id, name, arguments}
        )


def _names(models: list[str | None]) -> str:
    return ", ".join("(no model)" if m is None else repr(m) for m in models)
