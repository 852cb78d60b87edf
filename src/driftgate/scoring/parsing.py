"""Parsing a completion into what scorers compare: stripped text, a JSON value or a label.

This runs once per case (100k-case suites), so each `OutputSpec` is compiled once — label
lookup table and word-boundary regex, JSON Schema validator — and cached by identity.

    parse_output("```json\\n{\\"a\\": 1}\\n```", OutputSpec(type="json"))  → ({"a": 1}, None)
    parse_output("Category: Groceries.", OutputSpec(type="label", labels=["groceries", "rent"]))
        → ("groceries", None)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..prompt import OutputSpec

ParseResult = tuple[Any, str | None]
Parser = Callable[[str | None], ParseResult]

# ---- labels ------------------------------------------------------------------------------

# Stripped from both ends of a label: ASCII punctuation, typographic quotes, markdown emphasis.
_EDGE = "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum()) + "“”‘’«»„‚‹›…·•–—"
_SEPARATORS = re.compile(r"[\s_\-]+")
_MEMO_MAX = 4096  # parsed answers kept per parser (free-text outputs would grow it forever)


def normalize_label(s: str) -> str:
    """Case-fold, strip surrounding whitespace/punctuation/quotes, and treat runs of spaces,
    `_` and `-` as one space — so `" **Eating-Out.**"` and `eating_out` compare equal."""
    return _SEPARATORS.sub(" ", s.casefold()).strip(_EDGE + " ")


class LabelParser:
    """Maps free text to one of a fixed set of labels."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = list(labels)
        self._by_norm: dict[str, str] = {}
        for label in labels:
            self._by_norm.setdefault(normalize_label(label), label)
        # Longest first, so "rent payment" wins over "rent" where both start at one place.
        alternatives = sorted((n for n in self._by_norm if n), key=len, reverse=True)
        self._mention = (
            re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, alternatives)) + r")(?!\w)")
            if alternatives
            else None
        )
        shown = ", ".join(self.labels[:20]) + (", …" if len(self.labels) > 20 else "")
        self._error = f"not one of the labels: {shown}"
        # Answers repeat across cases (a label task has a handful of distinct outputs).
        self._memo: dict[str, ParseResult] = {}

    def __call__(self, text: str | None) -> ParseResult:
        if text is None:
            return None, None
        result = self._memo.get(text)
        if result is None:
            result = self._parse(text)
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            self._memo[text] = result
        return result

    def _parse(self, text: str) -> ParseResult:
        norm = normalize_label(text)
        found = self._by_norm.get(norm)
        if found is not None:
            return found, None
        # Small models answer "Groceries\n\nExplanation: …": the first line alone decides.
        first, newline, _ = text.strip().partition("\n")
        if newline:
            found = self._by_norm.get(normalize_label(first))
            if found is not None:
                return found, None
        mentioned = self._mentions(norm)
        if len(mentioned) == 1:
            return mentioned.pop(), None
        if mentioned:
            return None, f"ambiguous: mentions {', '.join(sorted(mentioned))}; {self._error}"
        return None, ("empty output; " if not norm else "") + self._error

    def mentions(self, text: str) -> set[str]:
        """The labels that `text` mentions as whole words (longest match wins on overlap)."""
        return self._mentions(normalize_label(text))

    def _mentions(self, norm: str) -> set[str]:
        if self._mention is None:
            return set()
        return {self._by_norm[m.group(0)] for m in self._mention.finditer(norm)}


# ---- JSON --------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*(?:json5?|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_OPENERS = re.compile(r"[{\[]")
_SCALAR_START = re.compile(r'["\-\d]|(?:true|false|null)\b')  # text that meant a JSON scalar
_DECODER = json.JSONDecoder()
_MAX_STARTS = 16  # attempts at a `{`/`[` in prose before giving up (bounded cost)


def extract_json(text: str) -> ParseResult:
    """The JSON value in `text`: whole text, a ```json fence, or the first {…}/[…] after prose."""
    stripped = text.strip()
    try:
        return json.loads(stripped), None
    except json.JSONDecodeError as exc:
        first_error = exc
    fence = _FENCE.search(stripped)
    if fence is not None:
        body = fence.group(1).strip()
        try:
            return json.loads(body), None
        except json.JSONDecodeError as exc:
            return (
                None,
                f"invalid JSON in the code fence: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            )
    error = first_error
    for attempts, m in enumerate(_OPENERS.finditer(stripped)):
        if attempts >= _MAX_STARTS:
            break
        try:
            value, _end = _DECODER.raw_decode(stripped, m.start())
        except json.JSONDecodeError as exc:
            if attempts == 0:
                error = exc  # the first `{`/`[` is the likeliest intended start
            continue
        return value, None
    if not stripped:
        return None, "empty output; expected JSON"
    if error is first_error and not _SCALAR_START.match(stripped):
        return None, "no JSON object or array in the output"
    return None, f"invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})"


def compile_schema(schema: dict[str, Any]) -> Callable[[Any], str | None]:
    """A checker returning None for a valid instance, else a message naming the failing path.

    An invalid schema raises ValueError (config validators turn it into a ConfigError)."""
    import jsonschema  # lazy (`import_jsonschema_s`): only suites with schemas pay for it

    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"invalid JSON Schema at {exc.json_path}: {exc.message}") from None
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)

    def check(instance: Any) -> str | None:
        err = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if err is None:
            return None
        return f"schema violation at {err.json_path}: {err.message}"

    return check


class JsonParser:
    def __init__(self, schema: dict[str, Any] | None) -> None:
        self._check = None
        if schema is not None:
            try:
                self._check = compile_schema(schema)
            except ValueError as exc:
                raise ConfigError(str(exc), field="output.schema") from None

    def __call__(self, text: str | None) -> ParseResult:
        if text is None:
            return None, None
        value, error = extract_json(text)
        if error is None and self._check is not None:
            # The value is kept alongside a schema error: json-path scorers and reports can
            # still use it, and the error says exactly which field is wrong.
            error = self._check(value)
        return value, error


def _parse_text(text: str | None) -> ParseResult:
    return (text.strip() if text is not None else None), None


# ---- entry points ------------------------------------------------------------------------

# Keyed by id(spec) with the spec kept alive in the entry, so an id is never reused while
# cached; prompts are few, the bound only guards against pathological callers.
_CACHE: dict[int, tuple[OutputSpec, Parser]] = {}
_CACHE_MAX = 1024


def output_parser(spec: OutputSpec) -> Parser:
    """The compiled parser for `spec` (cached): call it with each completion's text."""
    entry = _CACHE.get(id(spec))
    if entry is not None and entry[0] is spec:
        return entry[1]
    parser: Parser
    if spec.type == "json":
        parser = JsonParser(spec.json_schema)
    elif spec.type == "label":
        if not spec.labels:
            raise ConfigError("an output of type `label` needs `labels`", field="output.labels")
        parser = LabelParser(spec.labels)
    else:
        parser = _parse_text
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[id(spec)] = (spec, parser)
    return parser


def parse_output(text: str | None, spec: OutputSpec) -> ParseResult:
    """(parsed, parse_error) for one completion. A missing output (provider error) is
    (None, None): the provider error is recorded elsewhere, not as a parse error.

    text → stripped text; json → the JSON value (with the schema error, if any, alongside);
    label → the canonical label, or None with an error listing the labels.
    """
    return output_parser(spec)(text)
