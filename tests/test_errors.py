"""One error tree: every driftgate error is a DriftgateError with an exit code, and main()
turns each into `error: …` on stderr and that code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from pydantic import ValidationError

import driftgate
import driftgate.cli
from conftest import run_main
from driftgate import errors
from driftgate.errors import (
    EXIT_BAD_INPUT,
    EXIT_PROVIDER_ERRORS,
    DriftgateError,
    InsufficientData,
    ProviderError,
)

EXIT_CODES = {
    errors.EXIT_BELOW_THRESHOLD,
    EXIT_BAD_INPUT,
    EXIT_PROVIDER_ERRORS,
    errors.EXIT_ALIAS_MOVED,
}
EXPORTED = [obj for name in errors.__all__ if inspect.isclass(obj := getattr(errors, name))]


def _driftgate_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in any driftgate module, by qualified name."""
    found = {}
    for info in pkgutil.walk_packages(driftgate.__path__, "driftgate."):
        if info.name.endswith("__main__"):
            continue  # runs the CLI when imported
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__.startswith("driftgate")
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_export_is_an_error_of_the_tree_with_an_exit_code() -> None:
    assert len(EXPORTED) >= 11
    for cls in EXPORTED:
        assert issubclass(cls, DriftgateError), cls
        assert cls.exit_code in EXIT_CODES, cls
        assert cls.__doc__, f"{cls.__name__} says what it means"


def test_every_exception_in_the_package_is_in_the_tree() -> None:
    found = _driftgate_exceptions()
    assert "driftgate.errors.ProviderError" in found  # the walk saw the package
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, DriftgateError))
    assert outside == []
    # Defined in errors.py, whatever module also re-exports them.
    elsewhere = sorted(
        name
        for name, cls in found.items()
        if not name.startswith("driftgate.errors.") and not cls.__name__.startswith("_")
    )
    assert elsewhere == []
    assert issubclass(found["driftgate.errors.SimError"], ProviderError)
    assert {cls for name, cls in found.items() if name.startswith("driftgate.errors.")} == set(
        EXPORTED
    )


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("driftgate.providers.base", "ProviderError"),
        ("driftgate.providers.simulator", "SimError"),
        ("driftgate.providers._http11", "HTTPProtocolError"),
        ("driftgate.drift.signal_registry", "InsufficientData"),
        ("driftgate.drift", "InsufficientData"),
        ("driftgate._gguf", "GGUFError"),
        ("driftgate.scoring.judge", "JudgeParseError"),
        ("driftgate.model_files", "ModelMissingError"),
        ("driftgate.model_files", "ModelCorruptError"),
        ("driftgate.model_files", "ResourceError"),
        ("driftgate.model_files", "PullError"),
        ("driftgate.embedding", "EmbeddingError"),
        ("driftgate.scoring.base", "ScorerFailure"),
        ("driftgate.store.runs", "RunNotFound"),
        ("driftgate.ci.git", "GitError"),
        ("driftgate.registry.moves", "GateFailed"),
        ("driftgate.registry.versions", "VersionNotFound"),
        ("driftgate.registry.aliases", "StateCorrupted"),
        ("driftgate.registry.aliases", "AliasMoved"),
        ("driftgate.registry._fs", "RegistryLocked"),
        ("driftgate.store.objects", "ObjectExists"),
        ("driftgate.store.objects", "ObjectChanged"),
    ],
)
def test_old_import_paths_name_the_same_class(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


def test_provider_error_keeps_its_fields_and_exits_3() -> None:
    exc = ProviderError("rate_limit", "slow down", status=429, retry_after=2.5)
    assert (exc.kind, exc.message, exc.status, exc.retry_after) == (
        "rate_limit",
        "slow down",
        429,
        2.5,
    )
    assert exc.retryable and not ProviderError("auth", "no").retryable
    assert str(exc) == "rate_limit 429: slow down"
    assert not hasattr(exc, "attempts")  # the retry loop sets it; callers use getattr
    assert exc.exit_code == EXIT_PROVIDER_ERRORS


def test_model_error_hints_name_the_models_pull_command() -> None:
    from driftgate.model_files import pull_command

    assert errors.ModelMissingError("qwen").hint == f"run `{pull_command('qwen')}`"
    corrupt = errors.ModelCorruptError("qwen", "/m/qwen.gguf", "truncated")
    assert corrupt.hint == f"repair it with `{pull_command('qwen', force=True)}`"
    assert (corrupt.path, corrupt.exit_code) == ("/m/qwen.gguf", EXIT_BAD_INPUT)


def test_value_errors_stay_value_errors() -> None:
    # Callers that caught ValueError before the move still catch them.
    assert issubclass(errors.GGUFError, ValueError)
    assert issubclass(errors.JudgeParseError, ValueError)


def test_insufficient_data_keeps_its_control_flow() -> None:
    from driftgate.drift.signal_registry import SignalSpec, evaluate_signal

    exc = InsufficientData(3, "3 outputs; needs 20", min_n=20)
    assert (str(exc), exc.n, exc.reason, exc.min_n) == ("3 outputs; needs 20", 3, exc.reason, 20)

    def fn(ctx: object, min_n: int) -> None:
        raise InsufficientData(3, "too few", min_n=min_n)

    spec = SignalSpec(
        name="probe",
        kind="output",
        fn=fn,
        threshold=None,
        floor=0.5,
        min_n=10,
        tunable=False,
        unit="",
        description="raises InsufficientData",
        enabled=True,
    )
    result = evaluate_signal(spec, None, min_n=20)
    assert (result.verdict, result.n, result.min_n) == ("insufficient_data", 3, 20)


def _raising(exc: BaseException):
    def load(argv: list[str] | None = None):
        def command() -> None:
            raise exc

        return command

    return load


def test_a_provider_error_at_the_cli_exits_3(capsys, monkeypatch) -> None:
    monkeypatch.setattr(
        driftgate.cli, "load_commands", _raising(ProviderError("auth", "key rejected", status=401))
    )
    code, out, err = run_main(capsys, monkeypatch, "run", "x")
    assert code == EXIT_PROVIDER_ERRORS
    assert err == "error: auth 401: key rejected\n"
    assert out == ""


def test_a_raw_pydantic_error_at_the_cli_exits_2(capsys, monkeypatch) -> None:
    from driftgate.providers.base import ModelConfig

    with pytest.raises(ValidationError) as info:
        ModelConfig.model_validate({"id": "m", "concurrency": 0})
    monkeypatch.setattr(driftgate.cli, "load_commands", _raising(info.value))
    code, _, err = run_main(capsys, monkeypatch, "run", "x")
    assert code == EXIT_BAD_INPUT
    assert err == (
        "error: [concurrency]: invalid ModelConfig: Input should be greater than or equal to 1\n"
    )


def test_a_stored_record_that_no_longer_validates_names_its_run(tmp_path) -> None:
    from driftgate.store.runs import RunStore

    run = tmp_path / "runs" / "20261204-000000-abcdef"
    (run / "results").mkdir(parents=True)
    (run / "manifest.json").write_text("{}")
    (run / "results" / "0.jsonl").write_text('{"key": "k1", "no_such_field": 1}\n')
    with pytest.raises(errors.ConfigError) as info:
        list(RunStore(tmp_path / "runs").results("20261204-000000-abcdef"))
    assert info.value.path == str(run / "results")
    assert info.value.field is not None
    assert str(info.value).startswith(f"{run / 'results'} [")


def test_other_exceptions_still_propagate(capsys, monkeypatch) -> None:
    # A bug is a traceback, not a disguised "bad input".
    monkeypatch.setattr(driftgate.cli, "load_commands", _raising(RuntimeError("bug")))
    with pytest.raises(RuntimeError, match="bug"):
        run_main(capsys, monkeypatch, "run", "x")


def test_unknown_name_lists_over_ten_are_cut_to_the_closest_with_a_count():
    valid = [f"prov{i}" for i in range(200)] + ["openai"]
    msg = str(errors.UnknownNameError("provider", "opnai", valid))
    assert "closest of 201 valid: openai" in msg and "more)" in msg
    assert "prov150" not in msg and msg.count(",") < 10
    short = str(errors.UnknownNameError("metric", "acc", ["accuracy", "f1"]))
    assert "valid: accuracy, f1" in short


def test_unknown_name_names_where_and_what_was_searched():
    exc = errors.UnknownNameError("golden set", "gold", [], searched=["evalsets/gold.jsonl"])
    assert "none found (searched evalsets/gold.jsonl)" in str(exc)
    placed = exc.located(path="s.suite.yaml", line=4, field="evalsets[0]")
    assert str(placed).startswith("s.suite.yaml:4 [evalsets[0]]: unknown golden set 'gold'")
    assert placed.kind == "golden set" and placed.searched == ["evalsets/gold.jsonl"]


def test_find_in_folder_names_the_paths_searched(tmp_path):
    from driftgate._files import find_in_folder

    with pytest.raises(errors.UnknownNameError) as exc:
        find_in_folder(tmp_path / "fewshot", "cats", "few-shot set")
    assert "none found (searched" in str(exc.value)
    assert f"{tmp_path / 'fewshot' / 'cats'}.{{yaml,yml,json}}" in str(exc.value)
