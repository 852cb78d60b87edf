"""Scorers of text: equality, substrings, prefixes, regular expressions and lengths.

Names and options follow promptfoo's assertion types, so a promptfoo user reads a suite
file without a manual:

    - {type: equals, value: "Paris", ignore_case: true}
    - {type: icontains-any, value: [refund, money back]}
    - {type: regex, pattern: '^\\d{4}-\\d{2}-\\d{2}$', flags: m}
    - {type: length, max_words: 50}
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from ._common import (
    OutputScorer,
    as_list,
    json_equal,
    option_error,
    render,
    short,
    subject,
    subject_text,
    verdict,
    wanted,
)
from .base import Score, ScoreContext, ScorerConfig, ScorerFailure, scorer

# ---- equals ------------------------------------------------------------------------------


@scorer("equals")
class Equals(OutputScorer):
    """The output equals `value` (default: the case's expected answer).

    Strings compare after stripping (and case-folding with `ignore_case`); a non-string
    value (number, list, mapping) compares with the parsed JSON output, or with the raw
    output read as JSON — so `value: 42` matches the output "42".
    """

    class Config(ScorerConfig):
        value: Any = Field(None, description="Expected output; default: the case's `expected`.")
        ignore_case: bool = False
        strip: bool = Field(True, description="Ignore leading/trailing whitespace.")

    config: Config

    def _norm(self, s: str) -> str:
        if self.config.strip:
            s = s.strip()
        return s.casefold() if self.config.ignore_case else s

    def check(self, ctx: ScoreContext) -> Score:
        want = wanted(self.config, ctx, reference=False)
        if isinstance(want, str):
            got = subject_text(ctx)
            ok = self._norm(got) == self._norm(want)
            return verdict(ok, f"{'equals' if ok else 'differs from'} {short(want)!r}")
        got = subject(ctx)
        if isinstance(got, str):
            try:
                got = json.loads(got)
            except json.JSONDecodeError:
                return verdict(
                    False, f"output {short(got)!r} is not the JSON value {short(json.dumps(want))}"
                )
        ok = json_equal(got, want)
        return verdict(
            ok,
            f"{'equals' if ok else 'differs from'} {short(json.dumps(want, ensure_ascii=False))}",
        )


# ---- substrings --------------------------------------------------------------------------


class _ContainsConfig(ScorerConfig):
    value: str | int | float | list[str | int | float] | None = Field(
        None, description="Substring(s) to look for; default: the case's `expected`."
    )


class _Contains(OutputScorer):
    """Shared by the contains family: `mode` is all/any, `fold` ignores case."""

    Config = _ContainsConfig
    mode: ClassVar[str] = "all"
    fold: ClassVar[bool] = False

    def check(self, ctx: ScoreContext) -> Score:
        needles = as_list(wanted(self.config, ctx))
        if not needles:
            return verdict(False, "nothing to look for (empty list)")
        text = subject_text(ctx)
        if self.fold:
            text = text.casefold()
        found = [n for n in needles if (n.casefold() if self.fold else n) in text]
        missing = [n for n in needles if n not in found]
        if self.mode == "any":
            ok = bool(found)
            reason = f"found {short(found[0])!r}" if ok else f"none of {_quoted(needles)} found"
            return verdict(ok, reason)
        # `all`: the value is the share found, so a threshold can accept partial coverage.
        ok = not missing
        reason = "found all" if ok else f"missing {_quoted(missing)}"
        if len(needles) == 1:
            reason = f"found {short(needles[0])!r}" if ok else f"{short(needles[0])!r} not found"
        return Score(len(found) / len(needles), ok, reason=reason)


def _quoted(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(short(i, 40)) for i in items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


@scorer("contains")
class Contains(_Contains):
    """The output contains `value` (every item, when it is a list)."""


@scorer("icontains")
class IContains(_Contains):
    fold = True


@scorer("contains-all")
class ContainsAll(_Contains):
    pass


@scorer("icontains-all")
class IContainsAll(_Contains):
    fold = True


@scorer("contains-any")
class ContainsAny(_Contains):
    mode = "any"


@scorer("icontains-any")
class IContainsAny(_Contains):
    mode = "any"
    fold = True


@scorer("starts-with")
class StartsWith(OutputScorer):
    """The output (leading whitespace ignored) starts with `value` (any item of a list)."""

    class Config(ScorerConfig):
        value: str | list[str] | None = None
        ignore_case: bool = False

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        prefixes = as_list(wanted(self.config, ctx))
        text = subject_text(ctx).lstrip()
        if self.config.ignore_case:
            text, prefixes = text.casefold(), [p.casefold() for p in prefixes]
        hit = next((p for p in prefixes if text.startswith(p)), None)
        if hit is not None:
            return verdict(True, f"starts with {short(hit)!r}")
        return verdict(False, f"starts with {short(text, 30)!r}, not {_quoted(prefixes)}")


# ---- regex -------------------------------------------------------------------------------

_FLAGS = {
    "i": re.IGNORECASE, "ignorecase": re.IGNORECASE,
    "m": re.MULTILINE, "multiline": re.MULTILINE,
    "s": re.DOTALL, "dotall": re.DOTALL,
    "x": re.VERBOSE, "verbose": re.VERBOSE,
    "a": re.ASCII, "ascii": re.ASCII,
}  # fmt: skip


@scorer("regex")
class Regex(OutputScorer):
    """The output matches `pattern` somewhere (re.search); `flags` like "im" or [IGNORECASE].
    A pattern may use the case's variables (`'^{{ code }}-\\d+$'`), as `contains` values do:
    it renders per case (values inserted as written: `| e` is not needed nor offered)."""

    class Config(ScorerConfig):
        templated = frozenset({"pattern"})
        # `flags` first: validators run in field order, and the pattern compiles with them.
        flags: str | list[str] = ""
        pattern: str

        _compiled: re.Pattern[str] = PrivateAttr()

        @field_validator("flags")
        @classmethod
        def _known_flags(cls, v: str | list[str]) -> str | list[str]:
            for f in _flag_names(v):
                if f not in _FLAGS:
                    raise option_error(f"unknown regex flag {f!r}; valid: i, m, s, x, a")
            return v

        @field_validator("pattern")
        @classmethod
        def _compiles(cls, v: str, info: ValidationInfo) -> str:
            if _templated(v):
                return v  # compiled per case, once rendered
            try:
                re.compile(v, _flag_bits(info.data.get("flags", "")))
            except re.error as exc:
                raise option_error(f"invalid regular expression {v!r}: {exc}") from None
            return v

        @model_validator(mode="after")
        def _compile(self) -> Regex.Config:
            if not _templated(self.pattern):
                self._compiled = re.compile(self.pattern, _flag_bits(self.flags))
            return self

    config: Config

    def __init__(self, config: ScorerConfig) -> None:
        super().__init__(config)
        self._per_case: dict[str, re.Pattern[str]] = {}  # rendered pattern → compiled

    def _pattern(self, ctx: ScoreContext) -> re.Pattern[str]:
        c = self.config
        if not _templated(c.pattern):
            return c._compiled
        where = f"scorer {c.type!r} option `pattern`"
        text = render(c.pattern, ctx, where=where)
        found = self._per_case.get(text)
        if found is None:
            try:
                found = re.compile(text, _flag_bits(c.flags))
            except re.error as exc:
                raise ScorerFailure(
                    f"{where}: case {ctx.case_id!r}: rendered {short(text, 60)!r} is not a "
                    f"regular expression: {exc}"
                ) from None
            if len(self._per_case) >= 1024:  # one per distinct case value: bounded
                self._per_case.clear()
            self._per_case[text] = found
        return found

    def check(self, ctx: ScoreContext) -> Score:
        pattern = self._pattern(ctx)
        m = pattern.search(subject_text(ctx))
        if m is None:
            return verdict(False, f"no match for /{short(pattern.pattern, 60)}/")
        return verdict(True, f"matched {short(m.group(0), 60)!r}")


def _templated(text: str) -> bool:
    return "{{" in text or "{%" in text


def _flag_bits(v: str | list[str]) -> int:
    bits = 0
    for f in _flag_names(v):
        bits |= _FLAGS.get(f, 0)
    return bits


def _flag_names(v: str | list[str]) -> list[str]:
    if isinstance(v, str):
        return [c.lower() for c in v if not c.isspace() and c not in ",|"]
    return [f.strip().lower().removeprefix("re.") for f in v]


# ---- length ------------------------------------------------------------------------------


@scorer("length")
class Length(OutputScorer):
    """The raw output's length in words (whitespace-separated) and characters is within
    bounds. It measures what the model wrote, not the parsed label or value: verbosity is
    what length budgets are for."""

    class Config(ScorerConfig):
        min_words: int | None = Field(None, ge=0)
        max_words: int | None = Field(None, ge=0)
        min_chars: int | None = Field(None, ge=0)
        max_chars: int | None = Field(None, ge=0)

        @model_validator(mode="after")
        def _some_bound(self) -> Length.Config:
            if all(
                b is None for b in (self.min_words, self.max_words, self.min_chars, self.max_chars)
            ):
                raise option_error("set at least one of min_words, max_words, min_chars, max_chars")
            for lo, hi in (("min_words", "max_words"), ("min_chars", "max_chars")):
                a, b = getattr(self, lo), getattr(self, hi)
                if a is not None and b is not None and a > b:
                    raise option_error(f"{lo} ({a}) is greater than {hi} ({b})")
            return self

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        text = (ctx.output if ctx.output is not None else subject_text(ctx)).strip()
        c = self.config
        words, chars = len(text.split()), len(text)
        problems = []
        if c.min_words is not None and words < c.min_words:
            problems.append(f"{words} words < {c.min_words}")
        if c.max_words is not None and words > c.max_words:
            problems.append(f"{words} words > {c.max_words}")
        if c.min_chars is not None and chars < c.min_chars:
            problems.append(f"{chars} chars < {c.min_chars}")
        if c.max_chars is not None and chars > c.max_chars:
            problems.append(f"{chars} chars > {c.max_chars}")
        reason = "; ".join(problems) or f"{words} words, {chars} chars: within bounds"
        return verdict(not problems, reason, data={"words": words, "chars": chars})
