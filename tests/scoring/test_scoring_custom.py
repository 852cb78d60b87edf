"""`python` scorers (user functions) and the latency/cost budget scorers."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import uuid

import pytest

from driftgate.errors import ConfigError
from driftgate.scoring import Score, ScoreContext, build_scorer


def run(options: dict, output: str | None = "", **ctx) -> Score:
    return asyncio.run(build_scorer(options).evaluate(ScoreContext(output=output, **ctx)))


USER_CODE = """
from driftgate.scoring import Score

def is_short(output, ctx):
    return len(output) < 10

def half(output, ctx):
    return 0.5

def ratio(output, ctx):
    return len(output) / 10

def as_dict(output, ctx):
    return {"value": 0.9, "reason": "looks right", "data": {"n": ctx.case_id}}

def passed_only(output, ctx):
    return {"passed": False, "reason": "nope"}

def as_score(output, ctx):
    return Score(0.25, True, reason="custom")

def uses_expected(output, ctx):
    return output.upper() == ctx.expected

def boom(output, ctx):
    raise RuntimeError("bug in scorer")

def too_big(output, ctx):
    return 3

def wrong_type(output, ctx):
    return "yes"

def bad_keys(output, ctx):
    return {"value": 1, "score_extra": 2}

async def later(output, ctx):
    return output == "ok"

NOT_CALLABLE = 3
"""


@pytest.fixture
def mod(tmp_path, monkeypatch):
    name = f"user_scorers_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(USER_CODE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DRIFTGATE_WORKSPACE", str(tmp_path))  # the user's code is in it
    yield name
    sys.modules.pop(name, None)


def py(mod: str, func: str, **extra) -> dict:
    return {"type": "python", "function": f"{mod}:{func}", **extra}


def test_bool_result(mod):
    assert (run(py(mod, "is_short"), "tiny").passed, run(py(mod, "is_short"), "x" * 20).passed) == (
        True,
        False,
    )
    assert run(py(mod, "uses_expected"), "rent", expected="RENT").passed is True


def test_number_result_default_and_threshold(mod):
    s = run(py(mod, "ratio"), "abcd")
    assert (s.value, s.passed) == (pytest.approx(0.4), False)  # default pass mark 0.5
    s = run(py(mod, "ratio", threshold=0.3), "abcd")
    assert (s.value, s.passed) == (pytest.approx(0.4), True)
    assert run(py(mod, "half"), "x").passed is True


def test_dict_and_score_results(mod):
    s = run(py(mod, "as_dict"), "x", case_id="c1")
    assert (s.value, s.passed, s.reason, s.data) == (0.9, True, "looks right", {"n": "c1"})
    s = run(py(mod, "passed_only"), "x")
    assert (s.value, s.passed, s.reason) == (0.0, False, "nope")
    s = run(py(mod, "as_score"), "x")
    assert (s.value, s.passed, s.reason) == (0.25, True, "custom")


def test_async_function(mod):
    assert run(py(mod, "later"), "ok").passed is True
    assert run(py(mod, "later"), "no").passed is False
    s = build_scorer(py(mod, "later")).score(ScoreContext(output="ok"))
    assert s.error is not None and "async" in s.error


@pytest.mark.parametrize(
    "func, message",
    [
        ("boom", "raised RuntimeError: bug in scorer"),
        ("too_big", "outside [0, 1]"),
        ("wrong_type", "returned str"),
        ("bad_keys", "unknown keys"),
    ],
)
def test_bad_results_are_errors_never_passes(mod, func, message):
    s = run(py(mod, func), "x")
    assert s.passed is False and s.error is not None and message in s.error
    s = run(py(mod, func, type="not-python"), "x")  # negation keeps the error
    assert s.passed is False and s.error is not None


def test_no_output_is_not_passed_to_the_function(mod):
    s = run(py(mod, "boom"), None)
    assert s.error is not None and "provider error" in s.error


@pytest.mark.parametrize(
    "ref, message",
    [
        ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
        ("json:no_such_function", "has no attribute 'no_such_function'"),
        ("os:system", "not a Python function"),
        ("builtins:exec", "not a Python function"),
        ("subprocess:run", "outside the workspace"),
        ("shutil:rmtree", "outside the workspace"),
        ("json", "not of the form"),
    ],
)
def test_load_errors_are_config_errors(ref, message):
    with pytest.raises(ConfigError, match=message) as exc:
        build_scorer({"type": "python", "function": ref}, source="evals.suite.yaml")
    assert "evals.suite.yaml" in str(exc.value) and "function" in str(exc.value)


def test_not_callable_and_failing_import(mod, tmp_path):
    with pytest.raises(ConfigError, match="not callable"):
        build_scorer(py(mod, "NOT_CALLABLE"))
    (tmp_path / f"{mod}_broken.py").write_text("raise ImportError('needs xyz')\n")
    with pytest.raises(ConfigError, match="ImportError: needs xyz"):
        build_scorer(py(f"{mod}_broken", "f"))


def test_imports_from_the_workspace_root(tmp_path, monkeypatch):
    name = f"ws_checks_{uuid.uuid4().hex[:8]}"
    (tmp_path / "prompts").mkdir()
    (tmp_path / f"{name}.py").write_text("def ok(output, ctx):\n    return True\n")
    monkeypatch.setenv("DRIFTGATE_WORKSPACE", str(tmp_path))
    monkeypatch.setattr(sys, "path", list(sys.path))  # restored after the test
    try:
        assert run({"type": "python", "function": f"{name}:ok"}, "x").passed is True
        assert str(tmp_path.resolve()) in sys.path
    finally:
        sys.modules.pop(name, None)


# ---- budgets --------------------------------------------------------------------------------


def test_latency():
    assert run({"type": "latency", "max_ms": 500}, "x", latency_ms=499.0).passed is True
    s = run({"type": "latency", "max_ms": 500}, "x", latency_ms=501.0)
    assert s.passed is False and "501 ms > 500 ms" in s.reason
    s = run({"type": "latency", "max_ms": 500}, "x")
    assert s.error is not None and "no latency" in s.error
    assert run({"type": "latency", "max_ms": 500}, None, latency_ms=10.0).passed is False


def test_cost():
    assert run({"type": "cost", "max_usd": 0.01}, "x", cost_usd=0.002).passed is True
    assert run({"type": "cost", "max_usd": 0.001}, "x", cost_usd=0.002).passed is False
    s = run({"type": "cost", "max_usd": 0.001}, "x")
    assert s.error is not None


def test_budget_options_validated():
    with pytest.raises(ConfigError, match="max_ms"):
        build_scorer({"type": "latency"})
    with pytest.raises(ConfigError, match="greater than 0"):
        build_scorer({"type": "latency", "max_ms": 0})


# ---- which functions may be named (#16 item 15) --------------------------------------------


def test_a_reexported_stdlib_function_is_refused(tmp_path, monkeypatch):
    name = f"reexports_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("from shutil import rmtree\nfrom os import system\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DRIFTGATE_WORKSPACE", str(tmp_path))
    try:
        with pytest.raises(ConfigError, match="shutil.py, outside the workspace"):
            build_scorer(py(name, "rmtree"))
        with pytest.raises(ConfigError, match="not a Python function"):
            build_scorer(py(name, "system"))
    finally:
        sys.modules.pop(name, None)


def test_a_reexported_frozen_stdlib_function_is_refused(tmp_path, monkeypatch):
    # os.path.join's code names "<frozen posixpath>", which resolves under the current
    # folder: it must not pass for the workspace's own code.
    name = f"frozen_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("from os.path import join\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DRIFTGATE_WORKSPACE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    try:
        with pytest.raises(ConfigError, match="outside the workspace"):
            build_scorer(py(name, "join"))
    finally:
        sys.modules.pop(name, None)


def test_code_outside_the_workspace_needs_the_package_allowed(tmp_path, monkeypatch):
    pkg = f"allowed_checks_{uuid.uuid4().hex[:8]}"
    site = tmp_path / "site"
    (site / pkg).mkdir(parents=True)
    (site / pkg / "__init__.py").write_text("def ok(output, ctx):\n    return True\n")
    monkeypatch.syspath_prepend(str(site))
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("DRIFTGATE_WORKSPACE", str(ws))
    try:
        with pytest.raises(ConfigError, match="python_scorer_packages"):
            build_scorer(py(pkg, "ok"))
        (ws / "driftgate.yaml").write_text(f"python_scorer_packages: [{pkg}]\n")
        assert run(py(pkg, "ok"), "x").passed is True
    finally:
        sys.modules.pop(pkg, None)


def test_methods_and_workspace_functions_are_allowed(mod, tmp_path):
    (tmp_path / f"{mod}_cls.py").write_text(
        "class Checks:\n"
        "    @staticmethod\n"
        "    def short(output, ctx):\n        return len(output) < 3\n"
        "    @classmethod\n"
        "    def long(cls, output, ctx):\n        return len(output) >= 3\n"
    )
    try:
        assert run(py(f"{mod}_cls", "Checks.short"), "ab").passed is True
        assert run(py(f"{mod}_cls", "Checks.long"), "ab").passed is False
    finally:
        sys.modules.pop(f"{mod}_cls", None)
