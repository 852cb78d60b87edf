"""Immutable, content-addressed artifact versions with a sequence number per name.

    .driftgate/registry/<kind>/<name>/<digest>.json    one file per version, never rewritten
    .driftgate/registry/<kind>/<name>/.lock            serializes registrations of the name

A version's identity is the digest of its normalized definition; its sequence number
(`prompt/categorize@7`) is a friendly handle handed out in registration order. Registering
content that is already there returns the existing version. Sequence numbers stay unique
under concurrent registration because a writer allocates the next number while holding an
exclusive lock on the name, re-checking for the digest first; the file itself appears
atomically (temp file + rename), so a reader never sees half a version.
"""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import quote, unquote

from pydantic import Field, ValidationError

from .._strict import Strict
from ..errors import ConfigError
from ..errors import VersionNotFound as VersionNotFound  # defined there, re-exported
from ..store._atomic import write_atomic
from ._fs import git_revision, locked, whoami

if TYPE_CHECKING:
    from ._shared import SharedState

Kind = Literal["prompt", "fewshot", "index", "route", "rule"]
KINDS: tuple[str, ...] = get_args(Kind)
FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")
_HEX = re.compile(r"^[0-9a-f]{4,64}$")
MIN_DIGEST_PREFIX = 4


class VersionRecord(Strict):
    """One registered version: the normalized definition plus where it came from."""

    format: int = FORMAT
    kind: Kind
    name: str
    seq: int = Field(ge=1, description="Per-name sequence number, in registration order")
    digest: str = Field(description="Hash of the normalized definition: the version's identity")
    created_at: float
    created_by: str | None = None
    source: str | None = Field(None, description="Workspace-relative file it was read from")
    git_revision: str | None = None
    definition: dict[str, Any]

    @property
    def target(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}@{self.seq}"


@dataclass(frozen=True)
class ArtifactRef:
    """`KIND/NAME[@SELECTOR]`; a selector is a sequence number, a digest prefix or an alias."""

    kind: str
    name: str
    selector: str | None = None

    @property
    def target(self) -> str:
        return f"{self.kind}/{self.name}"

    def __str__(self) -> str:
        return f"{self.target}@{self.selector}" if self.selector else self.target


def parse_ref(text: str, *, default_kind: str | None = "prompt") -> ArtifactRef:
    """Parse `prompt/categorize@7`, `categorize@production` (kind defaults to prompt)…"""
    head, at, selector = text.strip().partition("@")
    if at and not selector:
        raise ConfigError(f"{text!r}: nothing after '@'", hint="e.g. prompt/categorize@3")
    kind, slash, rest = head.partition("/")
    if slash and kind in KINDS:
        name = rest
    elif default_kind is not None:
        kind, name = default_kind, head
    else:
        raise ConfigError(
            f"{text!r} does not name an artifact kind",
            hint=f"write KIND/NAME with KIND one of {', '.join(KINDS)}",
        )
    check_name(name)
    return ArtifactRef(kind, name, selector or None)


def check_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name.split("/"):
        raise ConfigError(
            f"invalid artifact name {name!r}",
            hint="letters, digits, '_', '.', '-' (and '/' between parts for prompts)",
        )
    return name


def is_digest_like(selector: str) -> bool:
    return bool(_HEX.match(selector))


class VersionStore:
    """The versions of every artifact under one registry folder."""

    def __init__(
        self, root: Path, workspace_root: Path | None = None, shared: SharedState | None = None
    ) -> None:
        self.root = Path(root)
        self.workspace_root = workspace_root
        # With a shared store (shared.py) versions are created there too and copied here
        # when looked up and missing; sequence numbers are claimed there.
        self.shared = shared

    def dir_for(self, kind: str, name: str) -> Path:
        # Names of prompts may contain '/': one folder per name, never a nested tree.
        return self.root / kind / quote(check_name(name), safe="")

    # ---- writing ---------------------------------------------------------------------
    def register(
        self,
        kind: str,
        name: str,
        digest: str,
        definition: dict[str, Any],
        *,
        source: str | None = None,
    ) -> tuple[VersionRecord, bool]:
        """Record a version; returns (record, created). Same digest twice → the existing one."""
        if kind not in KINDS:
            raise ConfigError(f"unknown artifact kind {kind!r}; valid: {', '.join(KINDS)}")
        existing = self.get(kind, name, digest)
        if existing is not None:
            return existing, False
        folder = self.dir_for(kind, name)
        with locked(folder / ".lock"):
            existing = self.get(kind, name, digest)  # registered while we waited
            if existing is not None:
                return existing, False
            seq = max((r.seq for r in self.list(kind, name)), default=0) + 1
            if self.shared is not None:
                seq = self._claim_seq(folder, digest, seq)
            record = VersionRecord(
                kind=kind,  # type: ignore[arg-type]
                name=name,
                seq=seq,
                digest=digest,
                created_at=time.time(),
                created_by=whoami(self.workspace_root),
                source=source,
                git_revision=git_revision(self.workspace_root) if self.workspace_root else None,
                definition=definition,
            )
            path = folder / f"{digest}.json"
            data = record.model_dump_json(indent=2)
            if self.shared is not None and not self.shared.create(path, data):
                # The same content was registered on another machine meanwhile: theirs is
                # the version (its seq, its time), and it is the same definition.
                theirs = self._pull(path)
                if theirs is not None:
                    return theirs, False
            write_atomic(path, data)
        return record, True

    def _claim_seq(self, folder: Path, digest: str, least: int) -> int:
        """The next free sequence number of a name across machines (at least `least`): the
        first to create `seq/<N>` in the store has it. A claim that already holds this
        digest (a registration of the same content elsewhere) is this version's number."""
        assert self.shared is not None
        claims = self.shared.list(folder / "seq")
        taken = [int(k.rpartition("/")[2]) for k in claims if k.rpartition("/")[2].isdigit()]
        seq = max([least - 1, *taken]) + 1
        while True:
            claim = folder / "seq" / f"{seq:06d}"
            if self.shared.create(claim, digest):
                return seq
            blob = self.shared.get(claim)
            if blob is not None and blob.data.decode() == digest:
                return seq
            seq += 1

    def _pull(self, path: Path) -> VersionRecord | None:
        """Copy a version file from the store (checked before it is kept); None when the
        store has none either."""
        assert self.shared is not None
        blob = self.shared.get(path)
        if blob is None:
            return None
        record = self._parse(blob.data, path)
        write_atomic(path, blob.data)
        return record

    def _pull_folder(self, folder: Path) -> None:
        """Copy the versions under `folder` (a name's, or a kind's) that are not here yet."""
        assert self.shared is not None
        for key in self.shared.list(folder):
            if not key.endswith(".json"):  # sequence-number claims have no suffix
                continue
            path = self.shared.path_of(key)
            if not path.is_file():
                self._pull(path)
        self.shared.pulled(folder)

    # ---- reading ---------------------------------------------------------------------
    def _read(self, path: Path) -> VersionRecord:
        return self._parse(path.read_bytes(), path)

    def _parse(self, raw: bytes, path: Path) -> VersionRecord:
        try:
            record = VersionRecord.model_validate_json(raw)
        except (ValidationError, ValueError) as exc:
            raise ConfigError(f"corrupt registry version file: {exc}", path=path) from None
        if record.digest != path.stem:
            raise ConfigError(
                f"registry version file holds digest {record.digest}, not {path.stem}", path=path
            )
        return record

    def get(self, kind: str, name: str, digest: str) -> VersionRecord | None:
        path = self.dir_for(kind, name) / f"{digest}.json"
        try:
            if path.is_file():
                return self._read(path)
        except FileNotFoundError:
            pass
        return self._pull(path) if self.shared is not None else None

    def list(self, kind: str, name: str, *, latest: bool = False) -> list[VersionRecord]:
        """Versions of a name in sequence order (with a store: its versions copied here
        first when not copied within its staleness bound, or `latest`)."""
        folder = self.dir_for(kind, name)
        if self.shared is not None and (latest or not self.shared.fresh(folder)):
            self._pull_folder(folder)
        if not folder.is_dir():
            return []
        return sorted((self._read(p) for p in folder.glob("*.json")), key=lambda r: r.seq)

    # `builtins.list` below: inside this class `list` names the method above.
    def targets(self, *, pull: bool = True) -> builtins.list[str]:
        """Every `kind/name` that has at least one version. With a store its versions are
        copied here first (`pull=False`: this machine's copy as it is, without a request)."""
        if self.shared is not None and pull:
            for kind in KINDS:
                if not self.shared.fresh(self.root / kind):
                    self._pull_folder(self.root / kind)
        out = []
        for kind in KINDS:
            base = self.root / kind
            if base.is_dir():
                for d in sorted(base.iterdir()):
                    if d.is_dir() and any(d.glob("*.json")):
                        out.append(f"{kind}/{unquote(d.name)}")
        return out

    def find(self, ref: ArtifactRef, aliases: Mapping[str, str] | None = None) -> VersionRecord:
        """The version a ref names: `@N` (sequence), `@ALIAS`, or `@DIGEST` (a prefix of ≥ 4)."""
        try:
            return self._find(self.list(ref.kind, ref.name), ref, aliases)
        except VersionNotFound:
            if self.shared is None:
                raise
        # Registered on another machine since this one copied the name's versions.
        return self._find(self.list(ref.kind, ref.name, latest=True), ref, aliases)

    def _find(
        self,
        versions: builtins.list[VersionRecord],
        ref: ArtifactRef,
        aliases: Mapping[str, str] | None,
    ) -> VersionRecord:
        if not versions:
            known = [t for t in self.targets() if t.startswith(ref.kind + "/")]
            raise VersionNotFound(
                f"{ref.target} has no registered version"
                + (f"; registered {ref.kind}s: {', '.join(known)}" if known else ""),
                hint="`driftgate register` records the workspace's current files",
            )
        sel = ref.selector
        if sel is None:
            raise ConfigError(
                f"{ref.target}: name a version", hint=f"e.g. {ref.target}@{versions[-1].seq}"
            )
        if sel.isdigit():
            hit = [r for r in versions if r.seq == int(sel)]
        elif aliases is not None and sel in aliases:
            hit = [r for r in versions if r.digest == aliases[sel]]
            if not hit:
                raise VersionNotFound(
                    f"alias {sel!r} of {ref.target} points to {aliases[sel]}, which is not a "
                    "registered version",
                    hint="`driftgate registry repair` rebuilds the aliases from the audit log",
                )
        elif is_digest_like(sel):
            hit = [r for r in versions if r.digest.startswith(sel)]
            if len(hit) > 1:
                raise ConfigError(
                    f"digest prefix {sel!r} matches several versions of {ref.target}: "
                    + ", ".join(f"@{r.seq} ({r.digest})" for r in hit)
                )
        else:
            hit = []
        if not hit:
            valid = [f"@{r.seq}" for r in versions] + [f"@{a}" for a in sorted(aliases or {})]
            raise VersionNotFound(
                f"{ref} does not exist; {ref.target} has {', '.join(valid)}",
                hint="`driftgate versions " + ref.target + "` lists them",
            )
        return hit[0]
