"""Scorers of tool calls: the call made, the set of tools called, and calls valid against
the tools offered.

    - {type: tool-call}                                  # the case's expected call(s)
    - {type: tool-call, name: get_weather, arguments: {city: "{{ city }}"}, match: subset}
    - {type: tool-call-f1, value: [get_weather, get_time]}
    - {type: tool-call-valid}                            # promptfoo's is-valid-openai-tools-call

An expected call is `{name, arguments?}`, a list of them, `{tool_calls: [...]}` or a bare
tool name (`_tools.expected_calls`); without `name`, `tool-call` compares with the case's
`expected`. `name` and `arguments` render from the case's variables as `contains` values
do. Arguments compare as JSON values (a CSV's "42" equals 42); an expected call without
arguments matches any arguments. A model that answered in text made no call: a failure
whose reason quotes the text, never an error.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from .._tools import expected_calls, parse_arguments
from ._common import OutputScorer, loose_equal, render, short, verdict
from .base import Score, ScoreContext, ScorerConfig, ScorerFailure, scorer

Expected = list[tuple[str, dict[str, Any] | None]]


def _made(ctx: ScoreContext) -> str:
    """What the model did instead of calling a tool, for reasons."""
    text = (ctx.output or "").strip()
    return f"no tool call (answered in text: {short(text, 60)!r})" if text else "no tool call"


def _render_deep(value: Any, ctx: ScoreContext, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _render_deep(v, ctx, where) for k, v in value.items()}
    return render(value, ctx, where=where)


def _arg_diff(want: dict[str, Any], got: dict[str, Any], subset: bool) -> list[str]:
    """What differs between the expected and the produced arguments, one item each."""
    out = []
    for k, v in want.items():
        if k not in got:
            out.append(f"missing {k}")
        elif not loose_equal(got[k], v):
            out.append(f"{k}={short(_json(got[k]), 30)} (expected {short(_json(v), 30)})")
    if not subset:
        out += [f"unexpected {k}" for k in got if k not in want]
    return out


def _json(v: Any) -> str:
    import json

    return json.dumps(v, ensure_ascii=False)


@scorer("tool-call")
class ToolCall(OutputScorer):
    """Every expected call was made: the tool's name and (when given) its arguments, matched
    exactly or, with `match: subset`, as a subset of the arguments passed. The value is the
    share of expected calls made; extra calls are allowed (`tool-call-f1` counts them)."""

    class Config(ScorerConfig):
        name: str | None = Field(None, description="The tool; default: the case's expected call.")
        arguments: dict[str, Any] | str | None = Field(
            None, description="Its arguments (a mapping, or JSON text); omitted: any."
        )
        match: Literal["exact", "subset"] = Field(
            "exact", description="exact: the same arguments; subset: at least these."
        )

        templated: ClassVar[frozenset[str]] = frozenset({"name", "arguments"})

    config: Config

    def _expected(self, ctx: ScoreContext) -> Expected:
        c = self.config
        where = "scorer 'tool-call' option"
        if c.name is not None:
            args = c.arguments
            if isinstance(args, str):
                found = expected_calls({"name": "x", "arguments": render(args, ctx, where=where)})
                if found is None:
                    raise ScorerFailure(f"{where} `arguments`: not a JSON object: {args!r}")
                args = found[0][1]
            elif args is not None:
                args = _render_deep(args, ctx, f"{where} `arguments`")
            return [(render(c.name, ctx, where=f"{where} `name`"), args)]
        value = ctx.expected
        calls = expected_calls(value, bare_name=True)
        if not calls:
            raise ScorerFailure(
                f"scorer 'tool-call' has no expected call: set its `name` option or give case "
                f"{ctx.case_id!r} an `expected` call ({{name, arguments}}), not {short(str(value))!r}"
            )
        return calls

    def check(self, ctx: ScoreContext) -> Score:
        want = self._expected(ctx)
        made = ctx.tool_calls or []
        if not made:
            return verdict(False, _made(ctx))
        subset = self.config.match == "subset"
        problems: list[str] = []
        for name, args in want:
            same = [c for c in made if c["name"] == name]
            if not same:
                called = ", ".join(c["name"] for c in made)
                problems.append(f"{name} not called (called {called})")
                continue
            if args is None:
                continue
            diffs = []
            for call in same:
                got = parse_arguments(call)
                if got is None:
                    diffs.append(
                        f"arguments are not a JSON object: {short(call['arguments'], 40)!r}"
                    )
                    continue
                diffs = _arg_diff(args, got, subset)
                if not diffs:
                    break
            if diffs:
                problems.append(f"{name}: " + "; ".join(diffs))
        if not problems:
            names = ", ".join(n for n, _ in want)
            return verdict(
                True,
                f"called {names}"
                + (" with the expected arguments" if any(a is not None for _, a in want) else ""),
            )
        return Score((len(want) - len(problems)) / len(want), False, reason="; ".join(problems))


@scorer("tool-call-f1")
class ToolCallF1(OutputScorer):
    """F1 of the set of tools called against the set expected (`value`, or the case's
    expected calls' names): 1.0 when they are the same set. With `arguments: true`, a call
    counts only with the expected arguments (the case's expected calls). Passes at
    `threshold` (default 1.0, as promptfoo's)."""

    binary = False

    class Config(ScorerConfig):
        value: list[str] | str | None = Field(
            None, description="Expected tool names (a list, or comma-separated)."
        )
        arguments: bool = Field(False, description="Count a call only with the expected arguments.")
        threshold: float | None = Field(1.0, ge=0, le=1)

    config: Config

    def _expected(self, ctx: ScoreContext) -> set[tuple[str, str | None]]:
        value = render(self.config.value, ctx, where="scorer 'tool-call-f1' option `value`")
        if value is None:
            value = ctx.expected
            calls = expected_calls(value)
            if calls is None and isinstance(value, list | str):
                calls = [(n, None) for n in _names(value)]
            if not calls:
                raise ScorerFailure(
                    f"scorer 'tool-call-f1' has nothing to compare with: set its `value` "
                    f"(tool names) or give case {ctx.case_id!r} an `expected` call"
                )
            if self.config.arguments:
                return {(n, _json(a) if a is not None else None) for n, a in calls}
            return {(n, None) for n, _ in calls}
        if self.config.arguments:
            raise ScorerFailure(
                "scorer 'tool-call-f1': `arguments: true` compares with the case's expected "
                "calls; drop `value`"
            )
        return {(n, None) for n in _names(value)}

    def check(self, ctx: ScoreContext) -> Score:
        want = self._expected(ctx)
        with_args = self.config.arguments
        got: set[tuple[str, str | None]] = set()
        for c in ctx.tool_calls or []:
            args = parse_arguments(c) if with_args else None
            got.add((c["name"], _json(args) if args is not None else None))
        if with_args:  # an expected call without arguments matches the name alone
            loose = {n for n, a in want if a is None}
            got = {(n, None) if n in loose else (n, a) for n, a in got}
        hit = want & got
        if not want and not got:
            f1 = 1.0
        else:
            p = len(hit) / len(got) if got else 0.0
            r = len(hit) / len(want) if want else 0.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
        missing = sorted(n for n, _ in want - got)
        extra = sorted(n for n, _ in got - want)
        parts = [f"F1 {f1:.2f}"]
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            parts.append("not expected " + ", ".join(extra))
        if not got:
            parts.append(_made(ctx))
        return Score(f1, f1 >= 1.0, reason="; ".join(parts))


def _names(value: list[str] | str) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    return [str(n).strip() for n in items if str(n).strip()]


@scorer("tool-call-valid")
class ToolCallValid(OutputScorer):
    """The answer is tool calls, each naming a tool the request offered, with arguments
    that are a JSON object valid against that tool's `parameters` schema (promptfoo's
    `is-valid-openai-tools-call`)."""

    def check(self, ctx: ScoreContext) -> Score:
        made = ctx.tool_calls or []
        if not made:
            return verdict(False, _made(ctx))
        offered = {t["function"]["name"]: t["function"] for t in ctx.tools or ()}
        if not offered:
            return verdict(False, "the request offered no tools to check the calls against")
        problems = [p for c in made if (p := _invalid(c, offered))]
        if problems:
            return verdict(False, "; ".join(problems))
        return verdict(True, f"{len(made)} valid call(s): " + ", ".join(c["name"] for c in made))


def _invalid(call: dict[str, str], offered: dict[str, dict[str, Any]]) -> str | None:
    fn = offered.get(call["name"])
    if fn is None:
        return f"{call['name']} is not an offered tool (offered: {', '.join(sorted(offered))})"
    args = parse_arguments(call)
    if args is None:
        return f"{call['name']}: arguments are not a JSON object: {short(call['arguments'], 40)!r}"
    schema = fn.get("parameters")
    if not schema:
        return None
    import jsonschema

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(args)
    )
    if error is None:
        return None
    at = "/".join(str(p) for p in error.absolute_path)
    return f"{call['name']}: {error.message}" + (f" (at {at})" if at else "")
