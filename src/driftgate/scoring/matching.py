"""Scorers that compare the meaning-bearing part of an output: a label, a number, or the
text as a whole by edit distance.

    - {type: label-match, aliases: {groceries: [supermarket, food shopping]}}
    - {type: numeric, tolerance: 0.01}              # or rel_tolerance: 0.05
    - {type: similarity, threshold: 0.9}            # normalized Levenshtein, default 0.8
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, field_validator, model_validator

from ._common import OutputScorer, as_list, option_error, short, subject_text, verdict, wanted
from .base import Score, ScoreContext, ScorerConfig, ScorerFailure, scorer
from .parsing import LabelParser, normalize_label

# ---- label-match -------------------------------------------------------------------------

_MEMO_MAX = 4096  # canonical forms kept per scorer (free-text outputs would grow it forever)


@scorer("label-match")
class LabelMatch(OutputScorer):
    """The output's label equals the expected one after normalization (case, surrounding
    whitespace/punctuation/quotes, `_`/`-`) and `aliases`. A list of expected labels
    accepts any of them. When the prompt did not parse a label, the label is the whole
    output or, failing that, the one label (of the prompt's set, the aliases and the
    expected labels) that the output mentions as a whole word."""

    class Config(ScorerConfig):
        value: str | list[str] | None = Field(None, description="Default: the case's `expected`.")
        aliases: dict[str, list[str]] = Field(
            default_factory=dict, description="label → synonyms that count as that label."
        )

        _canon: dict[str, str] = PrivateAttr(default_factory=dict)

        @field_validator("aliases")
        @classmethod
        def _consistent(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
            try:
                _alias_map(v)
            except ValueError as exc:
                raise option_error(str(exc)) from None
            return v

        @model_validator(mode="after")
        def _compile(self) -> LabelMatch.Config:
            self._canon = _alias_map(self.aliases)
            return self

    config: Config
    _CACHE_MAX: ClassVar[int] = 256

    def __init__(self, config: ScorerConfig) -> None:
        super().__init__(config)
        self._parsers: dict[tuple[str, ...], LabelParser] = {}
        # Read once: a pydantic private attribute costs a __getattr__ call per access.
        self._canon: dict[str, str] = self.config._canon
        # Labels repeat from case to case (expected labels, parsed answers): memoized.
        self._canonical: dict[str, str] = {}

    def canonical(self, text: str) -> str:
        canon = self._canonical.get(text)
        if canon is None:
            norm = normalize_label(text)
            canon = self._canon.get(norm, norm)
            if len(self._canonical) >= _MEMO_MAX:
                self._canonical.clear()
            self._canonical[text] = canon
        return canon

    def check(self, ctx: ScoreContext) -> Score:
        wants = as_list(wanted(self.config, ctx))
        accepted = {self.canonical(w) for w in wants}
        raw = ctx.parsed if isinstance(ctx.parsed, str) else (ctx.output or "")
        got = self.canonical(raw)
        if got not in accepted and not isinstance(ctx.parsed, str):
            mentioned = self._mention(raw, ctx.labels, wants)
            if mentioned is not None:
                got = mentioned
        expected = wants[0] if len(wants) == 1 else wants
        if got in accepted:
            return verdict(True, f"label {got!r}")
        reason = f"got {short(got, 40)!r}, expected {expected!r}"
        if ctx.parse_error:
            reason += f" ({ctx.parse_error})"
        return verdict(False, reason)

    def _mention(self, text: str, labels: list[str] | None, wants: list[str]) -> str | None:
        """The canonical form of the one known label (or alias) `text` mentions as a whole word."""
        vocab = tuple(
            sorted(
                {
                    *(labels or ()),
                    *wants,
                    *self.config.aliases,
                    *(s for syn in self.config.aliases.values() for s in syn),
                }
            )
        )
        parser = self._parsers.get(vocab)
        if parser is None:
            if len(self._parsers) >= self._CACHE_MAX:
                self._parsers.clear()
            parser = self._parsers[vocab] = LabelParser(list(vocab))
        # A synonym mentioned with its own label is one label, not an ambiguity.
        found = {self.canonical(m) for m in parser.mentions(text)}
        return found.pop() if len(found) == 1 else None


def _alias_map(aliases: dict[str, list[str]]) -> dict[str, str]:
    """Normalized synonym → normalized label; a synonym of two labels is a ValueError."""
    canon: dict[str, str] = {}
    for label, synonyms in aliases.items():
        target = normalize_label(label)
        for s in synonyms:
            norm = normalize_label(s)
            if canon.get(norm, target) != target:
                raise ValueError(f"alias {s!r} is given for two labels")
            canon[norm] = target
    return canon


# ---- numeric -----------------------------------------------------------------------------

# The first number: optional sign, thousands separators ("1,234.5"), decimals, exponent.
_NUMBER = re.compile(
    r"(?<![\d.])[-+]?(?:\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?"
    r"|(?<![\d.])[-+]?\.\d+(?:[eE][-+]?\d+)?"
)


def first_number(text: str) -> float | None:
    """The first number written in `text` ("about $1,234.50 total" → 1234.5), or None."""
    m = _NUMBER.search(text)
    return float(m.group(0).replace(",", "")) if m else None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return first_number(value)
    return None


@scorer("numeric")
class Numeric(OutputScorer):
    """The first number in the output is within `tolerance` (absolute) or `rel_tolerance`
    (relative to the expected value) of `value` (default: the case's expected answer)."""

    class Config(ScorerConfig):
        value: float | str | None = None
        tolerance: float = Field(0.0, ge=0, description="Absolute tolerance.")
        rel_tolerance: float = Field(0.0, ge=0, description="Relative tolerance, e.g. 0.05 = 5%.")

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        raw_want = wanted(self.config, ctx)
        want = _as_number(raw_want)
        if want is None:
            raise ScorerFailure(f"expected value {raw_want!r} is not a number")
        got = _as_number(ctx.parsed) if ctx.parsed is not None else None
        if got is None:
            got = first_number(subject_text(ctx))
        if got is None:
            return verdict(False, f"no number in {short(subject_text(ctx), 40)!r}")
        allowed = max(self.config.tolerance, self.config.rel_tolerance * abs(want))
        ok = abs(got - want) <= allowed + 1e-12 * max(1.0, abs(want))  # float round-off
        reason = f"got {got:g}, expected {want:g}" + (f" ± {allowed:g}" if allowed else "")
        return verdict(ok, reason, data={"value": got})


# ---- similarity --------------------------------------------------------------------------


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), by Hyyrö's bit-parallel
    algorithm on Python integers: O(len(a) · len(b) / 64) word operations, so two
    5,000-character outputs take milliseconds rather than the seconds of the textbook DP."""
    if a == b:
        return 0
    # Common prefix and suffix never change the distance: drop them first (cheap, common).
    start = 0
    end_a, end_b = len(a), len(b)
    while start < end_a and start < end_b and a[start] == b[start]:
        start += 1
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a, b = a[start:end_a], b[start:end_b]
    if len(a) < len(b):
        a, b = b, a  # the bit vectors run over the shorter string
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict[str, int] = {}
    for i, ch in enumerate(b):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    mask = (1 << m) - 1
    high = 1 << (m - 1)
    pv, mv, dist = mask, 0, m
    for ch in a:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & mask) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & mask
        mh = pv & xh
        if ph & high:
            dist += 1
        elif mh & high:
            dist -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv
    return dist


def similarity(a: str, b: str) -> float:
    """1 − edit distance / length of the longer string: 1.0 identical, 0.0 nothing shared."""
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein(a, b) / longest


@scorer("similarity")
class Similarity(OutputScorer):
    """Normalized Levenshtein similarity of the output to `value` (default: the case's
    `reference`, else its `expected`); passes at `threshold` (default 0.8). With a list of
    values, the closest one counts."""

    DEFAULT_THRESHOLD: ClassVar[float] = 0.8
    binary = False

    class Config(ScorerConfig):
        value: str | list[str] | None = None
        ignore_case: bool = False
        strip: bool = True

    config: Config

    def _norm(self, s: str) -> str:
        s = s.strip() if self.config.strip else s
        return s.casefold() if self.config.ignore_case else s

    def check(self, ctx: ScoreContext) -> Score:
        refs = as_list(wanted(self.config, ctx, reference=True))
        if not refs:
            raise ScorerFailure("nothing to compare with (empty list)")
        got = self._norm(subject_text(ctx))
        best, best_ref = max((similarity(got, self._norm(r)), r) for r in refs)
        threshold = (
            self.config.threshold if self.config.threshold is not None else self.DEFAULT_THRESHOLD
        )
        ok = best >= threshold
        reason = (
            f"similarity {best:.3f} {'≥' if ok else '<'} {threshold:g} to {short(best_ref, 40)!r}"
        )
        return Score(best, ok, reason=reason)


# ---- fuzzy-match -------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = re.compile(r"[^\w\s]")


def fuzzy_normalize(text: str) -> str:
    """OpenAI evals' normalization (SQuAD's): lower case, no punctuation, no articles,
    single spaces."""
    text = _PUNCTUATION.sub("", text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def fuzzy_match(a: str, b: str) -> bool:
    """Either normalized text contains the other (an empty one matches only an empty one)."""
    a, b = fuzzy_normalize(a), fuzzy_normalize(b)
    if not a or not b:
        return a == b
    return a in b or b in a


@scorer("fuzzy-match")
class FuzzyMatch(OutputScorer):
    """OpenAI evals' FuzzyMatch: after normalization (case, punctuation, articles,
    whitespace) the output contains `value` or `value` contains the output; a list
    (an `ideal` list) accepts any of them. Default: the case's `expected`."""

    class Config(ScorerConfig):
        value: str | list[str] | None = Field(None, description="Default: the case's `expected`.")

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        refs = as_list(wanted(self.config, ctx))
        if not refs:
            raise ScorerFailure("nothing to compare with (empty list)")
        got = subject_text(ctx)
        hit = next((r for r in refs if fuzzy_match(got, r)), None)
        if hit is not None:
            return verdict(True, f"fuzzy match with {short(hit, 40)!r}")
        return verdict(False, f"{short(got, 30)!r} and {_listed(refs)} do not contain each other")


def _listed(refs: list[str]) -> str:
    shown = ", ".join(repr(short(r, 30)) for r in refs[:3])
    return shown + (f" (+{len(refs) - 3} more)" if len(refs) > 3 else "")
