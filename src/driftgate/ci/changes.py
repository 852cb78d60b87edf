"""From a git diff to the suites that must be re-evaluated.

A suite depends on: its own file; the prompt files its refs resolve to (a versionless ref
depends on every file of that prompt name, since adding a version can change what it
resolves to); the few-shot sets and index definitions its prompts name, and the indexes'
corpora; its golden sets; routes that name one of its prompts; the gate policies that
apply to its prompts (`gates/NAME.yaml`, `gates/default.yaml`, `--policy`); and the
workspace settings. A changed file is matched by what it *was* as well as what it *is*
(a deleted or renamed prompt still names the prompt it used to be), so nothing a PR
touches slips through.

Dependencies are read tolerantly: one unparsable file must not hide which suites the
others affect. Whether the changed files parse is checked separately (`validate_changed`)
and reported as annotations on the file and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DriftgateError
from ..evalset import SUFFIXES
from ..prompt import parse_ref
from ..workspace import ARTIFACT_FOLDERS, Workspace
from .git import Repo
from .schema import Annotation, ChangedFile, ChangeKind, ChangeStatus

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
SUITE_SUFFIXES = (".suite.yaml", ".suite.yml", ".suite.json")
GATES_DIR = "gates"  # where driftgate.gate.find_policy looks
_STATUS: dict[str, ChangeStatus] = {"A": "added", "D": "deleted"}


@dataclass
class SuiteDeps:
    """What one suite (at the head) reads, by workspace-relative path and by name."""

    path: str
    files: set[str] = field(default_factory=set)
    refs: list[tuple[str, str | None]] = field(default_factory=list)
    fewshots: set[str] = field(default_factory=set)
    indexes: set[str] = field(default_factory=set)
    evalsets: set[str] = field(default_factory=set)
    error: DriftgateError | None = None

    @property
    def prompt_names(self) -> set[str]:
        return {name for name, _ in self.refs}

    def uses_prompt(self, name: str | None, version: str | None) -> bool:
        return name is not None and any(
            n == name and (v is None or version is None or v == version) for n, v in self.refs
        )


def rel(ws: Workspace, path: Path) -> str:
    return Path(path).resolve().relative_to(ws.root).as_posix()


def _is_under(path: str, folder: str) -> bool:
    folder = folder.strip("/").removeprefix("./")
    return folder in ("", ".") or path.startswith(folder + "/")


def _ws_dirs(ws: Workspace) -> dict[str, str]:
    def r(p: Path) -> str:
        try:
            return rel(ws, p)
        except ValueError:
            return "\0outside"  # a folder outside the workspace matches no changed path

    return {
        "prompts": r(ws.prompts_dir),
        "evalsets": r(ws.evalsets_dir),
        "routes": r(ws.path(ws.settings.routes_dir)),
        "runs": r(ws.runs_dir),
        "cache": r(ws.cache_dir),
        "state": r(ws.state_dir),
    }


def classify(ws: Workspace, path: str) -> ChangeKind:
    """The kind of a workspace-relative path, from where it lives."""
    d = _ws_dirs(ws)
    name = path.rsplit("/", 1)[-1]
    if path.endswith(SUITE_SUFFIXES) or (
        ws.settings.suite and path == ws.settings.suite.removeprefix("./")
    ):
        return "suite"
    if path == "driftgate.yaml":
        return "settings"
    if _is_under(path, d["prompts"]) and path.endswith(CONFIG_SUFFIXES):
        inner = path[len(d["prompts"]) + 1 :] if d["prompts"] not in ("", ".") else path
        top = inner.split("/", 1)[0]
        if top in ARTIFACT_FOLDERS and "/" in inner:
            return "fewshot" if top == "fewshot" else "index"
        return "prompt"
    if _is_under(path, d["evalsets"]) and name.endswith(SUFFIXES):
        return "golden_set"
    if _is_under(path, d["routes"]) and path.endswith(CONFIG_SUFFIXES):
        return "route"
    if _is_under(path, GATES_DIR) and path.endswith(CONFIG_SUFFIXES):
        return "policy"
    return "other"


def dirty_paths(ws: Workspace, repo: Repo) -> list[str]:
    """Workspace-relative paths whose uncommitted state would make the evaluated tree differ
    from the head commit: modified tracked files, and untracked files where driftgate reads
    (runs, caches, registry state and unrelated untracked files do not count)."""
    d = _ws_dirs(ws)
    prefix = repo.prefix + "/" if repo.prefix else ""
    out = []
    for code, repo_path in repo.status():
        if prefix and not repo_path.startswith(prefix):
            continue
        path = repo_path[len(prefix) :]
        if any(_is_under(path, d[k]) for k in ("runs", "cache", "state")):
            continue
        if code != "??" or classify(ws, path) != "other":
            out.append(path)
    return out


# ---- suites and what they read ---------------------------------------------------------
def discover_suites(ws: Workspace, explicit: Iterable[Path | str] | None = None) -> list[Path]:
    """The suites the gate considers: those named, else every `*.suite.yaml` of the workspace
    (top level and the golden-set folder) plus the configured default suite."""
    if explicit:
        paths = [ws.inside(p, what="suite file") for p in explicit]
        for p in paths:
            if not p.is_file():
                raise ConfigError("suite file not found", path=p, field="-c")
        return paths
    found: dict[Path, None] = {}
    if ws.settings.suite:
        p = ws.path(ws.settings.suite)
        if p.is_file():
            found[p] = None
    for folder in (ws.root, ws.evalsets_dir):
        if folder.is_dir():
            for suffix in SUITE_SUFFIXES:
                for p in sorted(
                    folder.rglob(f"*{suffix}") if folder != ws.root else folder.glob(f"*{suffix}")
                ):
                    found[p.resolve()] = None
    return sorted(found)


def _raw(path: Path) -> dict[str, Any] | None:
    """A config file's top-level mapping, or None when it does not parse (tolerant)."""
    from .._files import load_data

    try:
        data = load_data(path)
    except DriftgateError:
        return None
    return data if isinstance(data, dict) else None


def _text_raw(path: str, text: str | None) -> dict[str, Any] | None:
    from .._files import load_data

    if text is None:
        return None
    try:
        data = load_data(Path(path), text)
    except DriftgateError:
        return None
    return data if isinstance(data, dict) else None


def _prompt_identity(path: str, data: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if data is None:
        return None, None
    name = data.get("name") or Path(path).name.split(".")[0]
    version = data.get("version")
    return (str(name), str(version) if version is not None else None)


def suite_dependencies(ws: Workspace, suite_path: Path, policy: Path | None = None) -> SuiteDeps:
    """What the suite at `suite_path` reads (tolerant of unparsable prompt files)."""
    from ..suite import load_suite

    deps = SuiteDeps(rel(ws, suite_path))
    deps.files.add(deps.path)
    if policy is not None:
        deps.files.add(rel(ws, policy))
    try:
        suite = load_suite(suite_path)
    except DriftgateError as exc:
        deps.error = exc
        return deps
    deps.refs = [parse_ref(r) for r in suite.prompts]
    prompt_dir = ws.prompts_dir
    for p in ws._prompt_files:  # noqa: SLF001 - the workspace's own listing of prompt files
        data = _raw(p)
        name, version = _prompt_identity(p.name, data)
        if not deps.uses_prompt(name, version):
            continue
        deps.files.add(rel(ws, p))
        assert data is not None
        for key, folder, names in (
            ("fewshot", "fewshot", deps.fewshots),
            ("index", "indexes", deps.indexes),
        ):
            ref = data.get(key)
            if isinstance(ref, str):
                ref = ref.partition("@")[0]  # `NAME@SELECTOR`: the workspace file is NAME's
                names.add(ref)
                for suffix in CONFIG_SUFFIXES:
                    deps.files.add(rel(ws, prompt_dir / folder / f"{ref}{suffix}"))
    for name in deps.indexes:
        spec = next(
            (d for s in CONFIG_SUFFIXES if (d := _raw(prompt_dir / "indexes" / f"{name}{s}"))), None
        )
        corpus = spec.get("corpus") if spec else None
        if isinstance(corpus, str):
            try:
                deps.files.add(rel(ws, ws.inside(corpus, what="corpus")))
            except (ConfigError, ValueError):
                pass
    for ref in suite.evalsets:
        deps.evalsets.add(
            Path(ref).name.split(".")[0] if ("/" in ref or ref.endswith(SUFFIXES)) else ref
        )
        try:
            deps.files.add(rel(ws, ws.evalset(ref).path))
        except (DriftgateError, ValueError):
            pass
    return deps


# ---- matching changed files to suites ----------------------------------------------------
def _route_prompt_names(data: dict[str, Any] | None) -> set[str]:
    if data is None:
        return set()
    names = {str(data["prompt"])} if isinstance(data.get("prompt"), str) else set()
    for key in ("arms", "shadow"):
        for arm in data.get(key) or []:
            if isinstance(arm, dict) and isinstance(arm.get("prompt"), str):
                names.add(parse_ref(arm["prompt"])[0])
    return names


def _tool_table(text: str | None) -> Any:
    import tomllib

    if text is None:
        return None
    try:
        return tomllib.loads(text).get("tool", {}).get("driftgate")
    except tomllib.TOMLDecodeError:
        return "\0unparsable"


def affected_suites(
    ws: Workspace,
    repo: Repo,
    change: ChangedFile,
    base_commit: str,
    suites: list[SuiteDeps],
    policy: Path | None,
) -> list[str]:
    """Paths of the suites the changed file can affect."""
    path, kind = change.path, change.kind
    head_file = ws.root / path
    head_text = (
        head_file.read_text(encoding="utf-8", errors="replace") if head_file.is_file() else None
    )
    base_text = repo.show(base_commit, change.repo_path) if change.status != "added" else None
    if kind in ("settings",):
        return [s.path for s in suites]
    if path == "pyproject.toml" and _tool_table(head_text) != _tool_table(base_text):
        change.kind = "settings"
        return [s.path for s in suites]
    if policy is not None and path == rel(ws, policy):
        change.kind = "policy"
        return [s.path for s in suites]
    out = []
    for s in suites:
        if path in s.files:
            out.append(s.path)
        elif kind == "prompt":
            for text in (head_text, base_text):
                if s.uses_prompt(*_prompt_identity(path, _text_raw(path, text))):
                    out.append(s.path)
                    break
        elif kind in ("fewshot", "index"):
            stem = path.rsplit("/", 1)[-1].split(".")[0]
            if stem in (s.fewshots if kind == "fewshot" else s.indexes):
                out.append(s.path)
        elif kind == "golden_set":
            if path.rsplit("/", 1)[-1].split(".")[0] in s.evalsets:
                out.append(s.path)
        elif kind == "route":
            names = _route_prompt_names(_text_raw(path, head_text)) | _route_prompt_names(
                _text_raw(path, base_text)
            )
            if names & s.prompt_names:
                out.append(s.path)
        elif kind == "policy" and policy is None:
            stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            if stem == "default" or stem in {n.replace("/", "__") for n in s.prompt_names}:
                out.append(s.path)
    if out and kind == "other":
        change.kind = "corpus"
    return out


def changed_files(
    ws: Workspace,
    repo: Repo,
    base_commit: str,
    head_commit: str | None,
    *,
    include_untracked: bool = False,
) -> list[ChangedFile]:
    """Files of the workspace that differ between the merge base and the head (the work
    tree when `head_commit` is None), classified by kind."""
    raw = repo.changed_paths(base_commit, head_commit)
    prefix = repo.prefix + "/" if repo.prefix else ""
    if include_untracked:
        untracked = {p for code, p in repo.status() if code == "??"}
        for path in dirty_paths(ws, repo):
            if prefix + path in untracked:
                raw.setdefault(prefix + path, "A")
    corpora = corpus_paths(ws)
    out = []
    for repo_path, letter in sorted(raw.items()):
        if prefix and not repo_path.startswith(prefix):
            continue  # outside the workspace
        path = repo_path[len(prefix) :]
        status: ChangeStatus = _STATUS.get(letter, "modified")
        line = None
        if status != "deleted":
            line = (
                repo.first_changed_line(base_commit, head_commit, repo_path)
                if status == "modified"
                else 1
            )
        kind = "corpus" if path in corpora else classify(ws, path)
        out.append(
            ChangedFile(
                path=path,
                repo_path=repo_path,
                status=status,
                kind=kind,
                line=line,
            )
        )
    return out


def corpus_paths(ws: Workspace) -> set[str]:
    """Workspace-relative corpus files of every index definition (a corpus often lives
    beside the golden sets but is not one, and must not be parsed as one)."""
    out = set()
    folder = ws.prompts_dir / "indexes"
    for p in sorted(folder.glob("*")) if folder.is_dir() else []:
        data = _raw(p) if p.suffix in CONFIG_SUFFIXES else None
        corpus = data.get("corpus") if data else None
        if isinstance(corpus, str):
            try:
                out.add(rel(ws, ws.inside(corpus, what="corpus")))
            except (ConfigError, ValueError):
                continue
    return out


# ---- do the changed files parse? -----------------------------------------------------------
def _loader(kind: str) -> Any:
    from ..artifacts import load_fewshot, load_index_spec, load_route
    from ..evalset import EvalSet
    from ..gate import load_policy
    from ..prompt import load_prompt
    from ..suite import load_suite
    from ..workspace import load_settings

    return {
        "prompt": load_prompt,
        "fewshot": load_fewshot,
        "index": load_index_spec,
        "route": load_route,
        "policy": load_policy,
        "suite": load_suite,
        "golden_set": lambda p: EvalSet(p.stem, p).validate(),
        "settings": lambda p: load_settings(p.parent),
    }.get(kind)


def validate_changed(ws: Workspace, repo: Repo, changes: list[ChangedFile]) -> list[Annotation]:
    """Parse every changed file that still exists; each failure is an error annotation on
    the file and line the parser names."""
    out = []
    for c in changes:
        load = _loader(c.kind)
        target = ws.root / c.path
        if load is None or c.status == "deleted" or not target.is_file():
            continue
        try:
            load(target)
        except DriftgateError as exc:
            out.append(
                error_annotation(
                    ws, repo, exc, default_file=c.repo_path, title=f"{c.path} does not parse"
                )
            )
    return out


def error_annotation(
    ws: Workspace, repo: Repo, exc: DriftgateError, *, default_file: str | None, title: str
) -> Annotation:
    """An error annotation from a driftgate error: on the file and line it names, with paths
    shown relative to the repository."""
    file, line = default_file, None
    path = getattr(exc, "path", None)
    if path:
        try:
            file = Path(path).resolve().relative_to(repo.toplevel).as_posix()
            line = getattr(exc, "line", None)
        except ValueError:
            pass  # a path outside the repository (a temporary tree): keep the default file
    text = str(exc).replace(str(ws.root) + "/", "")
    if path:
        text = text.replace(str(path), file or str(path))
    return Annotation(level="error", message=text, file=file, line=line, title=title)
