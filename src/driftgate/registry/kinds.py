"""The four artifact kinds: how each is normalized into a version and rebuilt from one.

| kind    | definition stored                                   | identity (digest)                 |
|---------|-----------------------------------------------------|-----------------------------------|
| prompt  | `Prompt` fields                                     | `Prompt.digest`                   |
| fewshot | `FewShotSet` fields                                 | `FewShotSet.digest`               |
| index   | `IndexSpec` + corpus sha256 + embedder id (+ the    | `index_digest(...)` (as built)    |
|         | corpus bytes, kept under `blobs/<sha256>`)          |                                   |
| route   | `RouteSpec` fields                                  | `RouteSpec.digest`                |
| rule    | `RoutingRule` fields (a route's learned rule, named | `RoutingRule.digest`              |
|         | after the route; built by `retrain route/NAME`)     |                                   |

Each digest is the one the artifact module computes itself, so a run's manifest, a built
index's cache file and the registry agree on what "the same version" means. Rebuilding
re-validates the stored definition and checks that it still hashes to its digest: a
hand-edited version file is refused instead of served.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .._strict import Strict
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..artifacts.fewshot import FewShotSet
    from ..artifacts.index import IndexSpec
    from ..artifacts.route import RouteSpec
    from ..prompt import Prompt
    from ..routing.rule import RoutingRule
    from .versions import VersionRecord

Described = tuple[str, str, str, dict[str, Any]]  # kind, name, digest, definition


class IndexVersion(Strict):
    """A retrieval index version: its definition, the corpus bytes' hash and the embedder."""

    spec: dict[str, Any]
    corpus_sha256: str
    embedder: str
    # The corpus file's suffix (its format): the bytes are kept as `blobs/<sha256><suffix>`.
    # None in versions registered before corpora were kept.
    corpus_suffix: str | None = None

    def index_spec(self) -> IndexSpec:
        from ..artifacts.index import IndexSpec

        return IndexSpec.model_validate(self.spec)

    @property
    def digest(self) -> str:
        from ..artifacts.index import index_digest

        return index_digest(self.index_spec(), self.corpus_sha256, self.embedder)

    def vectors_path(self, cache_dir: Path) -> Path:
        """Where `RetrievalIndex.build` stored (or will store) this version's vectors."""
        return Path(cache_dir) / "indexes" / f"{self.digest}.npz"


def describe_prompt(prompt: Prompt) -> Described:
    from ..prompt import Prompt

    definition = prompt.model_dump(mode="json", by_alias=True)
    if Prompt.model_validate(definition).digest != prompt.digest:
        # A registry version relabelled by `prompt_of` whose version file has gone: its
        # definition under the new label would not hash to the identity it carries.
        raise ConfigError(
            f"prompt {prompt.ref} carries registry identity {prompt.digest}, whose version "
            "file is missing; it cannot be registered again from a relabelled copy"
        )
    return "prompt", prompt.name, prompt.digest, definition


def describe_fewshot(fs: FewShotSet) -> Described:
    return "fewshot", fs.name, fs.digest, fs.model_dump(mode="json")


def describe_route(route: RouteSpec) -> Described:
    return "route", route.name, route.digest, route.model_dump(mode="json")


def describe_rule(route: str, rule: RoutingRule) -> Described:
    """A route's learned rule: versions of `rule/ROUTE`, made by training, not from a file."""
    return "rule", route, rule.digest, rule.model_dump(mode="json")


def describe_index(spec: IndexSpec, workspace_root: Path, embedder: str | None = None) -> Described:
    """An index version from its definition and the corpus file as it is now."""
    root = Path(workspace_root).resolve()
    corpus = (root / spec.corpus).resolve()
    if corpus != root and root not in corpus.parents:
        raise ConfigError(f"corpus {spec.corpus!r} is outside the workspace {root}", field="corpus")
    if not corpus.is_file():
        raise ConfigError(
            f"corpus file {spec.corpus!r} not found (index {spec.name!r})",
            path=corpus,
            field="corpus",
        )
    h = hashlib.sha256()
    with corpus.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    version = IndexVersion(
        spec=spec.model_dump(mode="json"),
        corpus_sha256=h.hexdigest(),
        embedder=embedder or embedder_identity(spec.embedder),
        corpus_suffix=corpus.suffix.lower(),
    )
    return "index", spec.name, version.digest, version.model_dump(mode="json")


def embedder_identity(name: str) -> str:
    """The id `RetrievalIndex.build` pins for an embedder name (the name itself when the
    embedding module is not installed), so registry and index cache share digests.

    A built-in embedder's id comes from its pinned checksum, without its weights: binding a
    prompt to an index must not need the model pulled (only searching the index does)."""
    from ..model_files import MODELS

    key = name.lower().removeprefix("sentence-transformers/")
    spec = MODELS.get(key)
    if spec is not None and spec.kind == "embedder":
        return f"{key}@sha256:{spec.sha256[:16]}"  # what `embedding.get_embedder` names it
    try:
        from ..embedding import embedder_id
    except ImportError:
        return name
    return str(embedder_id(name))


def rebuild(record: VersionRecord) -> Any:
    """The artifact object of a version: Prompt, FewShotSet, IndexVersion, RouteSpec or
    RoutingRule."""
    where = f"registry version {record.ref}"
    try:
        if record.kind == "prompt":
            from ..prompt import Prompt

            obj: Any = Prompt.model_validate(record.definition)
        elif record.kind == "fewshot":
            from ..artifacts.fewshot import FewShotSet

            obj = FewShotSet.model_validate(record.definition)
        elif record.kind == "route":
            from ..artifacts.route import RouteSpec

            obj = RouteSpec.model_validate(record.definition)
        elif record.kind == "rule":
            from ..routing.rule import RoutingRule

            obj = RoutingRule.model_validate(record.definition)
        else:
            obj = IndexVersion.model_validate(record.definition)
    except ValidationError as exc:
        raise ConfigError(
            f"{where}: invalid stored definition ({exc.errors()[0]['msg']})"
        ) from None
    if obj.digest != record.digest:
        raise ConfigError(
            f"{where}: the stored definition hashes to {obj.digest}, not {record.digest}; "
            "version files are immutable and this one was altered"
        )
    return obj


def prompt_of(record: VersionRecord, label: str) -> Prompt:
    """A registered prompt version as the engine runs it, labelled `NAME@LABEL`.

    The label (`3`, `production`, a digest) replaces the file's own `version:` so that two
    registered versions of one prompt are two distinct arms of a run; the identity stays
    the registered digest (the label is a handle, not content), which is what manifests,
    stored results and the registry match on.
    """
    from ..prompt import Prompt

    original = rebuild(record)
    prompt = Prompt.model_validate(
        {**original.model_dump(mode="json", by_alias=True), "version": label}
    )
    # `digest` is a cached_property: seed its cache with the registered identity.
    prompt.__dict__["digest"] = record.digest
    return prompt
