"""Errors that reach users, each carrying the exit code the CLI should use.

Exit codes (documented in the README):
  0 passed, 1 below the suite's pass threshold, 2 bad usage or bad input,
  3 provider errors over budget.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_BELOW_THRESHOLD = 1
EXIT_BAD_INPUT = 2
EXIT_PROVIDER_ERRORS = 3


class DriftgateError(Exception):
    """Base class: a message meant for a person, and an exit code."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(DriftgateError):
    """Bad input in a file: names the file, the line and the field when known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        where = ""
        if self.path:
            where = self.path + (f":{line}" if line else "")
        if field:
            where = f"{where} [{field}]" if where else f"[{field}]"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)


class TemplateError(DriftgateError):
    """A prompt template failed to render for a case (undefined variable, blocked access)."""


class UnknownNameError(DriftgateError):
    """An unknown scorer, provider, metric…: names the closest valid ones."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        import difflib

        close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else None
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}", hint=hint)
        self.name = name
        self.valid = valid


class ProviderErrorBudgetExceeded(DriftgateError):
    exit_code = EXIT_PROVIDER_ERRORS


class MissingCredentialError(DriftgateError):
    """A provider needs an API key that is not in the environment."""
