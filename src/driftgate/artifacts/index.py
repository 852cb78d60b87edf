"""Retrieval indexes: a labeled corpus embedded with a pinned embedder, searched by cosine.

An index definition (YAML or JSON, in `prompts/indexes/NAME.yaml`):

    name: merchants
    corpus: evalsets/merchants.jsonl    # workspace-relative; JSONL, JSON, YAML or CSV rows
    text_field: text                    # what is embedded and returned as `text`
    label_field: label                  # returned as `label` (optional)
    embedder: all-MiniLM-L6-v2          # pinned: a new embedder is a new index version
    k: 5                                # default number of neighbours

A prompt names the index with `index: merchants`; the engine hands the template a
`retrieve(text, k=5)` function returning rows `{text, label, score, ...}`.

Versions are content-addressed: the digest covers the corpus bytes, the fields read from
it and the embedder's id, so editing the corpus or changing the embedder yields a new
version, while a change of `k` (a query-time setting) does not. Built vectors are stored
under `CACHE_DIR/indexes/DIGEST.npz` and reused by every later build with the same
digest — no re-embedding, and an old version stays loadable after the corpus moves on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from .._digest import digest as _digest
from .._files import ARTIFACT_NAME
from .._strict import Strict
from ..errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

EmbedFn = Callable[[list[str]], "np.ndarray"]
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_FORMAT = 1  # bump when the .npz layout changes, so old caches are not misread
_QUERY_CHUNK = 256  # queries scored per matrix product in search_many (bounds memory)


class IndexSpec(Strict):
    name: str = Field(pattern=ARTIFACT_NAME)
    description: str | None = None
    corpus: str = Field(description="Corpus file, relative to the workspace root.")
    text_field: str = "text"
    label_field: str | None = "label"
    id_field: str = "id"
    embedder: str = Field(DEFAULT_EMBEDDER, description="Embedder name passed to driftgate.embed.")
    k: int = Field(5, ge=1, le=1000, description="Default number of neighbours returned.")


def load_index_spec(path: Path | str) -> IndexSpec:
    """Load an index definition; the name defaults to the file stem."""
    from .._files import load_named

    return load_named(IndexSpec, Path(path))


def find_index_spec(
    prompts_dir: Path | str, name: str, *, root: Path | str | None = None
) -> IndexSpec:
    """The index definition `name` of a workspace (`prompts/indexes/NAME.yaml|yml|json`);
    the file, symlinks followed, must be inside `root` (default: that folder)."""
    from .._files import find_in_folder

    folder = Path(prompts_dir) / "indexes"
    return load_index_spec(
        find_in_folder(folder, name, "retrieval index", root=Path(root) if root else None)
    )


# ---- corpus ---------------------------------------------------------------------------


def _corpus_path(spec: IndexSpec, workspace_root: Path) -> Path:
    root = Path(workspace_root).resolve()
    path = (root / spec.corpus).resolve()
    if path != root and root not in path.parents:
        raise ConfigError(
            f"corpus {spec.corpus!r} is outside the workspace {root}",
            field="corpus",
            hint="keep the corpus inside the workspace so the index is reproducible",
        )
    if not path.is_file():
        raise ConfigError(
            f"corpus file {spec.corpus!r} not found (index {spec.name!r})",
            path=path,
            field="corpus",
        )
    return path


def _raw_rows(path: Path) -> list[tuple[Any, int | None]]:
    """Rows of a corpus file with their line numbers (JSONL, CSV) or None."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        out: list[tuple[Any, int | None]] = []
        with path.open(encoding="utf-8") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if raw.strip():
                    try:
                        out.append((json.loads(raw), lineno))
                    except json.JSONDecodeError as exc:
                        raise ConfigError(
                            f"invalid JSON: {exc.msg}", path=path, line=lineno
                        ) from None
        return out
    if suffix == ".csv":
        import csv

        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            return [(row, reader.line_num) for row in reader]
    if suffix in (".yaml", ".yml", ".json"):
        from .._files import load_data

        data = load_data(path)
        if isinstance(data, dict) and isinstance(data.get("rows"), list):
            data = data["rows"]
        if not isinstance(data, list):
            raise ConfigError("expected a list of rows (or a mapping with `rows:`)", path=path)
        return [(row, None) for row in data]
    raise ConfigError(
        f"unsupported corpus format {suffix!r}", path=path, hint="use .jsonl, .json, .yaml or .csv"
    )


def load_corpus(spec: IndexSpec, path: Path) -> list[dict[str, Any]]:
    """Corpus rows normalized to `{id, text, label, ...other fields}`."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, (raw, line) in enumerate(_raw_rows(path)):
        if not isinstance(raw, dict):
            raise ConfigError("a corpus row must be a mapping/object", path=path, line=line)
        text = raw.get(spec.text_field)
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(
                f"row {i + 1} has no text in {spec.text_field!r}",
                path=path,
                line=line,
                field=spec.text_field,
            )
        row = dict(raw)
        row["id"] = str(raw.get(spec.id_field, i + 1))
        if row["id"] in seen:
            raise ConfigError(
                f"duplicate row id {row['id']!r}", path=path, line=line, field=spec.id_field
            )
        seen.add(row["id"])
        row["text"] = text
        if spec.label_field is not None:
            if raw.get(spec.label_field) is None:
                raise ConfigError(
                    f"row {i + 1} has no label in {spec.label_field!r}",
                    path=path,
                    line=line,
                    field=spec.label_field,
                )
            row["label"] = raw[spec.label_field]
        rows.append(row)
    if not rows:
        raise ConfigError("corpus is empty", path=path)
    return rows


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def index_digest(spec: IndexSpec, corpus_sha256: str, embedder_id: str) -> str:
    """The version of an index: corpus bytes + fields read from it + embedder identity."""
    return _digest(
        {
            "format": _FORMAT,
            "corpus_sha256": corpus_sha256,
            "text_field": spec.text_field,
            "label_field": spec.label_field,
            "id_field": spec.id_field,
            "embedder": embedder_id,
        }
    )


# ---- the index ------------------------------------------------------------------------


class RetrievalIndex:
    """Vectors (L2-normalized float32, one row per corpus row) plus the rows themselves."""

    def __init__(
        self,
        spec: IndexSpec,
        vectors: np.ndarray,
        rows: list[dict[str, Any]],
        *,
        digest: str,
        embedder_id: str,
        embed: EmbedFn | None = None,
        path: Path | None = None,
    ) -> None:
        if len(rows) != vectors.shape[0]:
            raise ValueError(f"{len(rows)} rows but {vectors.shape[0]} vectors")
        self.spec = spec
        self.vectors = vectors
        self.rows = rows
        self.digest = digest
        self.embedder_id = embedder_id
        self.path = path
        self._embed = embed

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"RetrievalIndex({self.spec.name!r}, rows={len(self)}, digest={self.digest!r})"

    # ---- building and loading ---------------------------------------------------------
    @classmethod
    def build(
        cls, spec: IndexSpec, workspace_root: Path | str, cache_dir: Path | str, **kw: Any
    ) -> RetrievalIndex:
        """Embed the workspace's corpus (or reload the stored version with the same digest);
        keywords as `build_from_corpus`."""
        return cls.build_from_corpus(
            spec, _corpus_path(spec, Path(workspace_root)), cache_dir, **kw
        )

    @classmethod
    def build_from_corpus(
        cls,
        spec: IndexSpec,
        corpus: Path,
        cache_dir: Path | str,
        *,
        embed: EmbedFn | None = None,
        embedder_id: str | None = None,
        expected_digest: str | None = None,
    ) -> RetrievalIndex:
        """Embed a corpus file (the workspace's, or the registry's copy of an older version's
        corpus: `expected_digest` checks it is that version), or reload the stored vectors.

        `embed(texts) -> array` defaults to `driftgate.embedding.embed(texts, model=spec.embedder)`;
        tests inject a cheap one. Pass `embedder_id` with a custom `embed` so its vectors are
        stored under their own identity (default: `custom:<function name>`).
        """
        if embed is None:
            from ..embedding import embed as _default_embed
            from ..embedding import embedder_id as _default_embedder_id

            model = spec.embedder

            def embed(texts: list[str]) -> np.ndarray:
                return _default_embed(texts, model=model)

            embedder_id = embedder_id or _default_embedder_id(model)
        elif embedder_id is None:
            embedder_id = f"custom:{getattr(embed, '__qualname__', type(embed).__name__)}"
        digest = index_digest(spec, file_sha256(corpus), embedder_id)
        if expected_digest is not None and digest != expected_digest:
            raise ConfigError(
                f"index {spec.name!r}: rebuilding version {expected_digest} gives {digest} "
                f"(embedder now {embedder_id!r})",
                hint="the embedder's weights changed since this version was registered",
            )
        path = Path(cache_dir) / "indexes" / f"{digest}.npz"
        if path.is_file():
            loaded = cls._read(path, spec, embed)
            if loaded is not None:
                return loaded
        rows = load_corpus(spec, corpus)
        vectors = _normalized(embed([r["text"] for r in rows]), len(rows))
        index = cls(
            spec, vectors, rows, digest=digest, embedder_id=embedder_id, embed=embed, path=path
        )
        index._write(path)
        return index

    def _write(self, path: Path) -> None:
        import numpy as np

        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps(
            {
                "format": _FORMAT,
                "digest": self.digest,
                "embedder": self.embedder_id,
                "rows": self.rows,
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
        # Temp file + rename: a reader never sees a half-written index, and two processes
        # building the same digest at once both end with a complete file.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            np.savez(fh, vectors=self.vectors, meta=np.frombuffer(meta, dtype=np.uint8))
        os.replace(tmp, path)

    @classmethod
    def _read(cls, path: Path, spec: IndexSpec, embed: EmbedFn | None) -> RetrievalIndex | None:
        """Load a stored index; None when the file is unreadable (it is then rebuilt)."""
        import zipfile

        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as data:
                vectors = np.asarray(data["vectors"], dtype=np.float32)
                meta = json.loads(data["meta"].tobytes().decode())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
            return None
        if meta.get("format") != _FORMAT or len(meta.get("rows", [])) != vectors.shape[0]:
            return None
        return cls(
            spec,
            vectors,
            meta["rows"],
            digest=meta["digest"],
            embedder_id=meta["embedder"],
            embed=embed,
            path=path,
        )

    @classmethod
    def open(
        cls, path: Path | str, spec: IndexSpec, *, embed: EmbedFn | None = None
    ) -> RetrievalIndex:
        """Open a stored version by file (e.g. an old digest pinned by a release)."""
        index = cls._read(Path(path), spec, embed)
        if index is None:
            raise ConfigError("not a readable driftgate index file", path=path)
        return index

    # ---- search -----------------------------------------------------------------------
    def _query_vectors(self, texts: list[str]) -> np.ndarray:
        if self._embed is None:
            raise ConfigError(
                f"index {self.spec.name!r} was opened without an embedder; cannot search"
            )
        return _normalized(self._embed(texts), len(texts))

    def search(self, text: str, k: int | None = None) -> list[dict[str, Any]]:
        """The k rows most similar to `text`, best first, each with `score` (cosine)."""
        return self.search_many([text], k)[0]

    def search_many(self, texts: Sequence[str], k: int | None = None) -> list[list[dict[str, Any]]]:
        """Batched `search`: one embedding call for all texts."""
        import numpy as np

        texts = list(texts)
        if not texts:
            return []
        k = min(k if k is not None else self.spec.k, len(self.rows))
        if k < 1:
            raise ValueError("k must be ≥ 1")
        queries = self._query_vectors(texts)
        results: list[list[dict[str, Any]]] = []
        for start in range(0, len(texts), _QUERY_CHUNK):
            scores = queries[start : start + _QUERY_CHUNK] @ self.vectors.T
            for row_scores in scores:
                top = (
                    np.argpartition(-row_scores, k - 1)[:k]
                    if k < len(row_scores)
                    else np.arange(len(row_scores))
                )
                # Sort by score, then by corpus position, so ties are deterministic.
                ranked = sorted(top.tolist(), key=lambda i: (-float(row_scores[i]), i))
                # Rounded: a text's vector differs by float rounding with the batch it was
                # embedded in, and a prompt that renders the scores (`local/knn`'s) must
                # render the same bytes, so the response cache finds its answer.
                results.append(
                    [{**self.rows[i], "score": round(float(row_scores[i]), 6)} for i in ranked]
                )
        return results

    def retrieve(self, text: str, k: int | None = None) -> list[dict[str, Any]]:
        """What prompt templates call as `retrieve(text, k=5)`: `search` on a string."""
        return self.search(str(text), k)

    def retriever(self) -> Callable[..., list[dict[str, Any]]]:
        """The bound `retrieve` function, for a template context."""
        return self.retrieve


def load_index(
    path: Path | str,
    *,
    workspace_root: Path | str,
    cache_dir: Path | str,
    embed: EmbedFn | None = None,
    embedder_id: str | None = None,
) -> RetrievalIndex:
    """Load an index definition file and build (or reload) its index."""
    return RetrievalIndex.build(
        load_index_spec(path), workspace_root, cache_dir, embed=embed, embedder_id=embedder_id
    )


def _normalized(vectors: Any, expected_rows: int) -> np.ndarray:
    """Validate an embedder's output and L2-normalize it (cosine = dot product)."""
    import numpy as np

    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != expected_rows:
        raise ConfigError(f"embedder returned shape {arr.shape}, expected ({expected_rows}, dim)")
    if not np.isfinite(arr).all():
        raise ConfigError("embedder returned NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms == 0, 1.0, norms)
