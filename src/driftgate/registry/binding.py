"""Binding: a prompt pinned to the exact few-shot set and index versions it renders.

A prompt file names its artifacts as `fewshot: categorize` or `fewshot: categorize@SEL`
(a sequence number, a digest or digest prefix, or an alias). `bind_prompt` returns a copy
whose refs are pinned to full digests (`categorize@1a2b3c4d5e6f`), registering the
referenced version when it is not registered yet (an index version keeps its corpus bytes,
see `blobs.py`). The bound prompt's `digest` therefore covers the few-shot and index
digests: two prompts that render different messages never share an identity.

    NAME             the workspace file as it is now
    NAME@ALIAS       what the alias points at now
    NAME@N / @1a2b   that registered version
    NAME@DIGEST      already bound: kept

Rendering (`artifact_context` in engine/plan.py) loads a pinned version from the
workspace file when its digest matches, else from the registry, so a registered prompt
version renders the same messages after the files moved on.

Binding is cheap: a workspace artifact's digest is kept per process, keyed by the
file's (mtime_ns, size, inode), and re-computed when the file changed (or was modified
within the last two seconds, when a stat cannot tell two writes apart).

Imports point down: this module reads the version store and the alias state directly,
never `registry.core` (which imports the workspace).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, UnknownNameError
from ..prompt import Prompt, artifact_name, artifact_selector, is_pinned
from .versions import ArtifactRef, VersionNotFound, VersionRecord, VersionStore, is_digest_like

if TYPE_CHECKING:
    from ..artifacts.fewshot import FewShotSet
    from ..artifacts.index import IndexSpec, RetrievalIndex
    from ..workspace import Workspace

RACY_NS = 2_000_000_000
FOLDERS = {"fewshot": "fewshot", "index": "indexes"}
WHAT = {"fewshot": "few-shot set", "index": "index"}

_lock = threading.Lock()
# (loader, path) → (stat key, value)
_files: dict[tuple[str, str], tuple[tuple[int, int, int], Any]] = {}


# ---- per-process cache of workspace files -------------------------------------------------
def _cached(path: Path, load: Any) -> Any:
    """`load(path)`, reused while the file's (mtime_ns, size, inode) stay the same."""
    st = os.stat(path)
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    racy = time.time_ns() - st.st_mtime_ns < RACY_NS
    name = (getattr(load, "__name__", ""), str(path))
    with _lock:
        hit = _files.get(name)
    if hit is not None and hit[0] == key and not racy:
        return hit[1]
    value = load(path)
    with _lock:
        _files[name] = (key, value)
    return value


def _sha256(path: Path) -> str:
    from ..artifacts.index import file_sha256

    return file_sha256(path)


def _workspace_file(ws: Workspace, kind: str, name: str, prompt: Prompt | None) -> Path:
    from .._files import find_in_folder

    folder = ws.prompts_dir / FOLDERS[kind]
    try:
        return find_in_folder(folder, name, WHAT[kind], root=ws.root)
    except UnknownNameError as exc:
        who = f"prompt {prompt.ref} references" if prompt is not None else "no"
        raise ConfigError(
            f"{who} {WHAT[kind]} {name!r}, which is not in {folder}",
            path=prompt.source if prompt is not None else None,
            hint=exc.hint,
        ) from None


def workspace_fewshot(ws: Workspace, name: str, prompt: Prompt | None = None) -> FewShotSet:
    """The workspace's few-shot set `name` as its file is now (parsed once per change)."""
    from ..artifacts.fewshot import load_fewshot

    return _cached(_workspace_file(ws, "fewshot", name, prompt), load_fewshot)


def workspace_index(
    ws: Workspace, name: str, prompt: Prompt | None = None
) -> tuple[Path, IndexSpec, Path, dict[str, Any]]:
    """(spec file, spec, corpus file, IndexVersion definition) of the workspace's index
    `name` as its files are now; the corpus is hashed once per change."""
    from ..artifacts.index import _corpus_path, load_index_spec
    from .kinds import IndexVersion, embedder_identity

    spec_path = _workspace_file(ws, "index", name, prompt)
    spec = _cached(spec_path, load_index_spec)
    corpus = _corpus_path(spec, ws.root)
    version = IndexVersion(
        spec=spec.model_dump(mode="json"),
        corpus_sha256=_cached(corpus, _sha256),
        embedder=embedder_identity(spec.embedder),
        corpus_suffix=corpus.suffix.lower(),
    )
    return spec_path, spec, corpus, version.model_dump(mode="json")


def workspace_digest(ws: Workspace, kind: str, name: str, prompt: Prompt | None = None) -> str:
    if kind == "fewshot":
        return workspace_fewshot(ws, name, prompt).digest
    from .kinds import IndexVersion

    return IndexVersion.model_validate(workspace_index(ws, name, prompt)[3]).digest


# ---- registering what a binding pins ------------------------------------------------------
def _store(ws: Workspace) -> VersionStore:
    from ._shared import shared_state

    return VersionStore(ws.state_dir / "registry", ws.root, shared_state(ws))


def _relative(ws: Workspace, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ws.root))
    except ValueError:
        return str(path)


def register_workspace_artifact(
    ws: Workspace, kind: str, name: str, prompt: Prompt | None = None
) -> VersionRecord:
    """Register the workspace's few-shot set / index `name` as it is now (once: a second
    call finds the version file). An index version keeps its corpus bytes."""
    store = _store(ws)
    if kind == "fewshot":
        fs = workspace_fewshot(ws, name, prompt)
        existing = store.get(kind, name, fs.digest)
        if existing is not None:
            return existing
        source = _workspace_file(ws, kind, name, prompt)
        return store.register(
            kind, name, fs.digest, fs.model_dump(mode="json"), source=_relative(ws, source)
        )[0]
    from .blobs import blob_path, store_file
    from .kinds import IndexVersion

    spec_path, _spec, corpus, definition = workspace_index(ws, name, prompt)
    version = IndexVersion.model_validate(definition)
    digest = version.digest
    existing = store.get(kind, name, digest)
    root = ws.state_dir / "registry"
    if existing is not None and blob_path(root, version.corpus_sha256, corpus.suffix).is_file():
        return existing
    # The bytes first, then the version.
    store_file(root, corpus, version.corpus_sha256, store.shared)
    if existing is not None:
        return existing
    return store.register(kind, name, digest, definition, source=_relative(ws, spec_path))[0]


def register_index_corpus(
    ws: Workspace, spec: IndexSpec, data: bytes, suffix: str, embedder: str
) -> VersionRecord:
    """Register an index version whose corpus is `data` (e.g. a retrain's extended corpus),
    without writing any workspace file."""
    from .blobs import store_blob
    from .kinds import IndexVersion

    store = _store(ws)
    sha, _ = store_blob(ws.state_dir / "registry", data, suffix, store.shared)
    version = IndexVersion(
        spec=spec.model_dump(mode="json"),
        corpus_sha256=sha,
        embedder=embedder,
        corpus_suffix=suffix.lower(),
    )
    return store.register("index", spec.name, version.digest, version.model_dump(mode="json"))[0]


# ---- binding ----------------------------------------------------------------------------
def bind_ref(ws: Workspace, kind: str, ref: str, prompt: Prompt | None = None) -> str:
    """`NAME[@SELECTOR]` → `NAME@DIGEST` (see the module docstring)."""
    name, sel = artifact_name(ref), artifact_selector(ref)
    store = _store(ws)
    if sel is None:
        return f"{name}@{register_workspace_artifact(ws, kind, name, prompt).digest}"
    if is_pinned(ref):
        if store.get(kind, name, sel) is not None:
            return ref
        if workspace_digest(ws, kind, name, prompt) == sel:
            register_workspace_artifact(ws, kind, name, prompt)
            return ref
        raise VersionNotFound(
            f"{_who(prompt)}{WHAT[kind]} {ref!r} is neither registered nor the workspace's "
            f"current {FOLDERS[kind]}/{name} file",
            hint=f"`driftgate versions {kind}/{name}` lists what is registered",
        )
    aliases = None
    if not sel.isdigit() and not is_digest_like(sel):
        from .aliases import AliasStore

        aliases = AliasStore(ws.state_dir / "registry", store.shared).read().of(f"{kind}/{name}")
    try:
        record = store.find(ArtifactRef(kind, name, sel), aliases)
    except VersionNotFound as exc:
        raise VersionNotFound(f"{_who(prompt)}{exc.message}", hint=exc.hint) from None
    return f"{name}@{record.digest}"


def _who(prompt: Prompt | None) -> str:
    return f"prompt {prompt.ref}: " if prompt is not None else ""


def bind_prompt(ws: Workspace, prompt: Prompt) -> Prompt:
    """A copy of `prompt` whose few-shot set and index are pinned to digests (the prompt
    itself when nothing needs pinning). See the module docstring."""
    if prompt.bound:
        return prompt
    update = {}
    if prompt.fewshot:
        update["fewshot"] = bind_ref(ws, "fewshot", prompt.fewshot, prompt)
    if prompt.index:
        update["index"] = bind_ref(ws, "index", prompt.index, prompt)
    definition = {**prompt.model_dump(mode="json", by_alias=True), **update}
    bound = Prompt.model_validate(definition)
    bound._source = prompt.source
    if "_templates" in prompt.__dict__:  # the messages are the same: reuse their compilation
        bound.__dict__["_templates"] = prompt.__dict__["_templates"]
    return bound


# ---- loading what a bound prompt renders --------------------------------------------------
def record_of(ws: Workspace, kind: str, ref: str) -> VersionRecord:
    name, digest = artifact_name(ref), artifact_selector(ref) or ""
    record = _store(ws).get(kind, name, digest)
    if record is None:
        raise VersionNotFound(
            f"{WHAT[kind]} {ref} is not registered and the workspace file is another version",
            hint=f"`driftgate versions {kind}/{name}` lists what is registered",
        )
    return record


def fewshot_version(ws: Workspace, ref: str) -> FewShotSet:
    """The few-shot set a bound ref pins: the workspace file when it is that version (the
    common case: no registry read), else the registered version."""
    from .kinds import rebuild

    name, digest = artifact_name(ref), artifact_selector(ref)
    try:
        current = workspace_fewshot(ws, name)
        if current.digest == digest:
            return current
    except ConfigError:
        pass  # the file is gone or broken: the registry has the version
    return rebuild(record_of(ws, "fewshot", ref))


def index_version(ws: Workspace, ref: str) -> RetrievalIndex:
    """The retrieval index a bound ref pins: built from the workspace files when they are
    that version, else from the registry (its cached vectors, or its kept corpus)."""
    from ..artifacts.index import RetrievalIndex
    from .kinds import IndexVersion, rebuild

    name, digest = artifact_name(ref), artifact_selector(ref)
    try:
        _spec_path, spec, corpus, definition = workspace_index(ws, name)
        if IndexVersion.model_validate(definition).digest == digest:
            return RetrievalIndex.build_from_corpus(
                spec, corpus, ws.cache_dir, expected_digest=digest
            )
    except ConfigError:
        pass  # the definition or corpus is gone or broken: the registry has the version
    version: IndexVersion = rebuild(record_of(ws, "index", ref))
    spec = version.index_spec()
    vectors = version.vectors_path(ws.cache_dir)
    if vectors.is_file():
        from ..embedding import embed as _embed

        model = spec.embedder
        index = RetrievalIndex._read(vectors, spec, lambda texts: _embed(texts, model=model))
        if index is not None and index.digest == version.digest:
            return index
    corpus = kept_corpus(ws, ref, version)
    return RetrievalIndex.build_from_corpus(
        spec, corpus, ws.cache_dir, expected_digest=version.digest
    )


def kept_corpus(ws: Workspace, ref: str, version: Any) -> Path:
    """The registry's copy of an index version's corpus. A version registered before
    corpora were kept has no suffix on record: its bytes are found by hash alone, when
    a later registration of the same corpus kept them."""
    from .blobs import blobs_dir, read_blob

    root = ws.state_dir / "registry"
    suffix = version.corpus_suffix
    if suffix is None:
        found = sorted(blobs_dir(root).glob(f"{version.corpus_sha256}.*"))
        if not found:
            raise ConfigError(
                f"index {ref} was registered before corpora were kept, and its corpus file "
                "has changed since: it cannot be rebuilt",
                hint="restore the corpus file, or bind the prompt to a newer index version",
            )
        suffix = found[0].suffix
    from ._shared import shared_state

    return read_blob(root, version.corpus_sha256, suffix, shared_state(ws))


def render_context(ws: Workspace, prompt: Prompt) -> dict[str, Any]:
    """What a prompt's template reads besides the case: `examples` (its few-shot set) and
    `retrieve` (its index), the exact versions it pins (an unbound prompt is bound first)."""
    if not prompt.fewshot and not prompt.index:
        return {}
    prompt = bind_prompt(ws, prompt)
    ctx: dict[str, Any] = {}
    if prompt.fewshot:
        fs = fewshot_version(ws, prompt.fewshot)
        ctx["examples"] = [e.model_dump(mode="json") for e in fs.examples]
    if prompt.index:
        ctx["retrieve"] = index_version(ws, prompt.index).retrieve
    return ctx


def render_messages(
    ws: Workspace, prompt: Prompt, variables: dict[str, Any], *, case_id: str | None = None
) -> list[dict[str, str]]:
    """The chat messages `prompt` sends for one request, as runs and the router render them:
    e.g. `render_messages(ws, resolve("prompt/cat").definition, {"description": "..."})`."""
    return prompt.render({**variables, **render_context(ws, prompt)}, case_id=case_id)
