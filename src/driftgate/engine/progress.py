"""The run's progress bar on stderr: done / planned, rate, errors, elapsed and ETA."""

from __future__ import annotations

import time


class ProgressBar:
    """A rich progress bar on stderr with rate and ETA."""

    def __init__(self, total: int, completed: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
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
