"""Turning texts into vectors for the distribution signals: the embedder, or TF-IDF.

A vectorizer takes *all* the texts of a comparison at once (both sides) and returns one
row per text, dense or scipy-sparse. That suits both kinds: the embedder embeds each text
on its own (cached by text), and TF-IDF must be fitted on both sides so they share a
vocabulary.

`auto` (the default) uses `driftgate.embedding.embed` (all-MiniLM-L6-v2) when it loads, and
otherwise character n-gram TF-IDF, which needs only scikit-learn: CI machines without
torch still get a working output-shift signal, and tests pass `"tfidf"` or a callable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError

Vectorizer = Callable[[Sequence[str]], Any]


def tfidf(texts: Sequence[str]) -> Any:
    """Character 2–4-gram TF-IDF (L2-normalized rows), fitted on `texts`."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, max_features=20_000
    )
    try:
        return vec.fit_transform([t or "" for t in texts])
    except ValueError:  # every text empty: no vocabulary
        from scipy.sparse import csr_matrix

        return csr_matrix((len(texts), 1))


def embedder(texts: Sequence[str]) -> Any:
    from ..embedding import embed

    return embed([t or "" for t in texts])


class AutoVectorizer:
    """The embedder when it works, TF-IDF otherwise; `name` says which one was used."""

    def __init__(self) -> None:
        self.name = "auto"
        self.fallback_reason: str | None = None
        self._use_embedder: bool | None = None

    def __call__(self, texts: Sequence[str]) -> Any:
        if self._use_embedder is not False:
            try:
                out = embedder(texts)
                self._use_embedder, self.name = True, "embedder"
                return out
            except Exception as exc:  # noqa: BLE001 - no torch, no weights: fall back, say why
                self._use_embedder = False
                self.fallback_reason = f"{type(exc).__name__}: {exc}"[:200]
        self.name = "tfidf"
        return tfidf(texts)


def resolve_vectorizer(spec: str | Vectorizer | None) -> tuple[Vectorizer, str]:
    """(vectorizer, its name) for `auto`, `embedder`, `tfidf` or a callable."""
    if callable(spec):
        return spec, getattr(spec, "name", getattr(spec, "__name__", "custom"))
    if spec in (None, "auto"):
        return AutoVectorizer(), "auto"
    if spec == "tfidf":
        return tfidf, "tfidf"
    if spec == "embedder":
        return embedder, "embedder"
    raise ConfigError(
        f"unknown vectorizer {spec!r}; valid: auto, embedder, tfidf", field="vectorizer"
    )


def vectorizer_name(vectorize: Vectorizer, fallback: str) -> str:
    name = getattr(vectorize, "name", None) or getattr(vectorize, "__name__", None)
    return name if isinstance(name, str) else fallback
