"""Content digests: the identity of a version is the hash of its normalized content."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(data: Any, length: int = 12) -> str:
    """sha256 of the canonical JSON form, shortened; stable across key order and whitespace."""
    raw = data if isinstance(data, (bytes, str)) else canonical_json(data)
    if isinstance(raw, str):
        raw = raw.encode()
    return hashlib.sha256(raw).hexdigest()[:length]


def sha256_hex(data: bytes) -> str:
    """The full sha256 of raw bytes (copies and stored files are checked with it)."""
    return hashlib.sha256(data).hexdigest()
