"""Shared machinery of the built-in scorers: what they compare, against what, and how.

Every built-in scorer follows the same rules, so they live here once:

* the output compared is `ctx.parsed` when the prompt parsed it (label, JSON), else the raw
  `ctx.output`; text scorers fall back to the raw text when the parsed value is structured;
* an omitted `value` option means the case's `expected` (and `reference` for text scorers);
* a missing output (provider error) is a scorer *error*, never a pass — also under `not-`,
  because `Negated` leaves errors alone.
"""

from __future__ import annotations

import json
from typing import Any

from .base import Score, ScoreContext, Scorer, ScorerConfig, ScorerFailure

NO_OUTPUT = "no output (provider error)"

_MISSING = object()


class OutputScorer(Scorer):
    """A scorer of the case's output: refuses a missing output, then calls `check`."""

    def score(self, ctx: ScoreContext) -> Score:
        if ctx.output is None and ctx.parsed is None:
            return Score(0.0, False, reason=NO_OUTPUT, error=NO_OUTPUT)
        return self.check(ctx)

    def check(self, ctx: ScoreContext) -> Score:  # pragma: no cover - abstract
        raise NotImplementedError


def option_error(message: str) -> Exception:
    """A validation error for a scorer option, without pydantic's "Value error, " prefix
    (build_scorer turns it into a ConfigError naming the suite file and the option)."""
    from pydantic_core import PydanticCustomError

    return PydanticCustomError("scorer_option", "{message}", {"message": message})


def verdict(ok: bool, reason: str, data: dict[str, Any] | None = None) -> Score:
    """A binary score: 1.0 and passed, or 0.0 and failed."""
    return Score(1.0 if ok else 0.0, ok, reason=reason, data=data)


def subject(ctx: ScoreContext) -> Any:
    """What the scorer compares: the parsed output when there is one, else the raw text."""
    return ctx.parsed if ctx.parsed is not None else ctx.output


def subject_text(ctx: ScoreContext) -> str:
    """The output as text: the parsed string (a label, stripped text) or the raw output."""
    if isinstance(ctx.parsed, str):
        return ctx.parsed
    return ctx.output if ctx.output is not None else json.dumps(ctx.parsed, ensure_ascii=False)


def wanted(
    config: ScorerConfig, ctx: ScoreContext, *, option: str = "value", reference: bool = False
) -> Any:
    """The value to compare against: the option when set, else the case's expected answer
    (its text `reference` first for scorers of free text, when `reference` is true).

    String option values may use the case's variables as jinja2 templates (`"{{ name }}"`),
    as promptfoo's assertions do.
    """
    value = getattr(config, option, None)
    if value is not None:
        return render(value, ctx, where=f"scorer {config.type!r} option `{option}`")
    if reference and ctx.reference is not None:
        return ctx.reference
    if ctx.expected is not None:
        return ctx.expected
    where = "`expected` (or `reference`)" if reference else "`expected`"
    raise ScorerFailure(
        f"scorer {config.type!r} has nothing to compare with: set its `{option}` option "
        f"or give case {ctx.case_id!r} an {where}"
    )


def render(value: Any, ctx: ScoreContext, *, where: str | None = None) -> Any:
    """Render `{{ var }}` templates in string values (and in lists of strings). `where`
    (`scorer 'regex' option `pattern``) prefixes an error: a variable the case lacks is a
    scorer error naming the scorer and the option, never a literal compared as it is."""
    if isinstance(value, str):
        return _render_str(value, ctx, where) if "{{" in value or "{%" in value else value
    if isinstance(value, list):
        return [render(v, ctx, where=where) for v in value]
    return value


_TEMPLATES: dict[str, Any] = {}


def _render_str(text: str, ctx: ScoreContext, where: str | None = None) -> str:
    import jinja2

    from ..prompt import template_env

    tpl = _TEMPLATES.get(text)
    if tpl is None:
        try:
            tpl = template_env().from_string(text)
        except jinja2.TemplateSyntaxError as exc:
            at = f"{where}: " if where else ""
            raise ScorerFailure(f"{at}template syntax error in {text!r}: {exc.message}") from None
        if len(_TEMPLATES) > 4096:  # user-written options: a handful; bound it anyway
            _TEMPLATES.clear()
        _TEMPLATES[text] = tpl
    try:
        return tpl.render({**ctx.vars, "expected": ctx.expected, "reference": ctx.reference})
    except jinja2.UndefinedError as exc:
        at = f"{where}: " if where else ""
        raise ScorerFailure(f"{at}case {ctx.case_id!r}: {exc.message} in {text!r}") from None


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values; `true` is not `1` (in Python, bool is an int)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def loose_equal(got: Any, want: Any) -> bool:
    """JSON equality that also reads a string as JSON when the other side is not a string:
    golden sets from CSV hold `"42"` where the model's JSON holds `42`."""
    if json_equal(got, want):
        return True
    if isinstance(got, str) and isinstance(want, str):
        return got.strip() == want.strip()
    for text, other in ((want, got), (got, want)):
        if isinstance(text, str) and not isinstance(other, str):
            try:
                return json_equal(json.loads(text), other)
            except json.JSONDecodeError:
                return False
    return False


def as_list(value: Any) -> list[str]:
    """A scalar or a list of values as a list of strings."""
    items = value if isinstance(value, list | tuple) else [value]
    return [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in items]


def short(text: str, limit: int = 80) -> str:
    """A one-line excerpt for reasons (reports show them in tables)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
