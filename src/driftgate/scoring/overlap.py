"""Reference-overlap scorers: edit distance, ROUGE-N and BLEU against a reference text.

    - {type: levenshtein, value: "Bonjour le monde", max_distance: 5}
    - {type: rouge-n, value: "{{ summary }}", n: 1, threshold: 0.75}
    - {type: bleu, value: "The cat sat on the mat.", threshold: 0.5}

They carry promptfoo's assertion names and defaults, so a translated promptfoo config
(`compat/promptfoo.py`) scores as it did there. Without `value`, the case's `reference`
(then `expected`) is the reference; a list of references takes the best match.

Definitions (each small and standard, so a figure can be checked by hand):

* `levenshtein` passes when the edit distance is at most `max_distance` (default 5); its
  value is `1 - distance / max(len)`, the normalized similarity, for reports.
* `rouge-n` is ROUGE-N recall (Lin 2004): the reference's n-grams (clipped counts) found in
  the output over the reference's n-grams; words are lower-cased alphanumeric runs.
* `bleu` is sentence BLEU-4 (Papineni et al. 2002): the geometric mean of the clipped
  1..4-gram precisions times the brevity penalty, no smoothing (a missing 4-gram match
  gives 0, as NLTK's unsmoothed sentence_bleu does); references pooled for clipping, the
  closest reference length for the penalty.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from pydantic import Field

from ._common import OutputScorer, as_list, subject_text, verdict, wanted
from .base import Score, ScoreContext, ScorerConfig, scorer
from .matching import levenshtein

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def rouge_n(output: str, reference: str, n: int = 1) -> float:
    """ROUGE-N recall of `output` against one reference (0 when the reference is shorter than n)."""
    ref = ngrams(words(reference), n)
    total = sum(ref.values())
    if total == 0:
        return 0.0
    got = ngrams(words(output), n)
    return sum(min(c, got[g]) for g, c in ref.items()) / total


def bleu(output: str, references: list[str], max_n: int = 4) -> float:
    """Sentence BLEU with uniform weights up to `max_n`-grams (see the module docstring)."""
    cand = words(output)
    refs = [words(r) for r in references]
    if not cand or not refs:
        return 0.0
    log_sum = 0.0
    for n in range(1, max_n + 1):
        got = ngrams(cand, n)
        total = sum(got.values())
        if total == 0:
            return 0.0
        best: Counter[tuple[str, ...]] = Counter()
        for r in refs:
            best |= ngrams(r, n)  # max count per n-gram over the references
        matched = sum(min(c, best[g]) for g, c in got.items())
        if matched == 0:
            return 0.0
        log_sum += math.log(matched / total) / max_n
    c = len(cand)
    ref_len = min((len(x) for x in refs), key=lambda length: (abs(length - c), length))
    penalty = 1.0 if c > ref_len else math.exp(1 - ref_len / c)
    return penalty * math.exp(log_sum)


class _ReferenceConfig(ScorerConfig):
    value: str | list[str] | None = Field(
        None, description="Reference text(s); default: the case's reference, else expected."
    )


@scorer("levenshtein")
class Levenshtein(OutputScorer):
    """The output is within `max_distance` edits of the reference."""

    binary = False

    class Config(_ReferenceConfig):
        max_distance: int = Field(5, ge=0, description="Edits allowed (promptfoo's threshold).")

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        got = subject_text(ctx)
        best = min(
            as_list(wanted(self.config, ctx, reference=True)), key=lambda r: levenshtein(got, r)
        )
        dist = levenshtein(got, best)
        longest = max(len(got), len(best)) or 1
        ok = dist <= self.config.max_distance
        score = verdict(ok, f"edit distance {dist} {'≤' if ok else '>'} {self.config.max_distance}")
        score.value = 1.0 - dist / longest
        return score


@scorer("rouge-n")
class RougeN(OutputScorer):
    """ROUGE-N recall against the reference; passes at `threshold` (default 0.75)."""

    binary = False

    class Config(_ReferenceConfig):
        n: int = Field(1, ge=1, le=4, description="n-gram length.")
        threshold: float | None = Field(0.75, ge=0, le=1)

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        got = subject_text(ctx)
        refs = as_list(wanted(self.config, ctx, reference=True))
        value = max(rouge_n(got, r, self.config.n) for r in refs)
        return Score(value, True, reason=f"ROUGE-{self.config.n} recall {value:.3f}")


@scorer("bleu")
class Bleu(OutputScorer):
    """Sentence BLEU-4 against the reference(s); passes at `threshold` (default 0.5)."""

    binary = False

    class Config(_ReferenceConfig):
        threshold: float | None = Field(0.5, ge=0, le=1)

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        value = bleu(subject_text(ctx), as_list(wanted(self.config, ctx, reference=True)))
        return Score(value, True, reason=f"BLEU {value:.3f}")
