"""One writer per run: the lock a process holds while it runs or resumes a run."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

from ..errors import RunLocked, StorageError

LOCK_NAME = "lock"


class RunLock:
    """One writer per run: an exclusive flock on `runs/<id>/lock`, held while a process runs
    or resumes the run. The kernel releases it when the process ends, however it ends, so
    the lock also tells a live run from a killed one (`held_elsewhere`). The file holds the
    holder's pid and host, for the message of the process that is refused."""

    # How long `acquire` retries before refusing: a reader's probe holds the lock shared
    # for a moment (`held_elsewhere`), and must not make a resume fail.
    WAIT_S = 1.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, run_id: str) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError.from_os_error(exc, self.path, run_id=run_id) from None
        deadline = time.monotonic() + self.WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder()
                    os.close(fd)
                    raise RunLocked(
                        f"run {run_id} is being written by another process ({holder}); "
                        "one process runs or resumes a run at a time",
                        hint=f"wait for it to finish, then `driftgate show {run_id}`",
                    ) from None
                time.sleep(0.05)
        self._fd = fd
        with contextlib.suppress(OSError):  # who holds it is for messages only
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)

    def _holder(self) -> str:
        try:
            pid, _, host = self.path.read_text().strip().partition(" ")
        except OSError:
            return "pid unknown"
        return f"pid {pid} on {host}" if pid else "pid unknown"

    def held_elsewhere(self) -> bool | None:
        """True when another open of the lock holds it, False when nobody does, None when
        there is no lock file (a run from before locks) or it cannot be checked."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return None
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor drops the flock

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
