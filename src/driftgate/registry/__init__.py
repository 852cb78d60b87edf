"""The artifact registry: immutable versions, aliases with an audit log, gated promotion,
instant rollback, and the lock-free serving read path.

    .driftgate/registry/                 (under the workspace's state_dir)
      prompt/<name>/<digest>.json        one immutable file per version (seq, source, git rev)
      fewshot/… index/… route/…
      blobs/<sha256>.<ext>               index corpora, kept by content (blobs.py)
      aliases.json                       alias → digest per artifact, checksummed
      audit.jsonl                        every alias move: who, when, from, to, why, verdict

A prompt version pins the few-shot set and index it renders by digest (binding.py), so
its identity covers everything it renders and `rollback prompt/NAME` restores exactly what
served; few-shot sets and indexes have no production of their own (moves.py).

Python:

    from driftgate.registry import register_artifacts, promote, rollback, resolve
    register_artifacts()                                   # every artifact of the workspace
    promote("prompt/categorize@3", to="production")        # gate, then move
    rollback("prompt/categorize")
    resolve("prompt/categorize").definition               # a Prompt, for serving

Names load lazily: importing this package costs nothing until one is used. The versions,
aliases, binding and prompt lookup (`prompts.py`) sit below the engine, which reads them;
`moves.py` (promote, rollback, unset) sits above the gate (`driftgate.gate`), which a
promotion runs first (tests/test_layers.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "AliasMoved",
    "AliasState",
    "AuditEntry",
    "GateFailed",
    "MoveResult",
    "Registry",
    "ResolvedArtifact",
    "Resolver",
    "StateCorrupted",
    "VersionNotFound",
    "VersionRecord",
    "diff_versions",
    "list_versions",
    "parse_ref",
    "promote",
    "record_run_artifacts",
    "register_artifacts",
    "repair",
    "resolve",
    "rollback",
    "unset_alias",
]

_LAZY = {
    "AliasMoved": "aliases",
    "AliasState": "aliases",
    "AuditEntry": "aliases",
    "StateCorrupted": "aliases",
    "GateFailed": "moves",
    "MoveResult": "moves",
    "promote": "moves",
    "rollback": "moves",
    "unset_alias": "moves",
    "Registry": "core",
    "ResolvedArtifact": "serving",
    "Resolver": "serving",
    "resolve": "serving",
    "VersionNotFound": "versions",
    "VersionRecord": "versions",
    "parse_ref": "versions",
    "diff_versions": "history",
    "list_versions": "history",
    "record_run_artifacts": "record",
    "register_artifacts": "record",
}


def repair(workspace: Any = None) -> tuple[str | None, Any]:
    """Rebuild the alias state from the audit log; (problem found or None, new state)."""
    from ._fs import whoami
    from .core import Registry

    reg = Registry.of(workspace)
    return reg.aliases.repair(whoami(reg.workspace.root))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'driftgate.registry' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from .aliases import AliasMoved, AliasState, AuditEntry, StateCorrupted
    from .core import Registry
    from .history import diff_versions, list_versions
    from .moves import GateFailed, MoveResult, promote, rollback, unset_alias
    from .record import record_run_artifacts, register_artifacts
    from .serving import ResolvedArtifact, Resolver, resolve
    from .versions import VersionNotFound, VersionRecord, parse_ref
