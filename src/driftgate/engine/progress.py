"""The run's progress on stderr: done / planned, rate, errors, elapsed and ETA.

On a terminal it is a rich progress bar; elsewhere (make, CI, cron, a pipe) a one-line status
every `interval` seconds and at the end, so a long run is never silent. `ProgressMode` is what
every caller passes as `progress=`: True / "auto" picks by the stream, "bar" and "lines" force
one, False / "off" is silent. A command's `--quiet` sets `quiet()` for everything it runs, so
library code that never passes `progress=` is silenced too.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Literal, Protocol, TextIO

ProgressMode = bool | Literal["auto", "bar", "lines", "off"]
Resolved = Literal["bar", "lines", "off"]

# Seconds between status lines off a terminal; the environment variable overrides it (tests, logs).
DEFAULT_INTERVAL = 10.0
INTERVAL_ENV = "DRIFTGATE_PROGRESS_EVERY"

_quiet: ContextVar[bool] = ContextVar("driftgate_progress_quiet", default=False)


@contextlib.contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """Silence every run's progress inside the block (a command's `--quiet`)."""
    token = _quiet.set(on)
    try:
        yield
    finally:
        _quiet.reset(token)


def resolve(mode: ProgressMode, stream: TextIO | None = None) -> Resolved:
    """What `mode` means on `stream` (stderr by default): "bar", "lines" or "off"."""
    if mode is False or mode == "off" or _quiet.get():
        return "off"
    if mode in ("bar", "lines"):
        return mode
    if mode is True or mode == "auto":
        s = stream if stream is not None else sys.stderr
        isatty = getattr(s, "isatty", None)
        return "bar" if isatty is not None and isatty() else "lines"
    raise ValueError(f"progress must be a bool or auto/bar/lines/off, not {mode!r}")


class Progress(Protocol):
    def advance(self, errors: int) -> None: ...

    def close(self) -> None: ...


def make_progress(
    mode: ProgressMode, total: int, completed: int, *, label: str = ""
) -> Progress | None:
    """The progress display for a run of `total` items, `completed` already done; `label`
    (the run id) starts each status line, so a command running several runs tells them apart."""
    kind = resolve(mode)
    if kind == "bar":
        return ProgressBar(total, completed)
    if kind == "lines":
        return StatusLines(total, completed, label=label)
    return None


def _interval() -> float:
    raw = os.environ.get(INTERVAL_ENV)
    try:
        return float(raw) if raw else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class StatusLines:
    """A one-line status every `interval` seconds, and a last one at the end of a run that
    printed any (a short run stays silent). Written to `stream` (stderr), flushed at once."""

    def __init__(
        self,
        total: int,
        completed: int,
        *,
        interval: float | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        label: str = "",
    ) -> None:
        self.label = label
        self.total = total
        self.done = completed
        self.errors = 0
        self.interval = _interval() if interval is None else interval
        self._stream = stream
        self._clock = clock
        self._start = clock()
        self._last = self._start
        self._count = 0  # items done in this process (the rate ignores a resumed run's)
        self.lines = 0

    def advance(self, errors: int) -> None:
        self.done += 1
        self._count += 1
        self.errors = errors
        now = self._clock()
        if now - self._last >= self.interval:
            self._emit(now, final=False)

    def close(self) -> None:
        if self.lines:
            self._emit(self._clock(), final=True)

    def line(self, now: float, *, final: bool = False) -> str:
        """The status text at time `now`."""
        el = now - self._start
        rate = self._count / el if el > 0 else 0.0
        left = max(self.total - self.done, 0)
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        state = "done" if final else "running"
        parts = [
            f"{self.label} {state}" if self.label else state,
            f"{self.done}/{self.total}{pct}",
            f"{rate:.1f}/s",
            f"errors {self.errors}",
            f"elapsed {_duration(el)}",
        ]
        if not final:
            parts.append(f"eta {_duration(left / rate)}" if rate > 0 else "eta ?")
        return parts[0] + ": " + "  ".join(parts[1:])

    def _emit(self, now: float, *, final: bool) -> None:
        out = self._stream if self._stream is not None else sys.stderr
        print(self.line(now, final=final), file=out, flush=True)
        self._last = now
        self.lines += 1


class ProgressBar:
    """A rich progress bar on stderr with rate and ETA."""

    def __init__(self, total: int, completed: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._progress = RichProgress(
            TextColumn("[bold]running"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("errors {task.fields[errors]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
            refresh_per_second=8,
        )
        self._task = self._progress.add_task(
            "run", total=total, completed=completed, rate="", errors=0
        )
        self._start = time.perf_counter()
        self._count = 0
        self._progress.start()

    def advance(self, errors: int) -> None:
        self._count += 1
        el = time.perf_counter() - self._start
        rate = f"{self._count / el:.1f}/s" if el > 0 else ""
        self._progress.update(self._task, advance=1, rate=rate, errors=errors)

    def close(self) -> None:
        self._progress.stop()
