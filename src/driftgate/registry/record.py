"""Recording versions: `driftgate register`, and every run's artifacts at its start.

Where the workspace keeps each kind:

    prompts/**/*.yaml          prompt          (except the two folders below)
    prompts/fewshot/*.yaml     fewshot
    prompts/indexes/*.yaml     index           (the corpus file's bytes are part of the version
                                                and kept under registry/blobs/)

A prompt is registered bound (`binding.py`): its definition pins the few-shot set and index
it renders by digest, and those versions are registered with it.
    routes/*.yaml              route
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DriftgateError, UnknownNameError
from ..workspace import Workspace
from .core import Registry
from .prompts import workspace_prompts
from .versions import KINDS, VersionRecord, parse_ref

if TYPE_CHECKING:
    from ..engine.plan import Plan
    from ..store.records import RunManifest

SUFFIXES = (".yaml", ".yml", ".json")


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())


def _routes_dir(ws: Workspace) -> Path:
    return ws.path(ws.settings.routes_dir)


def kind_of_path(ws: Workspace, path: Path) -> str:
    """The artifact kind of a workspace file, from the folder it is in."""
    path = path.resolve()
    routes = _routes_dir(ws)
    if routes == path.parent or routes in path.parents:
        return "route"
    try:
        rel = path.relative_to(ws.prompts_dir)
    except ValueError:
        return "prompt"
    if len(rel.parts) > 1 and rel.parts[0] == "fewshot":
        return "fewshot"
    if len(rel.parts) > 1 and rel.parts[0] == "indexes":
        return "index"
    return "prompt"


def register_file(reg: Registry, path: Path, kind: str | None = None) -> tuple[VersionRecord, bool]:
    """Register the artifact in one file (its kind from its folder unless given)."""
    kind = kind or kind_of_path(reg.workspace, path)
    if kind == "prompt":
        from ..prompt import load_prompt

        return reg.register(load_prompt(path), source=path)
    if kind == "fewshot":
        from ..artifacts.fewshot import load_fewshot

        return reg.register(load_fewshot(path), source=path)
    if kind == "route":
        from ..artifacts.route import load_route

        return reg.register(load_route(path), source=path)
    from ..artifacts.index import load_index_spec

    return reg.register_index(load_index_spec(path), source=path)


def _target_files(ws: Workspace, kind: str, name: str | None) -> list[Path]:
    if kind == "rule":
        raise ConfigError(
            "a route's rule has no file to register: it is trained from the route's traffic",
            hint="driftgate retrain route/NAME",
        )
    if kind == "prompt":
        prompts = workspace_prompts(ws)
        files = [p.source for p in prompts if p.source and (name is None or p.name == name)]
        if name is not None and not files:
            raise UnknownNameError("prompt", name, sorted({p.name for p in prompts}))
        return files
    folder = {
        "fewshot": ws.prompts_dir / "fewshot",
        "index": ws.prompts_dir / "indexes",
        "route": _routes_dir(ws),
    }[kind]
    files = _files(folder)
    if name is not None:
        hit = [p for p in files if p.stem.split(".")[0] == name]
        if not hit:
            raise UnknownNameError(kind, name, sorted({p.stem.split(".")[0] for p in files}))
        return hit
    return files


def register_artifacts(
    workspace: Workspace | Path | str | None = None,
    target: str | None = None,
    *,
    errors: list[str] | None = None,
) -> list[tuple[VersionRecord, bool]]:
    """Register what `target` names: a file path, `KIND/NAME`, a prompt NAME, or (None)
    every artifact of the workspace. Returns (version, newly created) pairs.

    With `errors` (a list), a file that cannot be registered (e.g. an index whose embedder
    is not installed, so its identity is unknown) is reported there and the others are
    still registered; without it the first error is raised.
    """
    reg = Registry.of(workspace)
    ws = reg.workspace
    if target is None:
        paths: list[tuple[Path, str | None]] = [
            (p, k) for k in KINDS if k != "rule" for p in _target_files(ws, k, None)
        ]
    elif target.endswith(SUFFIXES) or Path(target).is_file():
        path = ws.inside(target, what="artifact file")
        if not path.is_file():
            raise ConfigError("file not found", path=path)
        paths = [(path, None)]
    else:
        ref = parse_ref(target)
        if ref.selector is not None:
            raise ConfigError(
                f"register takes a file or KIND/NAME, not a version ({target!r})",
                hint="the current file of KIND/NAME is what gets registered",
            )
        paths = [(p, ref.kind) for p in _target_files(ws, ref.kind, ref.name)]
    out = []
    for p, k in paths:
        try:
            out.append(register_file(reg, p, k))
        except DriftgateError as exc:
            if errors is None:
                raise
            errors.append(f"{p}: {exc}")
    return out


def record_run_artifacts(
    workspace: Workspace | Path | str | None, run: Plan | RunManifest
) -> list[VersionRecord]:
    """Register every artifact a run uses, so nothing evaluated is lost when a file changes.

    Takes the engine's `Plan` (preferred: its bound prompts, plus the few-shot sets and
    indexes they pin) or a `RunManifest` (prompts whose source file still binds to the
    digest the run recorded). Cheap when nothing changed: a few `stat`s per prompt.
    """
    reg = Registry.of(workspace)
    ws = reg.workspace
    out: list[VersionRecord] = []
    seen: set[str] = set()
    for prompt in _prompts_of(ws, run):
        if prompt.digest in seen:
            continue
        seen.add(prompt.digest)
        # Registering binds the prompt, which registers the few-shot set and index
        # versions it pins (an index with its corpus bytes).
        record = reg.register(prompt)[0]
        out.append(record)
        for kind in ("fewshot", "index"):
            ref = record.definition.get(kind)
            if ref:
                name, _, digest = ref.partition("@")
                found = reg.versions.get(kind, name, digest)
                if found is not None:
                    out.append(found)
    return out


def _prompts_of(ws: Workspace, run: Any) -> list[Any]:
    """The (bound) prompts of a Plan's arms, or of a manifest whose prompt files still bind
    to the digest the run recorded."""
    arms = getattr(run, "arms", None)
    if arms is not None:  # a Plan
        return [arm.prompt for arm in arms]
    from ..prompt import load_prompt
    from .binding import bind_prompt

    out = []
    for info in run.prompts:  # a RunManifest
        if not info.source:
            continue
        path = ws.path(info.source)
        if path.is_file():
            prompt = bind_prompt(ws, load_prompt(path))
            if prompt.digest == info.digest:
                out.append(prompt)
    return out
