"""A response cache on SQLite: a re-run of an unchanged suite costs no calls and ~no time.

The key is the sha256 of the canonical JSON of everything that determines an answer:
model id, api_base, messages, params, response_format, the tools offered and the tool
choice (when there are any) and the repeat index (repeats are distinct samples, so each has
its own entry). For simulator models the ground-truth hint
is part of the key too, because the simulator's answer depends on it.

SQLite in WAL mode lets several processes (parallel CI jobs, a sharded run) read and
write one file safely; `busy_timeout` makes a writer wait for another's short
transaction instead of failing. Writes are batched (one transaction per `batch_size` puts
or `flush_interval_s`, and on `flush()` / `close()`): a commit per put would cost a
filesystem sync each. A put is visible to `get` in the same process at once. Losing the
last unflushed batch to a crash only costs a few repeated calls. Errors are never cached.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from json.encoder import encode_basestring as _json_str  # the escaper of ensure_ascii=False
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import CaseHint, Completion

_FORMAT = "driftgate-cache-v1"  # part of every key: a format change starts a fresh cache
_MAX_PARAMS = 500  # keys per `IN (...)` query, well under SQLite's bound on parameters
# The table (shared with store/shared_cache.py, which merges other machines' answers in).
RESPONSES_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID
"""


def _is_sim(model: str) -> bool:
    return model.startswith("sim/") or model.partition("/")[2].startswith("sim/")


# One encoder for every key: json.dumps with these options builds a new encoder per call.
_KEY_JSON = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode


def cache_key(
    model: str,
    api_base: str | None,
    messages: list[dict[str, Any]],
    params: dict[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
    repeat: int = 0,
    *,
    case: CaseHint | None = None,
    labels: list[str] | None = None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
) -> str:
    """The cache key of one call (hex sha256). Pass `case` for simulator models, the
    request's `labels` (label scoring and classifiers answer from them) and its tools."""
    return KeyBuilder(model, api_base, params, response_format, labels=labels)(
        messages, repeat, case=case, tools=tools, tool_choice=tool_choice
    )


class KeyBuilder:
    """`cache_key` for the many calls of one arm (same model, api_base, params, format).

    The key hashes the canonical JSON of the list `[format, model, api_base, messages,
    params, response_format, repeat(, case hint)]`. The JSON of a list is its items' JSON
    joined by commas, so the parts an arm shares are encoded once here and each call
    encodes only its messages, repeat and hint: the same bytes, so the same key, at a
    fraction of the cost on a cached re-run.
    """

    __slots__ = ("_head", "_middle", "_sim", "_tail")

    def __init__(
        self,
        model: str,
        api_base: str | None,
        params: dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None,
        *,
        labels: list[str] | None = None,
    ) -> None:
        self._head = f"[{_KEY_JSON(_FORMAT)},{_KEY_JSON(model)},{_KEY_JSON(api_base)},"
        self._middle = f",{_KEY_JSON(params or {})},{_KEY_JSON(response_format)},"
        self._sim = _is_sim(model)
        # A provider may answer from the label set (label scoring, a classifier's vote), so
        # it is part of the key; requests without one keep the keys they always had.
        self._tail = "" if labels is None else "," + _KEY_JSON({"labels": labels})

    def __call__(
        self,
        messages: list[dict[str, Any]],
        repeat: int = 0,
        *,
        case: CaseHint | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> str:
        raw = self._head + _messages_json(messages) + self._middle
        raw += str(repeat) if type(repeat) is int else _KEY_JSON(repeat)  # int: its JSON is str()
        if case is not None and self._sim:
            raw += "," + _KEY_JSON(
                [case.id, case.expected, case.segment, case.labels, case.output_type]
            )
        if tools is not None or tool_choice is not None:
            # Per case (a case may add tools); calls without tools keep the keys they had.
            raw += "," + _KEY_JSON({"tool_choice": tool_choice, "tools": tools})
        return hashlib.sha256((raw + self._tail + "]").encode()).hexdigest()


def _messages_json(messages: list[dict[str, Any]]) -> str:
    """`_KEY_JSON(messages)` for the usual role/content messages, without the general encoder."""
    parts = []
    for m in messages:
        if type(m) is not dict or len(m) != 2:
            return _KEY_JSON(messages)
        content, role = m.get("content"), m.get("role")
        if type(content) is not str or type(role) is not str:
            return _KEY_JSON(messages)
        # sort_keys: "content" before "role".
        parts.append(f'{{"content":{_json_str(content)},"role":{_json_str(role)}}}')
    return "[" + ",".join(parts) + "]"


def _encode(c: Completion) -> str:
    return json.dumps(
        [
            c.text,
            c.input_tokens,
            c.output_tokens,
            c.cost_usd,
            c.latency_ms,
            c.model,
            c.fingerprint,
            c.finish_reason,
            c.label_probs,  # entries written before it have 8 items and still decode
            c.tool_calls,  # entries written before it have 9 items and still decode
            c.token_logprobs,  # last: entries written before it have 10 items and still decode
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _decode(value: str) -> Completion:
    text, in_tok, out_tok, cost, latency, model, fingerprint, finish, *rest = json.loads(value)
    return Completion(
        text=text,
        input_tokens=in_tok,
        output_tokens=out_tok,
        cost_usd=cost,
        latency_ms=latency,
        model=model,
        fingerprint=fingerprint,
        finish_reason=finish,
        cached=True,
        label_probs=rest[0] if rest else None,
        tool_calls=rest[1] if len(rest) > 1 else None,
        token_logprobs=rest[2] if len(rest) > 2 else None,
    )


def _open(path: Path, attempts: int = 8) -> sqlite3.Connection:
    """Connect and set WAL mode and the schema. Two processes creating the same new file at
    once can get SQLITE_BUSY from the journal-mode switch without SQLite's busy handler being
    consulted (it needs an exclusive lock), so a locked database is retried with backoff."""
    for attempt in range(attempts):
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(RESPONSES_SCHEMA)
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * 2**attempt)
        except BaseException:
            conn.close()
            raise
    raise AssertionError("unreachable")


class ResponseCache:
    """`get(key)` / `put(key, completion)` over one SQLite file shared by processes.

    A hit keeps the original call's tokens, cost and latency (what the answer cost when it
    was made) and has `cached=True`, so reports can tell saved calls apart.
    """

    def __init__(
        self, path: Path | str, *, batch_size: int = 256, flush_interval_s: float = 2.0
    ) -> None:
        self.path = Path(path)
        self.batch_size = max(1, batch_size)
        self.flush_interval_s = flush_interval_s
        self.hits = 0
        self.misses = 0
        self._pending: dict[str, str] = {}
        self._last_flush = time.monotonic()
        # The engine calls from one event loop; the lock covers use from worker threads.
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = _open(self.path)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise ConfigError(
                f"cannot open the response cache: {exc}",
                path=self.path,
                hint="delete the file to start a fresh cache, or run with --no-cache",
            ) from None
        self._conn: sqlite3.Connection | None = conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"response cache {self.path} is closed")
        return self._conn

    def get(self, key: str) -> Completion | None:
        """The cached completion (with cached=True), or None."""
        with self._lock:
            value = self._pending.get(key)
            if value is None:
                row = (
                    self._db()
                    .execute("SELECT value FROM responses WHERE key = ?", (key,))
                    .fetchone()
                )
                value = row[0] if row else None
        if value is not None:
            try:
                completion = _decode(value)
            except (ValueError, TypeError):
                completion = None  # a damaged entry is a miss; the next put replaces it
            if completion is not None:
                self.hits += 1
                return completion
        self.misses += 1
        return None

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        """`get` for many keys in a few queries: {key: completion} for the keys cached.

        Hits and misses are counted per key, as `get` counts them.
        """
        values: dict[str, str] = {}
        with self._lock:
            missing = []
            for key in keys:
                value = self._pending.get(key)
                if value is not None:
                    values[key] = value
                else:
                    missing.append(key)
            db = self._db()
            for start in range(0, len(missing), _MAX_PARAMS):
                chunk = missing[start : start + _MAX_PARAMS]
                marks = ",".join("?" * len(chunk))
                values.update(
                    db.execute(f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk)
                )
        found: dict[str, Completion] = {}
        for key, value in values.items():
            try:
                found[key] = _decode(value)
            except (ValueError, TypeError):
                pass  # a damaged entry is a miss, as in `get`
        hits = sum(1 for key in keys if key in found)
        self.hits += hits
        self.misses += len(keys) - hits
        return found

    def put(self, key: str, completion: Completion) -> None:
        """Store a successful completion (written with the next batch)."""
        if not isinstance(completion, Completion):
            raise TypeError(f"only completions are cached, not {type(completion).__name__}")
        if completion.cached:
            return  # already stored
        with self._lock:
            self._pending[key] = _encode(completion)
            due = (
                len(self._pending) >= self.batch_size
                or time.monotonic() - self._last_flush >= self.flush_interval_s
            )
        if due:
            self.flush()

    def put_many(self, items: Iterable[tuple[str, Completion]]) -> None:
        for key, completion in items:
            self.put(key, completion)
        self.flush()

    def flush(self) -> None:
        """Write pending entries in one transaction."""
        with self._lock:
            if not self._pending:
                self._last_flush = time.monotonic()
                return
            rows = [(k, v, time.time()) for k, v in self._pending.items()]
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)", rows
                )
                db.execute("COMMIT")
            except sqlite3.OperationalError:
                # Locked past busy_timeout by another process: keep the batch for later.
                if db.in_transaction:
                    db.execute("ROLLBACK")
                self._last_flush = time.monotonic()
                return
            self._pending.clear()
            self._last_flush = time.monotonic()

    def __len__(self) -> int:
        self.flush()
        with self._lock:
            return int(self._db().execute("SELECT count(*) FROM responses").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._db().execute("DELETE FROM responses")

    def close(self) -> None:
        """Flush and close; safe to call twice."""
        if self._conn is None:
            return
        try:
            self.flush()
        finally:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
