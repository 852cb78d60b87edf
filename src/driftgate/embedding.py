"""Sentence embeddings: L2-normalized float32 rows, cached by text.

    embed(["a text", "another"])                      # default: all-MiniLM-L6-v2, offline
    embed(texts, "path/to/sentence-transformers-model")
    embed(texts, "litellm/text-embedding-3-small")    # any litellm embedding model

Embedding the same text twice is the common case (a golden set's references, the label set
of a prompt, a corpus re-indexed after a small change), so every vector is cached under
sha256(embedder id, text): in memory and in a SQLite file under `$DRIFTGATE_HOME`
(`embeddings.sqlite`, shared by processes; WAL mode). The embedder id names the weights by
checksum, so changing the model can never serve stale vectors.

Other embedders register with `register_embedder(prefix, factory)` (tests use this for a
torch-free fake). Nothing here imports torch, sentence-transformers or litellm until a text
actually needs embedding.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import model_files
from .errors import ConfigError
from .errors import EmbeddingError as EmbeddingError  # defined there, re-exported

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from . import _minilm

DEFAULT_EMBEDDER = "all-minilm-l6-v2"
MEMORY_ENTRIES = 50_000  # ~77 MB of 384-d vectors
COALESCE_S = 0.002  # aembed: how long concurrent callers are gathered into one batch


class Embedder:
    """Turns texts into vectors; subclasses implement `encode` (no caching, no normalizing)."""

    def __init__(self, id: str) -> None:
        self.id = id
        self.lock = threading.Lock()  # models are not guaranteed re-entrant

    def encode(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, path: str, id: str) -> None:
        super().__init__(id)
        self.path = path
        self._model: SentenceTransformer | None = None

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            model_files.offline_hf()
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(self.path, device="cpu")
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"cannot load sentence-transformers model: {exc}", path=self.path
                ) from None
        return self._model.encode(
            texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False
        )


class MiniLMEmbedder(Embedder):
    """A sentence-transformers folder that is BERT + mean pooling (+ normalize), the default
    embedder among them, run by `_minilm` in plain torch: the same vectors (tests hold them
    to sentence-transformers'), without the seconds `import sentence_transformers` costs."""

    def __init__(self, path: Path, id: str) -> None:
        super().__init__(id)
        self.path = path
        self._encoder: _minilm.MiniLMEncoder | None = None

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            from . import _minilm

            self._encoder = _minilm.MiniLMEncoder(self.path)
        return self._encoder.encode(texts)


def _local_embedder(folder: Path, id: str) -> Embedder:
    """The fast runtime when the folder's pipeline fits it, else sentence-transformers."""
    from . import _minilm  # reads JSON only; torch waits until the first encode

    if _minilm.supported(folder):
        return MiniLMEmbedder(folder, id)
    return SentenceTransformerEmbedder(str(folder), id)


class LiteLLMEmbedder(Embedder):
    BATCH = 256  # inputs per request; providers cap it (OpenAI: 2048)

    def __init__(self, model: str) -> None:
        super().__init__(f"litellm/{model}")
        self.model = model

    def encode(self, texts: list[str]) -> np.ndarray:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-table fetch
        import litellm

        rows: list[list[float]] = []
        for i in range(0, len(texts), self.BATCH):
            try:
                resp = litellm.embedding(model=self.model, input=texts[i : i + self.BATCH])
            except Exception as exc:  # noqa: BLE001 - litellm raises many provider types
                raise EmbeddingError(f"litellm embedding {self.model!r} failed: {exc}") from None
            data = sorted(resp.data, key=lambda d: d["index"])
            rows.extend(d["embedding"] for d in data)
        return np.asarray(rows, dtype=np.float32)


EmbedderFactory = Callable[[str], Embedder]
_FACTORIES: dict[str, EmbedderFactory] = {"litellm": LiteLLMEmbedder}
_EMBEDDERS: dict[str, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def register_embedder(prefix: str, factory: EmbedderFactory) -> None:
    """Model ids `PREFIX/REST` are built by `factory(REST)`; its `id` must change when its
    weights do (it keys the cache)."""
    _FACTORIES[prefix] = factory
    with _EMBEDDERS_LOCK:  # drop instances built by a previous factory of that prefix
        for key in [k for k in _EMBEDDERS if k.startswith(prefix + "/")]:
            del _EMBEDDERS[key]


def _weights_digest(folder: Path) -> str:
    """sha256 over a local model folder's weight files (name + content)."""
    h = hashlib.sha256()
    files = sorted(
        p for p in folder.rglob("*") if p.suffix in {".safetensors", ".bin", ".pt"} and p.is_file()
    )
    if not files:
        raise ConfigError("no weight files (*.safetensors, *.bin) in the model folder", path=folder)
    for p in files:
        h.update(str(p.relative_to(folder)).encode() + b"\0")
        h.update(bytes.fromhex(model_files.sha256_file(p)))
    return h.hexdigest()


def get_embedder(model: str | None = None) -> Embedder:
    """The (process-wide, shared) embedder for a model id."""
    key = model or DEFAULT_EMBEDDER
    # Model names are matched case-insensitively ("all-MiniLM-L6-v2" is the upstream spelling;
    # also accept the "sentence-transformers/" hub prefix for the embedded default).
    lowered = key.lower().removeprefix("sentence-transformers/")
    if lowered in model_files.MODELS:
        key = lowered
    with _EMBEDDERS_LOCK:
        found = _EMBEDDERS.get(key)
    if found is not None:
        return found
    prefix, sep, rest = key.partition("/")
    if sep and prefix in _FACTORIES:
        emb = _FACTORIES[prefix](rest)
    elif key in model_files.MODELS and model_files.MODELS[key].kind == "embedder":
        spec = model_files.MODELS[key]
        folder = model_files.model_dir(key)  # raises "run driftgate models pull …" when absent
        emb = _local_embedder(folder, f"{key}@sha256:{spec.sha256[:16]}")
    else:
        folder = Path(key).expanduser()
        if not folder.is_dir():
            folder = _hub_snapshot(key)
        emb = _local_embedder(folder, f"st:{folder.name}@sha256:{_weights_digest(folder)[:16]}")
    with _EMBEDDERS_LOCK:
        return _EMBEDDERS.setdefault(key, emb)


def _hub_snapshot(name: str) -> Path:
    """A sentence-transformers hub name, found in the local Hugging Face cache (offline)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, bad name, hub lib missing: one message
        raise ConfigError(
            f"embedding model {name!r} is neither a folder nor in the local Hugging Face cache",
            field="model",
            hint=f"use the default ({DEFAULT_EMBEDDER}), a model folder, or litellm/<model>",
        ) from None


def embedder_id(model: str | None = None) -> str:
    """A stable id of the embedder, including its weights' checksum (for index digests)."""
    return get_embedder(model).id


# ---- cache ------------------------------------------------------------------------------


class _Cache:
    """Memory LRU in front of a SQLite table of key → float32 bytes."""

    def __init__(self) -> None:
        self.memory: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._db_path: Path | None = None

    def _conn(self) -> sqlite3.Connection | None:
        path = model_files.home() / "embeddings.sqlite"
        if self._db is not None and self._db_path == path:
            return self._db
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL)"
            )
        except (OSError, sqlite3.Error):
            return None  # a read-only home: memory caching only
        self._db, self._db_path = db, path
        return db

    def get(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self.lock:
            for k in keys:
                v = self.memory.get(k)
                if v is not None:
                    self.memory.move_to_end(k)
                    found[k] = v
            missing = [k for k in keys if k not in found]
            db = self._conn() if missing else None
            if db is not None:
                for i in range(0, len(missing), 500):  # SQLite caps bound parameters
                    part = missing[i : i + 500]
                    marks = ",".join("?" * len(part))
                    for k, blob in db.execute(
                        f"SELECT key, vec FROM vectors WHERE key IN ({marks})", part
                    ):
                        found[k] = self._remember(k, np.frombuffer(blob, dtype=np.float32))
        return found

    def put(self, items: dict[bytes, np.ndarray]) -> None:
        with self.lock:
            for k, v in items.items():
                self._remember(k, v)
            db = self._conn()
            if db is not None:
                try:
                    db.executemany(
                        "INSERT OR IGNORE INTO vectors (key, vec) VALUES (?, ?)",
                        [(k, v.astype(np.float32).tobytes()) for k, v in items.items()],
                    )
                except sqlite3.Error:
                    pass  # a busy or read-only file costs speed, never correctness

    def _remember(self, k: bytes, v: np.ndarray) -> np.ndarray:
        self.memory[k] = v
        if len(self.memory) > MEMORY_ENTRIES:
            self.memory.popitem(last=False)
        return v


_CACHE = _Cache()


def _key(embedder: str, text: str) -> bytes:
    return hashlib.sha256(embedder.encode() + b"\0" + text.encode()).digest()


def normalize(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norms == 0, 1.0, norms)


def embed(texts: Sequence[str], model: str | None = None, *, cache: bool = True) -> np.ndarray:
    """Embed texts: an (n, d) float32 array of L2-normalized rows, in input order."""
    texts = list(texts)
    emb = get_embedder(model)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    keys = [_key(emb.id, t) for t in texts]
    found = _CACHE.get(keys) if cache else {}
    todo: dict[bytes, str] = {}
    for k, t in zip(keys, texts, strict=True):
        if k not in found:
            todo.setdefault(k, t)  # a text repeated within one call is embedded once
    if todo:
        with emb.lock:
            vectors = normalize(emb.encode(list(todo.values())))
        if vectors.shape[0] != len(todo):
            raise EmbeddingError(
                f"embedder {emb.id} returned {vectors.shape[0]} vectors for {len(todo)} texts"
            )
        fresh = dict(zip(todo, vectors, strict=True))
        if cache:
            _CACHE.put(fresh)
        found.update(fresh)
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


def cosine(a: np.ndarray | Sequence[float], b: np.ndarray | Sequence[float]) -> float | np.ndarray:
    """Cosine similarity: a float for two vectors, a matrix for (n, d) × (m, d)."""
    x, y = normalize(np.atleast_2d(np.asarray(a))), normalize(np.atleast_2d(np.asarray(b)))
    sims = x @ y.T
    if np.ndim(a) == 1 and np.ndim(b) == 1:
        return float(sims[0, 0])
    return sims


# ---- async, coalesced -------------------------------------------------------------------


class _Coalescer:
    """Gathers the texts of concurrent `aembed` calls (scorers running side by side) into
    one `embed` call on a worker thread: one batch through the model instead of many."""

    def __init__(self, model: str | None) -> None:
        self.model = model
        self.pending: list[tuple[list[str], asyncio.Future[np.ndarray]]] = []

    async def submit(self, texts: list[str]) -> np.ndarray:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[np.ndarray] = loop.create_future()
        self.pending.append((texts, fut))
        if len(self.pending) == 1:
            loop.call_later(COALESCE_S, lambda: loop.create_task(self._flush()))
        return await fut

    async def _flush(self) -> None:
        batch, self.pending = self.pending, []
        flat = [t for texts, _ in batch for t in texts]
        try:
            vectors = await asyncio.to_thread(embed, flat, self.model)
        except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        start = 0
        for texts, fut in batch:
            if not fut.done():
                fut.set_result(vectors[start : start + len(texts)])
            start += len(texts)


_COALESCERS: dict[tuple[int, str | None], _Coalescer] = {}


async def aembed(texts: Sequence[str], model: str | None = None) -> np.ndarray:
    """`embed` for async code: runs off the event loop, batching concurrent callers."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    key = (id(asyncio.get_running_loop()), model)
    co = _COALESCERS.get(key)
    if co is None:
        if len(_COALESCERS) > 64:  # loops come and go (tests, asyncio.run per command)
            _COALESCERS.clear()
        co = _COALESCERS[key] = _Coalescer(model)
    return await co.submit(texts)
