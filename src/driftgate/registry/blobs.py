"""Content-addressed file contents kept by the registry: the corpus bytes of index versions.

    .driftgate/registry/blobs/<sha256><suffix>     e.g. 3f2a…e9.jsonl

An index version's digest covers its corpus file's sha256, but the corpus itself lives in
the workspace and moves on (a retrain extends it, a person edits it). Keeping the bytes
here, under their own hash, lets any registered index version be rebuilt after the file
changed. The suffix is kept because it tells the corpus reader the format. A blob is
written once (temp file + rename), never rewritten, and verified when read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .._digest import sha256_hex
from ..errors import ConfigError
from ..store._atomic import write_atomic

if TYPE_CHECKING:
    from ._shared import SharedState

_SUFFIXES = (".jsonl", ".json", ".yaml", ".yml", ".csv")


def blobs_dir(registry_root: Path) -> Path:
    return Path(registry_root) / "blobs"


def _suffix(suffix: str) -> str:
    suffix = suffix.lower()
    if suffix not in _SUFFIXES:
        raise ConfigError(
            f"unsupported corpus format {suffix!r}", hint="use .jsonl, .json, .yaml or .csv"
        )
    return suffix


def blob_path(registry_root: Path, sha256: str, suffix: str) -> Path:
    return blobs_dir(registry_root) / f"{sha256}{_suffix(suffix)}"


def store_blob(
    registry_root: Path, data: bytes, suffix: str, shared: SharedState | None = None
) -> tuple[str, Path]:
    """Keep `data` under its sha256 (once); returns (sha256, path). With a shared store it
    is created there too (already there: the same bytes, by its name)."""
    sha = sha256_hex(data)
    path = blob_path(registry_root, sha, suffix)
    if shared is not None:
        shared.create(path, data)
    if not path.is_file():
        write_atomic(path, data)
    return sha, path


def store_file(
    registry_root: Path,
    source: Path,
    sha256: str | None = None,
    shared: SharedState | None = None,
) -> Path:
    """Keep a file's bytes; `sha256` (when the caller hashed it already) is checked."""
    data = Path(source).read_bytes()
    sha, path = store_blob(registry_root, data, Path(source).suffix, shared)
    if sha256 is not None and sha != sha256:
        raise ConfigError(
            f"changed while being registered (sha256 {sha256[:12]}… → {sha[:12]}…)",
            path=source,
            hint="register it again",
        )
    return path


def read_blob(
    registry_root: Path, sha256: str, suffix: str, shared: SharedState | None = None
) -> Path:
    """The path of a stored blob, verified against its name (with a shared store: copied
    from it when missing here)."""
    path = blob_path(registry_root, sha256, suffix)
    if not path.is_file() and shared is not None:
        blob = shared.get(path)
        if blob is not None and sha256_hex(blob.data) == sha256:
            write_atomic(path, blob.data)
    if not path.is_file():
        raise ConfigError(
            f"the registry has no stored corpus {sha256[:12]}… ({path})",
            hint="index versions registered before corpora were kept cannot be rebuilt once "
            "their corpus file changed; restore the file, or register a new version",
        )
    if sha256_hex(path.read_bytes()) != sha256:
        raise ConfigError("stored corpus does not match its hash (altered?)", path=path)
    return path
