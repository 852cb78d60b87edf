"""Assertions written as code inside a config: `python-assert` and `javascript`, and the
output transforms both run (promptfoo's `python`, `javascript` and `transform`).

    - {type: python-assert, code: "'bonjour' in output.lower()"}
    - {type: python-assert, code: "n = len(output.split())\\nreturn n <= context['vars']['max']"}
    - {type: python-assert, file: checks/tone.py, function: get_assert}
    - {type: javascript, code: "output.toLowerCase().includes('bonjour')"}

Code sees `output` (the text, or what a transform made of it) and `context`
(`{"vars": ..., "test": {"vars": ...}}`). A single line without `return` is an expression;
anything else is a function body. It returns a bool, a number (the score: it passes at
`threshold`, else when above 0), or a mapping with `pass` and/or `score` and `reason`
(promptfoo's GradingResult).

Trust. Python code here runs as the workspace's own code, the rule of the `python` scorer
(`custom.py`): it comes from a config file inside the workspace (`run -c` and the importer
refuse files outside it), and a `file:` must be inside the workspace too; it is not a
sandbox. JavaScript runs in an embedded QuickJS interpreter (the `js` extra:
`pip install 'driftgate[js]'`) with no file, network or process access, 1 s of CPU and
64 MiB of memory per call.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import textwrap
from collections.abc import Callable
from typing import Any

from pydantic import Field, PrivateAttr, model_validator

from ._common import NO_OUTPUT, option_error
from .base import Score, ScoreContext, Scorer, ScorerConfig, ScorerFailure, scorer

Code = Callable[[Any, dict[str, Any]], Any]

JS_TIME_LIMIT_S = 1
JS_MEMORY_LIMIT = 64 << 20


def is_expression(code: str) -> bool:
    """promptfoo's rule: one line without `return` is an expression, else a function body."""
    return "\n" not in code.strip() and "return" not in code


def compile_python(code: str) -> Code:
    """A function of (output, context) from an inline expression or function body; a
    syntax error is a ValueError naming the line of the code."""
    body = f"return ({code.strip()})" if is_expression(code) else textwrap.dedent(code)
    source = "def _assertion(output, context):\n" + textwrap.indent(body, "    ")
    try:
        compiled = compile(source, "<inline python>", "exec")
    except SyntaxError as exc:
        line = (exc.lineno or 2) - 1
        raise ValueError(f"python syntax error at line {line} of the code: {exc.msg}") from None
    namespace: dict[str, Any] = {}
    exec(compiled, namespace)  # noqa: S102 - the workspace's own code (module docstring)
    func: Code = namespace["_assertion"]
    return func


_FILES: dict[tuple[str, str], Code] = {}


def load_python_file(path: str, function: str) -> Code:
    """`function` of the Python file `path` (inside the workspace), imported once."""
    from ..workspace import Workspace

    resolved = Workspace.find().inside(path, what="python assertion file")
    key = (str(resolved), function)
    if key in _FILES:
        return _FILES[key]
    if not resolved.is_file():
        raise ValueError(f"python file {path!r} not found")
    name = "_driftgate_script_" + hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, resolved)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ValueError(f"importing {path!r} failed: {type(exc).__name__}: {exc}") from None
    func = getattr(module, function, None)
    if not callable(func):
        raise ValueError(f"{path!r} has no function {function!r}")
    _FILES[key] = func
    return func


def compile_js(code: str) -> Code:
    """A function of (output, context) run by QuickJS; ValueError when it is missing or the
    code does not compile."""
    try:
        import quickjs
    except ImportError:
        raise ValueError(
            "javascript needs the embedded JS engine: pip install 'driftgate[js]' "
            "(QuickJS), or write the check as `python`"
        ) from None
    body = f"return ({code.strip()});" if is_expression(code) else code
    try:
        fn = quickjs.Function(
            "__assertion", f"function __assertion(output, context) {{\n{body}\n}}"
        )
    except quickjs.JSException as exc:
        raise ValueError(f"javascript does not compile: {str(exc).splitlines()[0]}") from None
    fn.set_time_limit(JS_TIME_LIMIT_S)
    fn.set_memory_limit(JS_MEMORY_LIMIT)

    def call(output: Any, context: dict[str, Any]) -> Any:
        try:
            return fn(output, context)
        except quickjs.JSException as exc:
            raise RuntimeError(str(exc).splitlines()[0]) from None

    return call


def make_transform(spec: str) -> Code:
    """A transform: `file://x.py` (`get_transform`, or `file://x.py:func`), else inline
    JavaScript as promptfoo runs it (`output.trim()`, `JSON.parse(output)`)."""
    if spec.startswith("file://"):
        path, _, func = spec[len("file://") :].partition(":")
        if not path.endswith(".py"):
            raise ValueError(
                f"transform {spec!r}: only Python files (file://x.py) are supported as "
                "transform files; put JavaScript inline"
            )
        return load_python_file(path, func or "get_transform")
    return compile_js(spec)


def context_of(ctx: ScoreContext) -> dict[str, Any]:
    return {"vars": dict(ctx.vars), "test": {"vars": dict(ctx.vars)}, "case_id": ctx.case_id}


def grading_score(result: Any, threshold: float | None, who: str) -> Score:
    """A code assertion's return value as a Score (see the module docstring)."""
    if isinstance(result, bool):
        return Score(1.0 if result else 0.0, result)
    if isinstance(result, int | float):
        value = float(result)
        if math.isnan(value):
            raise ScorerFailure(f"{who} returned NaN")
        ok = value >= threshold if threshold is not None else value > 0
        return Score(value, ok, reason=f"score {value:g}")
    if isinstance(result, dict):
        passed = result.get("pass", result.get("pass_", result.get("passed")))
        raw = result.get("score", result.get("value"))
        if passed is None and raw is None:
            raise ScorerFailure(f"{who} returned a mapping with neither `pass` nor `score`")
        number = float(raw) if raw is not None else (1.0 if passed else 0.0)
        if passed is None:
            passed = number >= threshold if threshold is not None else number > 0
        return Score(number, bool(passed), reason=str(result.get("reason", "")))
    raise ScorerFailure(f"{who} returned {type(result).__name__}; expected bool, number or dict")


class _CodeConfig(ScorerConfig):
    code: str | None = Field(None, description="Inline expression or function body.")

    _func: Code | None = PrivateAttr(None)


class _CodeScorer(Scorer):
    binary = False
    config: _CodeConfig

    def score(self, ctx: ScoreContext) -> Score:
        if ctx.output is None and ctx.parsed is None:
            return Score(0.0, False, reason=NO_OUTPUT, error=NO_OUTPUT)
        output = (
            ctx.parsed if ctx.parsed is not None and not isinstance(ctx.parsed, str) else ctx.output
        )
        assert self.config._func is not None
        try:
            result = self.config._func(output, context_of(ctx))
        except ScorerFailure:
            raise
        except Exception as exc:  # the user's code failed: this case's scorer error
            raise ScorerFailure(f"{self.name} raised {type(exc).__name__}: {exc}") from None
        return grading_score(result, self.config.threshold, self.name)

    def finish(self, score: Score) -> Score:
        return score  # grading_score applied the threshold already


@scorer("python-assert")
class PythonAssert(_CodeScorer):
    """Inline Python, or a function of a workspace Python file."""

    class Config(_CodeConfig):
        file: str | None = Field(None, description="A Python file in the workspace.")
        function: str = Field("get_assert", description="The function `file` defines.")

        @model_validator(mode="after")
        def _compile(self) -> PythonAssert.Config:
            if (self.code is None) == (self.file is None):
                raise option_error("give exactly one of `code` and `file`")
            try:
                if self.code is not None:
                    self._func = compile_python(self.code)
                else:
                    assert self.file is not None
                    self._func = load_python_file(self.file, self.function)
            except ValueError as exc:
                raise option_error(str(exc)) from None
            return self

    config: Config


@scorer("javascript")
class JavaScript(_CodeScorer):
    """Inline JavaScript in the embedded QuickJS interpreter (the `js` extra)."""

    class Config(_CodeConfig):
        code: str = Field(min_length=1, description="Inline expression or function body.")

        @model_validator(mode="after")
        def _compile(self) -> JavaScript.Config:
            try:
                self._func = compile_js(self.code)
            except ValueError as exc:
                raise option_error(str(exc)) from None
            return self

    config: Config
