"""The response cache shared through the store: a CI runner or a teammate's laptop reuses
every answer another machine already paid for.

    cache/responses/<stamp>-<host>-<pid>.jsonl.gz   one immutable part per push:
                                                    [key, value, created] per line

Each machine keeps its SQLite cache (providers/cache.py) and, beside its `responses`
table, a ledger of what it exchanged: the parts it has merged (`shared_parts`), the keys it
got from them (`shared_keys`, never pushed back) and the time up to which it pushed its own
entries (`shared_meta`). A run pulls the parts it has not merged before it starts and pushes
the entries it made when it ends. Keys are digests of the whole request, so merging is
`INSERT OR IGNORE`: two machines that made the same call hold the same answer's key, and
the first answer kept wins, as within one machine.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import sqlite3
import time
from pathlib import Path

from ..errors import StorageError
from ..providers.cache import RESPONSES_SCHEMA
from .objects import ObjectExists, ObjectStore

PREFIX = "cache/responses/"
_LEDGER = """
CREATE TABLE IF NOT EXISTS shared_parts (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shared_keys (key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shared_meta (name TEXT PRIMARY KEY, value REAL) WITHOUT ROWID;
"""


def _connect(db_path: Path) -> sqlite3.Connection:
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(db_path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute(RESPONSES_SCHEMA)
        conn.executescript(_LEDGER)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise StorageError(
            f"cannot open the response cache {db_path}: {exc}",
            path=db_path,
            hint="delete the file to start a fresh cache",
        ) from None
    return conn


def pull_cache(store: ObjectStore, db_path: Path) -> int:
    """Merge the parts other machines pushed since the last pull; entries added."""
    conn = _connect(db_path)
    try:
        merged = {row[0] for row in conn.execute("SELECT name FROM shared_parts")}
        added = 0
        for info in store.list(PREFIX):
            name = info.key[len(PREFIX) :]
            if name in merged:
                continue
            blob = store.get(info.key)
            if blob is None:
                continue
            try:
                rows = [json.loads(line) for line in gzip.decompress(blob.data).splitlines()]
            except (OSError, ValueError):
                raise StorageError(
                    f"{store.where(info.key)} is not a response-cache part",
                    path=store.where(info.key),
                    hint="delete that object; the answers in it are asked again when needed",
                ) from None
            conn.execute("BEGIN IMMEDIATE")
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO responses (key, value, created) VALUES (?, ?, ?)", rows
            )
            added += conn.total_changes - before
            conn.executemany(
                "INSERT OR IGNORE INTO shared_keys (key) VALUES (?)", ((r[0],) for r in rows)
            )
            conn.execute("INSERT OR IGNORE INTO shared_parts (name) VALUES (?)", (name,))
            conn.execute("COMMIT")
        return added
    finally:
        conn.close()


def push_cache(store: ObjectStore, db_path: Path) -> int:
    """Push this machine's entries made since its last push as one part; entries pushed."""
    if not db_path.exists():
        return 0
    conn = _connect(db_path)
    try:
        row = conn.execute("SELECT value FROM shared_meta WHERE name = 'pushed_until'").fetchone()
        since = row[0] if row else 0.0
        until = time.time()
        rows = conn.execute(
            "SELECT key, value, created FROM responses WHERE created > ? AND created <= ? "
            "AND key NOT IN (SELECT key FROM shared_keys) ORDER BY created",
            (since, until),
        ).fetchall()
        if rows:
            body = "".join(json.dumps(list(r), ensure_ascii=False) + "\n" for r in rows)
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(until))
            name = f"{stamp}-{socket.gethostname()}-{os.getpid()}-{int(until * 1e6) % 10**6:06d}"
            try:
                store.put(f"{PREFIX}{name}.jsonl.gz", gzip.compress(body.encode()), create=True)
            except ObjectExists:
                pass  # the same part from this process and instant: already there
            conn.execute(
                "INSERT OR IGNORE INTO shared_parts (name) VALUES (?)", (f"{name}.jsonl.gz",)
            )
        conn.execute(
            "INSERT OR REPLACE INTO shared_meta (name, value) VALUES ('pushed_until', ?)", (until,)
        )
        return len(rows)
    finally:
        conn.close()
