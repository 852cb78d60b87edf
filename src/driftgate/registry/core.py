"""The registry of one workspace: versions and aliases under `STATE_DIR/registry/`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..workspace import Workspace
from ._shared import shared_state
from .aliases import AliasState, AliasStore, StateCorrupted
from .kinds import describe_fewshot, describe_prompt, describe_route, describe_rule, rebuild
from .versions import ArtifactRef, VersionRecord, VersionStore, is_digest_like, parse_ref


class Registry:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.root = workspace.state_dir / "registry"
        # With a shared store its state is the truth and these files a copy (shared.py).
        self.shared = shared_state(workspace)
        self.versions = VersionStore(self.root, workspace.root, self.shared)
        self.aliases = AliasStore(self.root, self.shared)

    @classmethod
    def of(cls, workspace: Workspace | Path | str | None = None) -> Registry:
        ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
        return cls(ws)

    # ---- lookups ---------------------------------------------------------------------
    def find(self, ref: str | ArtifactRef, *, state: AliasState | None = None) -> VersionRecord:
        """The version a ref names (`prompt/cat@3`, `cat@production`, `fewshot/x@1a2b`)."""
        r = parse_ref(ref) if isinstance(ref, str) else ref
        aliases: dict[str, str] | None = None
        sel = r.selector
        if sel is not None and not sel.isdigit() and not is_digest_like(sel):
            # Only an alias needs the state file (alias names never look like digests), so a
            # corrupt state file does not stop `@3` or `@1a2b3c` from resolving.
            aliases = (state or self.aliases.read()).of(r.target)
        return self.versions.find(r, aliases)

    def aliases_of(self, target: str, *, state: AliasState | None = None) -> dict[str, str]:
        return (state or self.aliases.read()).of(target)

    def artifact(self, record: VersionRecord) -> Any:
        return rebuild(record)

    # ---- registering -----------------------------------------------------------------
    def register(self, obj: Any, *, source: Path | str | None = None) -> tuple[VersionRecord, bool]:
        """Register a Prompt, FewShotSet or RouteSpec (indexes: `register_index`)."""
        from ..artifacts.fewshot import FewShotSet
        from ..artifacts.route import RouteSpec
        from ..prompt import Prompt

        if isinstance(obj, Prompt):
            from .binding import bind_prompt

            # What is stored is the bound definition (few-shot set and index pinned by
            # digest, and registered), so the version renders the same messages forever.
            obj = bind_prompt(self.workspace, obj)
            # A registry version relabelled for a run (`prompt_of`) is found by its identity
            # before its (relabelled) definition is looked at.
            existing = self.versions.get("prompt", obj.name, obj.digest)
            if existing is not None:
                return existing, False
            described = describe_prompt(obj)
            source = source or obj.source
        elif isinstance(obj, FewShotSet):
            described = describe_fewshot(obj)
        elif isinstance(obj, RouteSpec):
            described = describe_route(obj)
        else:
            raise TypeError(f"cannot register a {type(obj).__name__}")
        return self._register(described, source)

    def register_rule(self, route: str, rule: Any) -> tuple[VersionRecord, bool]:
        """Register a route's learned rule (a `RoutingRule`) as a version of `rule/ROUTE`."""
        return self._register(describe_rule(route, rule), None)

    def register_index(
        self, spec: Any, *, source: Path | str | None = None, embedder: str | None = None
    ) -> tuple[VersionRecord, bool]:
        from .blobs import store_file
        from .kinds import IndexVersion, describe_index

        described = describe_index(spec, self.workspace.root, embedder)
        version = IndexVersion.model_validate(described[3])
        # The corpus bytes are kept (by their hash) before the version that names them, so
        # every registered index version can be rebuilt after its corpus file changed.
        store_file(
            self.root, self.workspace.inside(spec.corpus), version.corpus_sha256, self.shared
        )
        return self._register(described, source)

    def _register(self, described: tuple[str, str, str, dict[str, Any]], source: Path | str | None):
        kind, name, digest, definition = described
        return self.versions.register(kind, name, digest, definition, source=self._relative(source))

    def _relative(self, source: Path | str | None) -> str | None:
        if source is None:
            return None
        p = Path(source)
        try:
            return str(p.resolve().relative_to(self.workspace.root))
        except ValueError:
            return str(p)


__all__ = ["Registry", "StateCorrupted"]
