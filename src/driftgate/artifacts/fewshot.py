"""Few-shot sets: labeled examples a prompt shows the model, selected from labeled data.

A few-shot set file (YAML or JSON, in `prompts/fewshot/NAME.yaml`):

    name: categorize
    description: One or two examples per category, chosen for per-label diversity.
    strategy: diverse                  # how the examples were chosen: diverse | first | manual
    provenance:                        # where they came from, so a re-selection is reproducible
      source: evalsets/merchants.jsonl
      seed: 7
      created: '2024-04-01'
      candidates: 200
      representation: tfidf-char-2-4
    examples:
      - input: {description: TESCO STORES 2231 LONDON}
        output: groceries
        label: groceries

A prompt names the set with `fewshot: categorize`; the engine hands the examples to the
template as `examples`, a list of `{input, output}` mappings.

"Retraining" a few-shot set means selecting it again from fresh labeled rows with
`select_fewshot` and writing it with `save_fewshot`; its `digest` changes only when the
examples do, so a re-selection that picks the same examples is the same version.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from .._digest import digest as _digest
from .._files import ARTIFACT_NAME
from .._strict import Strict
from ..errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

Strategy = Literal["diverse", "first"]
EmbedFn = Callable[[list[str]], "np.ndarray"]

# The text representation used by the "diverse" strategy when no embedder is given:
# character n-grams survive the token soup of bank statements ("TESCO-EXP/LND") far
# better than word tokens, and need no model download.
TFIDF_REPRESENTATION = "tfidf-char-2-4"
# Diversity is computed among at most this many rows of one label (a seeded sample).
MAX_CANDIDATES_PER_LABEL = 2000


class FewShotExample(Strict):
    input: dict[str, Any] = Field(
        description="Template variables of the example (e.g. description)."
    )
    output: str = Field(description="The answer the model should give for this input.")
    label: str | None = Field(None, description="Class label, when the task is classification.")

    def as_template_value(self) -> dict[str, Any]:
        """What a template sees in `examples`: `{input, output}` (plus `label` when set)."""
        out: dict[str, Any] = {"input": dict(self.input), "output": self.output}
        if self.label is not None:
            out["label"] = self.label
        return out


class Provenance(Strict):
    source: str | None = Field(
        None, description="File (workspace-relative) the examples were taken from."
    )
    seed: int | None = None
    created: str | None = Field(None, description="ISO date the selection was made.")
    candidates: int | None = Field(None, ge=0, description="How many labeled rows were considered.")
    representation: str | None = Field(
        None, description="Vectors used for diversity: an embedder id or tfidf-char-2-4."
    )


class FewShotSet(Strict):
    name: str = Field(pattern=ARTIFACT_NAME)
    description: str | None = None
    strategy: Literal["diverse", "first", "manual"] = "manual"
    provenance: Provenance = Field(default_factory=Provenance)
    examples: list[FewShotExample] = Field(min_length=1)

    @property
    def digest(self) -> str:
        """Version identity: the examples (and name) only.

        Description and provenance are left out on purpose: re-selecting on another day
        that yields the same examples is the same version, not a new one.
        """
        return _digest(
            {"name": self.name, "examples": [e.model_dump(mode="json") for e in self.examples]}
        )

    @property
    def labels(self) -> list[str]:
        """Distinct labels of the examples, in first-seen order."""
        return list(dict.fromkeys(e.label for e in self.examples if e.label is not None))

    def template_examples(self) -> list[dict[str, Any]]:
        return [e.as_template_value() for e in self.examples]


def load_fewshot(path: Path | str) -> FewShotSet:
    """Load a few-shot set file; the name defaults to the file stem."""
    from .._files import load_named

    return load_named(FewShotSet, Path(path))


def find_fewshot(
    prompts_dir: Path | str, name: str, *, root: Path | str | None = None
) -> FewShotSet:
    """The few-shot set `name` of a workspace (`prompts/fewshot/NAME.yaml|yml|json`); the
    file, symlinks followed, must be inside `root` (the workspace; default: that folder)."""
    from .._files import find_in_folder

    folder = Path(prompts_dir) / "fewshot"
    return load_fewshot(
        find_in_folder(folder, name, "few-shot set", root=Path(root) if root else None)
    )


def save_fewshot(fewshot: FewShotSet, path: Path | str) -> Path:
    """Write a few-shot set as YAML, byte-stable for the same content (atomic replace)."""
    import os

    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = fewshot.model_dump(mode="json", exclude_none=True)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


# ---- selection ------------------------------------------------------------------------


def _normalize_row(
    row: Any, text_field: str, label_field: str, input_field: str, index: int
) -> tuple[str, dict[str, Any], str]:
    """(text to compare, example input, label) from a corpus row or a golden-set case."""
    if hasattr(row, "model_dump"):  # a driftgate.evalset.Case
        row = row.model_dump()
    if not isinstance(row, Mapping):
        raise ConfigError(f"row {index + 1}: expected a mapping, got {type(row).__name__}")
    if isinstance(row.get("vars"), Mapping):
        # Case-shaped: the input is the case's vars, the label its `expected`.
        variables = dict(row["vars"])
        label = row.get("expected")
        text = (
            str(variables[text_field])
            if text_field in variables
            else " ".join(str(v) for v in variables.values())
        )
        if label is None:
            raise ConfigError(f"row {index + 1} (case {row.get('id')!r}) has no `expected` label")
        return text, variables, str(label)
    if text_field not in row:
        raise ConfigError(f"row {index + 1} has no {text_field!r} field", field=text_field)
    if row.get(label_field) is None:
        raise ConfigError(f"row {index + 1} has no {label_field!r} label", field=label_field)
    text = str(row[text_field])
    return text, {input_field: text}, str(row[label_field])


def _char_ngrams(text: str) -> Counter[str]:
    """Character 2–4-grams within space-padded words (scikit-learn's `char_wb` analyzer)."""
    grams: Counter[str] = Counter()
    for word in text.lower().split():
        padded = f" {word} "
        for n in range(2, 5):
            if len(padded) <= n:
                grams[padded] += 1
                break
            for i in range(len(padded) - n + 1):
                grams[padded[i : i + n]] += 1
    return grams


def _tfidf_by_label(texts: list[str], by_label: dict[str, list[int]]) -> dict[str, np.ndarray]:
    """Per-label dense TF-IDF matrices (global IDF; only the label's own n-gram columns).

    Written out rather than taken from scikit-learn: the same formula as its
    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True) — smooth
    idf, l2-normalized rows — but without its import (`import_sklearn_s`, bench/import_costs.py),
    and with a result that cannot
    change under a library upgrade (the committed example files are reproduced byte for
    byte). Cosine distance only compares rows of one label, so each label's matrix needs
    only the columns its rows use, which keeps it small.
    """
    import numpy as np

    grams = [_char_ngrams(t) for t in texts]
    df: Counter[str] = Counter()
    for row_grams in grams:
        df.update(row_grams.keys())
    n = len(texts)
    idf = {g: math.log((1 + n) / (1 + d)) + 1.0 for g, d in df.items()}
    out: dict[str, np.ndarray] = {}
    for label, idx in by_label.items():
        cols: dict[str, int] = {}
        for i in idx:
            for g in grams[i]:
                cols.setdefault(g, len(cols))
        matrix = np.zeros((len(idx), max(len(cols), 1)), dtype=np.float64)
        for r, i in enumerate(idx):
            for g, count in grams[i].items():
                matrix[r, cols[g]] = (1.0 + math.log(count)) * idf[g]
        out[label] = _l2_rows(matrix)
    return out


def _l2_rows(matrix: np.ndarray) -> np.ndarray:
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def _diverse_pick(matrix: np.ndarray, count: int) -> list[int]:
    """Farthest-point selection within one label's candidates (rows l2-normalized).

    The first pick is the most typical row (highest similarity to the label's centroid),
    so `per_label=1` yields a representative example rather than an outlier; each further
    pick maximizes its minimum distance to the rows already picked (max-min diversity), so
    a second example covers a different surface form (e.g. the new bank format). Ties go
    to the earliest row, which keeps the selection deterministic.
    """
    import numpy as np

    n = matrix.shape[0]
    centroid = matrix.mean(axis=0)
    # Rounded so that last-bit differences between BLAS builds cannot flip a near-tie:
    # the committed example files must be reproduced byte for byte on any machine.
    first = int(np.argmax(np.round(matrix @ centroid, 9)))
    picked = [first]
    min_dist = np.round(1.0 - matrix @ matrix[first], 9)
    min_dist[first] = -np.inf
    while len(picked) < min(count, n):
        nxt = int(np.argmax(min_dist))
        picked.append(nxt)
        min_dist = np.minimum(min_dist, np.round(1.0 - matrix @ matrix[nxt], 9))
        min_dist[picked] = -np.inf
    return picked


def select_fewshot(
    rows: Iterable[Any],
    per_label: int = 1,
    strategy: Strategy = "diverse",
    seed: int | None = 0,
    *,
    text_field: str = "text",
    label_field: str = "label",
    input_field: str = "description",
    embed: EmbedFn | None = None,
) -> list[FewShotExample]:
    """Select `per_label` examples for every label of `rows`.

    `rows` are corpus rows (`{text, label, ...}`, read through `text_field`/`label_field`;
    the example input becomes `{input_field: text}`) or golden-set cases (`{vars, expected}`
    or `Case` objects; the input is the case's vars). `strategy="first"` takes the first
    rows of each label in input order; `"diverse"` uses max-min diversity (see
    `_diverse_pick`) on `embed(texts)` when an embedder is given, else on character
    n-gram TF-IDF (`_tfidf_by_label`). Exact duplicate texts are considered once.

    The result is interleaved round-robin by label; `seed` shuffles the label order so no
    label is systematically last (small models tend to copy the last example's answer).
    """
    if per_label < 1:
        raise ConfigError(f"per_label must be ≥ 1, got {per_label}", field="per_label")
    if strategy not in ("diverse", "first"):
        raise ConfigError(
            f"unknown few-shot strategy {strategy!r}; valid: diverse, first", field="strategy"
        )
    corpus = _Corpus.of(rows, (text_field, label_field, input_field))
    if strategy == "first":
        chosen = {label: idx[:per_label] for label, idx in corpus.by_label.items()}
    else:
        chosen = _diverse_choice(corpus, per_label, seed, embed)
    return _interleave(corpus, chosen, per_label, seed)


@dataclass
class _Corpus:
    """Distinct (text, label) rows, read through the (text, label, input) field names:
    texts and example inputs by position, positions by label."""

    texts: list[str] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    by_label: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[Any], fields: tuple[str, str, str]) -> _Corpus:
        corpus = cls()
        seen: set[tuple[str, str]] = set()
        for i, row in enumerate(rows):
            text, inp, label = _normalize_row(row, *fields, i)
            if (text, label) in seen:
                continue
            seen.add((text, label))
            corpus.by_label.setdefault(label, []).append(len(corpus.texts))
            corpus.texts.append(text)
            corpus.inputs.append(inp)
        if not corpus.texts:
            raise ConfigError("no labeled rows to select few-shot examples from")
        return corpus


def _diverse_choice(
    corpus: _Corpus, per_label: int, seed: int | None, embed: EmbedFn | None
) -> dict[str, list[int]]:
    """Each label's `per_label` most diverse rows (`_diverse_pick`); on large corpora, among
    a seeded sample of the label's rows, to bound time and memory."""
    sample_rng = random.Random(seed or 0)
    candidates = {
        label: idx
        if len(idx) <= MAX_CANDIDATES_PER_LABEL
        else sorted(sample_rng.sample(idx, MAX_CANDIDATES_PER_LABEL))
        for label, idx in corpus.by_label.items()
    }
    if embed is not None:
        matrices = _embedded_by_label(corpus.texts, candidates, embed)
    else:
        matrices = _tfidf_by_label(corpus.texts, candidates)
    return {
        label: [idx[j] for j in _diverse_pick(matrices[label], per_label)]
        for label, idx in candidates.items()
    }


def _embedded_by_label(
    texts: list[str], candidates: dict[str, list[int]], embed: EmbedFn
) -> dict[str, np.ndarray]:
    """Per-label matrices of l2-normalized embeddings (one `embed` call for every text)."""
    import numpy as np

    used = sorted({i for idx in candidates.values() for i in idx})
    vectors = _l2_rows(np.asarray(embed([texts[i] for i in used]), dtype=np.float64))
    if vectors.shape[0] != len(used):
        raise ConfigError(f"embedder returned {vectors.shape[0]} vectors for {len(used)} texts")
    row_of = {i: r for r, i in enumerate(used)}
    return {label: vectors[[row_of[i] for i in idx]] for label, idx in candidates.items()}


def _interleave(
    corpus: _Corpus, chosen: dict[str, list[int]], per_label: int, seed: int | None
) -> list[FewShotExample]:
    """Round-robin by label, in an order shuffled by `seed` (None: first-seen order)."""
    labels = list(corpus.by_label)
    if seed is not None:
        random.Random(seed).shuffle(labels)
    out: list[FewShotExample] = []
    for rank in range(per_label):
        for label in labels:
            if rank < len(chosen[label]):
                i = chosen[label][rank]
                out.append(FewShotExample(input=corpus.inputs[i], output=label, label=label))
    return out


def build_fewshot(
    name: str,
    rows: Sequence[Any],
    *,
    per_label: int = 1,
    strategy: Strategy = "diverse",
    seed: int | None = 0,
    description: str | None = None,
    source: str | None = None,
    created: str | None = None,
    embed: EmbedFn | None = None,
    embedder_id: str | None = None,
    **fields: str,
) -> FewShotSet:
    """Select examples from `rows` and wrap them with their provenance."""
    examples = select_fewshot(rows, per_label, strategy, seed, embed=embed, **fields)
    representation = None
    if strategy == "diverse":
        representation = embedder_id or (
            "custom-embedder" if embed is not None else TFIDF_REPRESENTATION
        )
    return FewShotSet(
        name=name,
        description=description,
        strategy=strategy,
        provenance=Provenance(
            source=source,
            seed=seed,
            created=created,
            candidates=len(rows),
            representation=representation,
        ),
        examples=examples,
    )
