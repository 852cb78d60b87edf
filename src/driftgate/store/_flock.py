"""One exclusive `flock` held for a block: the registry's writers, a sharded run's manifest,
a run folder's copying from the shared store.

flock locks belong to the open file description, so the kernel releases them when a process
dies, however it dies: a SIGKILLed writer never leaves a lock behind.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import DriftgateError, StorageError


@contextmanager
def flocked(
    path: Path,
    *,
    timeout_s: float | None = None,
    on_timeout: Callable[[], DriftgateError] | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created, with its folder, if missing) for the block.
    `timeout_s` None waits as long as it takes; else `on_timeout()` is raised after it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError.from_os_error(exc, path) from None
    try:
        if timeout_s is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + timeout_s
            delay = 0.005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise (
                            on_timeout()
                            if on_timeout
                            else StorageError(
                                f"{path} stayed locked for {timeout_s:.0f} s", path=path
                            )
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.1)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock (also on any exception)
