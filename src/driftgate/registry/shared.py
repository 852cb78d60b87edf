"""The registry and live route state on the shared store: the store is the source of truth,
the workspace's state_dir (`.driftgate/`) a working copy of it.

    state/registry/aliases.json                        replaced with If-Match (compare-and-swap)
    state/registry/audit/<counter:012d>.json           one per alias move, create-only
    state/registry/<kind>/<name>/<digest>.json         versions, create-only (content-addressed)
    state/registry/<kind>/<name>/seq/<seq:06d>         claims of sequence numbers, create-only
    state/registry/blobs/<sha256><suffix>              index corpora, create-only
    state/routes/<route>/state.json                    live weights, replaced with If-Match
    state/routes/<route>/history/<counter:012d>.json   one per weights move, create-only

Keys are the local relative paths under `state/`, so `push_state` and `pull_state` (for
`driftgate store migrate`) copy either way. The one key without a local file is the
sequence-number claim: two machines registering different versions of one name at once
would otherwise both take the next `@N`; whoever creates the claim first has it.

A writer reads the object with its ETag, applies its move as without a store (its gate and
its from-pointer check, under this machine's lock), and replaces the object only if it is
still at that ETag; if another machine moved first, the move is tried again on what is
there now, a bounded number of times. Entries that grow a chain (audit, history) are
created under the counter of the state they describe, so the chain has no gap and no
duplicate; the next writer creates the entry of a move whose writer died right after
committing it, as without a store.

Serving processes never wait on the store: a `Refresher` thread per process copies the
watched objects (aliases, a route's state) to their local files when they changed, at
least every `shared_store.staleness_s / 2`, and serving keeps polling the local files.

Copying either way (`driftgate store migrate`): `push_state(store, state_dir)` and
`pull_state(store, state_dir)` copy only the state above: registry versions, blobs, the
alias state with its audit chain, and each route's state with its history; never the
cache or traffic logs that also live under `.driftgate/`. Every object copied is read back and its
sha256 compared with what was sent; versions and blobs are also checked against their
names (digest, sha256), and an alias state against its checksum.

The store is the source of truth: pushing never replaces an alias or route state the store
has (a different one there is left, and its chain with it), and a version already there
under the same digest stays as it is. Pulling replaces the local copies with the store's
(the local audit log and route histories are rebuilt from the store's chains). Both are
idempotent: the count is of objects (or chain entries) actually copied.
"""

from __future__ import annotations

import json
from pathlib import Path

from .._digest import sha256_hex
from ..errors import StorageError
from ..store._atomic import write_atomic
from ..store.objects import ObjectStore
from ._fs import locked
from ._shared import PREFIX, SharedState, mirror, shared_state
from .aliases import AuditEntry, parse_state
from .versions import KINDS, VersionRecord

__all__ = ["SharedState", "pull_state", "push_state", "shared_state"]


# ---- push -----------------------------------------------------------------------------------


def push_state(store: ObjectStore, state_dir: Path) -> int:
    """Copy a workspace's registry and route state (its state_dir) to the store; returns
    how many objects were written (those already there are not counted)."""
    shared = SharedState(store, Path(state_dir))
    reg = shared.state_dir / "registry"
    n = 0
    for kind in KINDS:
        for path in sorted((reg / kind).glob("*/*.json")):
            record = _version(path.read_bytes(), path)
            n += _push_new(shared, path, path.read_bytes())
            _claim(shared, path.parent, record)
    for path in sorted((reg / "blobs").glob("*")):
        if path.is_file() and not path.name.startswith("."):
            data = path.read_bytes()
            if sha256_hex(data) != path.name.partition(".")[0]:
                raise StorageError("registry blob does not match its name (altered?)", path=path)
            n += _push_new(shared, path, data)
    if (reg / "aliases.json").is_file() or (reg / "audit.jsonl").is_file():
        with locked(reg / ".aliases.lock"):
            n += _push_aliases(shared, reg)
    for state in sorted((shared.state_dir / "routes").rglob("state.json")):
        with locked(state.parent / ".lock"):
            n += _push_route(shared, state.parent)
    return n


def _push_new(shared: SharedState, path: Path, data: bytes) -> int:
    """Create one object unless the store has it; 1 when written (and read back equal)."""
    if not shared.create(path, data):
        return 0
    _verify_stored(shared, path, data)
    return 1


def _verify_stored(shared: SharedState, path: Path, data: bytes) -> None:
    blob = shared.get(path)
    if blob is None or sha256_hex(blob.data) != sha256_hex(data):
        where = shared.store.where(shared.key(path))
        raise StorageError(
            f"{where} does not hold what was written (sha256 differs)",
            path=where,
            hint="run the copy again; check the store for another writer",
        )


def _claim(shared: SharedState, folder: Path, record: VersionRecord) -> None:
    """The sequence-number claim of a pushed version (the store's `@N` stays unique)."""
    shared.create(folder / "seq" / f"{record.seq:06d}", record.digest)


def _push_aliases(shared: SharedState, reg: Path) -> int:
    """The alias state and its audit chain, when the store has none (or the same one: a
    re-run creates the entries still missing). Entries go first, so the store never holds a
    state whose chain is incomplete."""
    path = reg / "aliases.json"
    local = path.read_bytes() if path.is_file() else None
    if local is not None:
        parse_state(local, path)  # a corrupt state is not copied: `registry repair` first
    stored = shared.get(path)
    if stored is not None and stored.data != local:
        return 0  # the store's state is the truth; `pull_state` copies it here
    n = 0
    for line in _lines(reg / "audit.jsonl"):
        entry = AuditEntry.model_validate_json(line)
        n += _push_new(shared, reg / "audit" / f"{entry.counter:012d}.json", line)
    if local is not None and stored is None:
        n += _push_new(shared, path, local)
    return n


def _push_route(shared: SharedState, folder: Path) -> int:
    """A route's state and history: history lines become entries 1..N (numbered in order
    and given their counter), the state carries the counter of the last."""
    state_path = folder / "state.json"
    stored = shared.get(state_path)
    lines = _lines(folder / "history.jsonl")
    entries = []
    for i, line in enumerate(lines, 1):
        data = json.loads(line)
        data["counter"] = i
        entries.append(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
    state = json.loads(state_path.read_bytes())
    state["counter"] = len(entries)
    local = json.dumps(state, indent=2, ensure_ascii=False).encode()
    if stored is not None and json.loads(stored.data) != state:
        return 0  # the store's state is the truth
    n = sum(
        _push_new(shared, folder / "history" / f"{i:012d}.json", raw)
        for i, raw in enumerate(entries, 1)
    )
    if stored is None:
        n += _push_new(shared, state_path, local)
    return n


def _lines(path: Path) -> list[bytes]:
    """Whole, parseable JSON lines of a chain file (a torn last line is left out)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in raw.split(b"\n")[:-1]:
        try:
            json.loads(line)
        except ValueError:
            continue
        out.append(line)
    return out


# ---- pull -----------------------------------------------------------------------------------


def pull_state(store: ObjectStore, state_dir: Path) -> int:
    """Copy the store's registry and route state into a workspace's state_dir; returns how
    many objects were copied (those the local copy already held are not counted)."""
    shared = SharedState(store, Path(state_dir))
    chains: dict[Path, dict[int, bytes]] = {}  # local chain file → counter → entry
    singles: list[tuple[Path, bytes]] = []
    for info in store.iter(f"{PREFIX}/"):
        key = info.key
        if not key.startswith((f"{PREFIX}/registry/", f"{PREFIX}/routes/")):
            continue
        path = shared.path_of(key)
        chain = _chain_file(path)
        if chain is None and path.parent.name == "seq" and "." not in path.name:
            continue  # a sequence-number claim: kept in the store only
        blob = store.get(key)
        if blob is None:
            continue  # deleted since the listing
        if chain is not None:
            _check_entry(chain, blob.data, shared.store.where(key))
            chains.setdefault(chain, {})[int(path.stem)] = blob.data.rstrip(b"\n")
        else:
            _check(path, blob.data, shared.store.where(key))
            singles.append((path, blob.data))
    n = 0
    for path, data in singles:
        with locked(_lock_for(path)):
            if mirror(path, data):
                n += 1
            _verify_local(path, data)
    for chain, entries in chains.items():
        with locked(_lock_for(chain)):
            n += _rebuild_chain(chain, entries)
    return n


def _chain_file(path: Path) -> Path | None:
    """The local chain file an entry object belongs to (audit.jsonl, history.jsonl)."""
    if not (path.suffix == ".json" and path.stem.isdigit()):
        return None
    if path.parent.name == "audit" and path.parent.parent.name == "registry":
        return path.parent.parent / "audit.jsonl"
    if path.parent.name == "history":
        return path.parent.parent / "history.jsonl"
    return None


def _lock_for(path: Path) -> Path:
    if path.parent.name == "registry" and path.name in ("aliases.json", "audit.jsonl"):
        return path.parent / ".aliases.lock"
    if path.name in ("state.json", "history.jsonl"):
        return path.parent / ".lock"
    return path.parent / ".pull.lock"


def _check(path: Path, data: bytes, where: str) -> None:
    """What the object's name promises: a version's digest, a blob's sha256, a state's
    checksum."""
    if path.name == "aliases.json" and path.parent.name == "registry":
        parse_state(data, where)
    elif path.parent.name == "blobs":
        if sha256_hex(data) != path.name.partition(".")[0]:
            raise StorageError(f"{where} does not match its name (altered?)", path=where)
    elif path.parent.parent.parent.name == "registry" and path.parent.parent.name in KINDS:
        _version(data, path)
    elif path.name == "state.json":
        json.loads(data)


def _check_entry(chain: Path, data: bytes, where: str) -> None:
    try:
        if chain.name == "audit.jsonl":
            AuditEntry.model_validate_json(data)
        else:
            json.loads(data)
    except ValueError as exc:
        raise StorageError(f"{where} is not a chain entry: {exc}", path=where) from None


def _version(data: bytes, path: Path) -> VersionRecord:
    from .versions import VersionStore

    return VersionStore(path.parent.parent.parent)._parse(data, path)


def _verify_local(path: Path, data: bytes) -> None:
    if sha256_hex(path.read_bytes()) != sha256_hex(data):
        raise StorageError(f"{path} does not hold what was copied (sha256 differs)", path=path)


def _rebuild_chain(path: Path, entries: dict[int, bytes]) -> int:
    """Make the local chain file the store's entries in counter order; the number of
    entries it did not hold before."""
    body = b"".join(entries[c] + b"\n" for c in sorted(entries))
    before = set(_lines(path))
    if path.is_file() and path.read_bytes() == body:
        return 0
    write_atomic(path, body)
    _verify_local(path, body)
    return sum(1 for c in entries if entries[c] not in before)
