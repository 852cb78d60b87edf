"""`python`: a scorer written as a plain function in the user's code.

    - {type: python, function: "checks.refunds:mentions_policy", threshold: 0.7}

    # checks/refunds.py (in the workspace)
    def mentions_policy(output: str, ctx) -> bool | float | dict | Score: ...

The function receives the raw output text and the `ScoreContext` (parsed output, expected,
vars, latency…) and returns one of:

* a bool — pass or fail;
* a number in [0, 1] — the score; it passes at `threshold`, or at 0.5 when none is set;
* a `Score`;
* a mapping with `value` and/or `passed`, and optionally `reason` and `data`.

It may be `async`. The module is imported once, when the suite is loaded, from `sys.path`
or the workspace root: a missing module or function is a ConfigError naming the option.
An exception inside the function is recorded as that case's scorer error, never a pass.

Which functions may be named (a suite file must not be able to run `os:system` or
`builtins:exec`): a Python function (or method) whose code is in a file inside the
workspace, outside the Python installation and its virtual environment, or one defined in a
package listed in `python_scorer_packages` of the workspace settings (e.g.
`python_scorer_packages: [my_company_checks]`). Builtins and C functions, the standard
library and installed packages not listed there are refused when the suite is loaded,
re-exports included (`checks:system` after `from os import system` is `os.system`).
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
from collections.abc import Callable
from typing import Any

from pydantic import Field, PrivateAttr, field_validator, model_validator

from ._common import NO_OUTPUT, option_error
from .base import Score, ScoreContext, Scorer, ScorerConfig, scorer

DEFAULT_PASS = 0.5


def load_function(ref: str) -> Callable[..., Any]:
    """Import `package.module:func` (also `package.module:Class.method`). Raises ValueError
    with a message naming the reference, which scorer validation turns into a ConfigError."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{ref!r} is not of the form 'package.module:function'")
    try:
        module = _import(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(
            f"cannot import module {module_name!r} for {ref!r}: {exc} "
            "(it must be importable from sys.path or the workspace root)"
        ) from None
    except Exception as exc:  # a syntax error or a failing import inside the user's module
        raise ValueError(
            f"importing {module_name!r} for {ref!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(
                f"module {module_name!r} has no attribute {attr!r} (from {ref!r})"
            ) from None
    if not callable(obj):
        raise ValueError(f"{ref!r} is not callable")
    _check_allowed(ref, module_name, obj)
    return obj


def _check_allowed(ref: str, module_name: str, obj: Any) -> None:
    """Refuse what the module docstring says may not be named."""
    from pathlib import Path

    from ..workspace import Workspace

    func = getattr(obj, "__func__", obj)  # a bound or class method: its function
    if not inspect.isfunction(func):
        raise ValueError(
            f"{ref!r} is a {type(obj).__name__}, not a Python function: builtins and C "
            "functions cannot be python scorers"
        )
    ws = Workspace.find()
    top = module_name.split(".")[0]
    if top in ws.settings.python_scorer_packages and (func.__module__ or "").split(".")[0] == top:
        return
    source = Path(func.__code__.co_filename)
    # A frozen standard-library module's code names no file ("<frozen posixpath>"): it
    # would resolve under the current folder, so only a real (absolute) path counts.
    frozen = not source.is_absolute()
    source = source.resolve()
    installed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    inside = source.is_relative_to(ws.root) and not any(source.is_relative_to(p) for p in installed)
    if inside and not frozen:
        return
    raise ValueError(
        f"{ref!r} is defined in {source}, outside the workspace {ws.root}: a python scorer "
        "must be a function in the workspace's own code, or in a package listed in "
        "`python_scorer_packages` of driftgate.yaml / [tool.driftgate]"
    )


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.split(".")[0]
        if exc.name is None or not (exc.name == top or module_name.startswith(exc.name + ".")):
            raise  # the module exists but imports something missing: report that as is
        from ..workspace import Workspace

        root = str(Workspace.find().root)
        if root in sys.path:
            raise
        # The workspace root joins the import path (as pytest's rootdir does) so user
        # scorers in the repository import like any package; nothing else is searched.
        sys.path.append(root)
        importlib.invalidate_caches()
        return importlib.import_module(module_name)


@scorer("python")
class Python(Scorer):
    """A user-written scoring function (see the module docstring for its contract)."""

    binary = False

    class Config(ScorerConfig):
        function: str = Field(description="'package.module:function', called as f(output, ctx).")

        _func: Callable[..., Any] | None = PrivateAttr(None)

        @field_validator("function")
        @classmethod
        def _importable(cls, v: str) -> str:
            try:
                load_function(v)
            except ValueError as exc:
                raise option_error(str(exc)) from None
            return v

        @model_validator(mode="after")
        def _load(self) -> Python.Config:
            self._func = load_function(self.function)  # imported above: a dict lookup now
            return self

    config: Config

    def score(self, ctx: ScoreContext) -> Score:
        result = self._call(ctx)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            return self._error("is async: call `evaluate`/`ascore`, not `score`")
        return self._convert(result)

    async def ascore(self, ctx: ScoreContext) -> Score:
        result = self._call(ctx)
        if inspect.isawaitable(result):
            try:
                result = await result
            except Exception as exc:
                return self._error(f"raised {type(exc).__name__}: {exc}")
        return self._convert(result)

    def _call(self, ctx: ScoreContext) -> Any:
        if ctx.output is None and ctx.parsed is None:
            return Score(0.0, False, reason=NO_OUTPUT, error=NO_OUTPUT)
        assert self.config._func is not None
        try:
            return self.config._func(ctx.output, ctx)
        except Exception as exc:  # the user's bug: this case's scorer error, the run goes on
            return self._error(f"raised {type(exc).__name__}: {exc}")

    def _error(self, message: str) -> Score:
        msg = f"{self.config.function} {message}"
        return Score(0.0, False, reason=msg, error=msg)

    def _convert(self, result: Any) -> Score:
        if isinstance(result, Score):
            return result
        if isinstance(result, bool):
            return Score(1.0 if result else 0.0, result)
        if isinstance(result, int | float):
            return self._number(float(result), None, "", None)
        if isinstance(result, dict):
            unknown = set(result) - {"value", "score", "passed", "pass", "reason", "data"}
            if unknown:
                return self._error(f"returned unknown keys {sorted(unknown)}")
            value = result.get("value", result.get("score"))
            passed = result.get("passed", result.get("pass"))
            if value is None and passed is None:
                return self._error("returned a mapping with neither `value` nor `passed`")
            if passed is not None and not isinstance(passed, bool):
                return self._error(f"returned `passed` = {passed!r}, not a bool")
            if value is None:
                value = 1.0 if passed else 0.0
            if isinstance(value, bool) or not isinstance(value, int | float):
                return self._error(f"returned `value` = {value!r}, not a number")
            return self._number(
                float(value), passed, str(result.get("reason", "")), result.get("data")
            )
        return self._error(
            f"returned {type(result).__name__}; expected bool, number, dict or Score"
        )

    def _number(self, value: float, passed: bool | None, reason: str, data: Any) -> Score:
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            return self._error(f"returned score {value!r} outside [0, 1]")
        if passed is None:
            passed = value >= DEFAULT_PASS  # `finish` applies a configured threshold instead
        return Score(value, passed, reason=reason, data=data if isinstance(data, dict) else None)
