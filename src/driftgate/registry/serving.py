"""The serving read path: what does `production` point to right now?

    from driftgate import resolve
    art = resolve("prompt/categorize")              # alias production by default
    art = resolve("prompt/categorize@candidate")    # or an alias / `@N` / `@DIGEST` in the ref
    art.definition.render({...}), art.seq, art.digest

Reads two small files — the alias state and one immutable version file — and nothing else:
no database, no lock, no write, so any number of application processes can call it. A
`Resolver` keeps the parsed state keyed by the state file's (mtime_ns, size, inode) and
re-reads it when that changes (one `stat` per call), so a rollback made by another process
is seen on the very next call, without a restart. Version files never change, so each is
read and verified once per process.

With a shared store (`store:`), a refresher thread (refresh.py) copies the store's alias
state to the local file within `shared_store.staleness_s` (the versions it points to
first), so a move made on another machine is seen here within that bound; resolving still
reads only local files.

If the state file turns out corrupt while a process is serving, the resolver keeps serving
the last state it verified (with a warning) rather than failing every request; without a
verified state it raises `StateCorrupted`.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..workspace import Workspace
from ._shared import shared_state
from .aliases import PRODUCTION, AliasState, StateCorrupted, parse_state
from .kinds import prompt_of, rebuild
from .refresh import Refresher
from .versions import VersionNotFound, VersionRecord, VersionStore, is_digest_like, parse_ref

RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class ResolvedArtifact:
    kind: str
    name: str
    alias: str | None
    seq: int
    digest: str
    created_at: float
    source: str | None
    definition: Any  # Prompt | FewShotSet | IndexVersion | RouteSpec
    record: VersionRecord

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}@{self.seq}"


class Resolver:
    """Cached, lock-free resolution of aliases and versions for one workspace."""

    def __init__(self, workspace: Workspace | Path | str | None = None) -> None:
        ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
        self.root = ws.state_dir / "registry"
        self.state_path = self.root / "aliases.json"
        shared = shared_state(ws)
        self._versions = VersionStore(self.root, shared=shared)
        self._lock = threading.Lock()
        self._state_key: tuple[int, int, int] | None = None
        self._state: AliasState | None = None
        self._by_digest: dict[tuple[str, str, str], ResolvedArtifact] = {}
        # With a shared store a thread copies the store's alias state here within its
        # staleness bound; resolving keeps reading the local file (one `stat` per call).
        self.refresher = Refresher.watch(shared, [self.state_path]) if shared else None

    def state(self) -> AliasState:
        """The alias state, re-read only when the file changed since the last call."""
        try:
            st = os.stat(self.state_path)
        except FileNotFoundError:
            return AliasState()
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        # Two writes within one timestamp tick can leave (mtime, size, inode) unchanged
        # (rename frees an inode the next temp file may reuse), so a file modified in the
        # last RACY_NS is re-read anyway, as git does for its index: correctness first,
        # and the file is small.
        racy = time.time_ns() - st.st_mtime_ns < RACY_NS
        with self._lock:
            if key == self._state_key and self._state is not None and not racy:
                return self._state
            try:
                state = parse_state(self.state_path.read_bytes(), self.state_path)
            except FileNotFoundError:
                return AliasState()
            except StateCorrupted as exc:
                if self._state is None:
                    raise
                warnings.warn(f"{exc.message}; serving the last verified state", stacklevel=3)
                return self._state
            self._state_key, self._state = key, state
            return state

    def resolve(self, target: str, alias: str | None = None) -> ResolvedArtifact:
        """`KIND/NAME` (kind defaults to prompt) at `alias` (default production), or a ref
        with its own selector: `prompt/cat@candidate`, `prompt/cat@3`, `prompt/cat@1a2b`."""
        ref = parse_ref(target)
        if ref.selector is not None and alias is not None:
            raise VersionNotFound(f"{target!r} already names a version; drop alias={alias!r}")
        selector = ref.selector or alias or PRODUCTION
        aliases = self.state().of(ref.target)
        if selector in aliases:
            return self._load(ref.kind, ref.name, aliases[selector], selector)
        if not selector.isdigit() and not is_digest_like(selector):
            known = ", ".join(sorted(aliases)) or "none"
            raise VersionNotFound(
                f"{ref.target} has no alias {selector!r} (its aliases: {known})",
                hint=f"`driftgate promote {ref.target}@N --to {selector}` sets it",
            )
        record = self._versions.find(type(ref)(ref.kind, ref.name, selector), aliases)
        return self._wrap(record, None)

    def _load(self, kind: str, name: str, digest: str, alias: str) -> ResolvedArtifact:
        hit = self._by_digest.get((kind, name, digest))
        if hit is None:
            record = self._versions.get(kind, name, digest)
            if record is None:
                raise VersionNotFound(
                    f"alias {alias!r} of {kind}/{name} points to {digest}, which has no version file",
                    hint="`driftgate registry repair` rebuilds the aliases from the audit log",
                )
            hit = self._wrap(record, None)
            self._by_digest[(kind, name, digest)] = hit
        return hit if hit.alias == alias else _with_alias(hit, alias)

    def _wrap(self, record: VersionRecord, alias: str | None) -> ResolvedArtifact:
        return ResolvedArtifact(
            kind=record.kind,
            name=record.name,
            alias=alias,
            seq=record.seq,
            digest=record.digest,
            created_at=record.created_at,
            source=record.source,
            definition=rebuild(record),
            record=record,
        )


def _with_alias(a: ResolvedArtifact, alias: str) -> ResolvedArtifact:
    from dataclasses import replace

    return replace(a, alias=alias)


_RESOLVERS: dict[tuple[str, str, str], Resolver] = {}
_RESOLVERS_LOCK = threading.Lock()


def resolve(
    target: str, alias: str | None = None, *, workspace: Workspace | Path | str | None = None
) -> ResolvedArtifact:
    """What `alias` (default production) of an artifact is now; see the module docstring.

    Resolvers are kept per workspace (found from the current folder or
    $DRIFTGATE_WORKSPACE when `workspace` is None), so repeated calls cost one `stat`.
    """
    if isinstance(workspace, Workspace):
        key = ("ws", str(workspace.state_dir), "")
    else:
        key = (
            "find",
            str(workspace or ""),
            os.environ.get("DRIFTGATE_WORKSPACE", "") + "|" + os.getcwd(),
        )
    resolver = _RESOLVERS.get(key)
    if resolver is None:
        with _RESOLVERS_LOCK:
            resolver = _RESOLVERS.get(key) or Resolver(workspace)
            _RESOLVERS[key] = resolver
    return resolver.resolve(target, alias)


def registry_prompt(workspace: Workspace, name: str, selector: str) -> Any | None:
    """`NAME@N`, `NAME@DIGEST` or `NAME@ALIAS` from the registry as a runnable Prompt
    labelled with the selector; None when the registry has no version of NAME at all."""
    from .core import Registry
    from .versions import ArtifactRef

    reg = Registry(workspace)
    if not reg.versions.list("prompt", name):
        return None
    record = reg.find(ArtifactRef("prompt", name, selector))
    return prompt_of(record, selector)
