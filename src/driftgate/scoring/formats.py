"""Scorers of an output's form: XML, SQL, a refusal, the provider's finish reason.

    - {type: is-xml, required_elements: [analysis.sentiment]}
    - {type: is-sql}
    - {type: not-is-refusal}
    - {type: finish-reason, value: stop}

They carry promptfoo's assertion names, so a translated promptfoo config
(`compat/promptfoo.py`) reads as it did there. What each checks:

* `is-xml`: the whole output (surrounding whitespace and one markdown code fence aside)
  parses as one well-formed XML document; each of `required_elements` (a dotted path from
  the root element, `root.child.grandchild`) exists.
* `is-sql`: the output (fence aside) parses as one or more SQL statements in DuckDB's
  parser (PostgreSQL's grammar); nothing is executed. A dialect-only construct of another
  database can fail it.
* `is-refusal`: the output is empty or opens with a refusal (`driftgate._refusal`: an
  apology first, or "I can't help…" in its first sentence) — the drift signal's rule, so an
  answer that quotes a refusal later is not one.
* `finish-reason`: the provider's finish reason equals `value` (`stop`, `length`,
  `tool_calls`, `content_filter`); a provider that reports none is a scorer error.
"""

from __future__ import annotations

import re

from pydantic import Field

from .._refusal import is_refusal
from ._common import OutputScorer, short, subject_text, verdict
from .base import Score, ScoreContext, ScorerConfig, ScorerFailure, scorer

_FENCE = re.compile(r"^```[\w+-]*\s*\n(.*?)\n?```$", re.DOTALL)


def unfenced(text: str) -> str:
    """The text without surrounding whitespace and one markdown code fence around it."""
    text = text.strip()
    m = _FENCE.match(text)
    return m.group(1).strip() if m else text


@scorer("is-xml")
class IsXml(OutputScorer):
    """The output is one well-formed XML document (with the required elements)."""

    class Config(ScorerConfig):
        required_elements: list[str] = Field(
            default_factory=list, description="Dotted paths from the root: `root.child`."
        )

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        import xml.etree.ElementTree as ET

        try:
            root = ET.fromstring(unfenced(subject_text(ctx)))
        except ET.ParseError as exc:
            return verdict(False, f"not well-formed XML: {exc}")
        for path in self.config.required_elements:
            parts = path.split(".")
            if parts[0] != root.tag or (len(parts) > 1 and root.find("/".join(parts[1:])) is None):
                return verdict(False, f"XML has no element {path!r}")
        return verdict(True, f"well-formed XML, root <{root.tag}>")


@scorer("is-sql")
class IsSql(OutputScorer):
    """The output parses as SQL (DuckDB's parser; see the module docstring)."""

    def check(self, ctx: ScoreContext) -> Score:
        import duckdb

        text = unfenced(subject_text(ctx))
        if not text:
            return verdict(False, "empty output")
        try:
            statements = duckdb.extract_statements(text)
        except duckdb.Error as exc:
            return verdict(False, f"not SQL: {short(str(exc).splitlines()[0], 120)}")
        return verdict(True, f"{len(statements)} SQL statement(s)")


@scorer("is-refusal")
class IsRefusal(OutputScorer):
    """The output is empty or opens with a refusal."""

    def check(self, ctx: ScoreContext) -> Score:
        text = subject_text(ctx)
        if not text.strip() or is_refusal(text):
            return verdict(True, "refusal: " + (short(text, 60) or "(empty)"))
        return verdict(False, "not a refusal")


@scorer("finish-reason")
class FinishReason(OutputScorer):
    """The provider's finish reason is `value`."""

    class Config(ScorerConfig):
        value: str = Field(min_length=1, description="stop, length, tool_calls, content_filter…")

    config: Config

    def check(self, ctx: ScoreContext) -> Score:
        if ctx.finish_reason is None:
            raise ScorerFailure("the provider reported no finish reason for this call")
        ok = ctx.finish_reason.lower() == self.config.value.lower()
        return verdict(ok, f"finish reason {ctx.finish_reason!r}")
