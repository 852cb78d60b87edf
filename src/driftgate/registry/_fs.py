"""File-system plumbing of the registry: exclusive locks, who did it, test pause points.

Writers serialize on `fcntl.flock` of a lock file next to what they change. flock locks
belong to the open file description, so the kernel releases them when a process dies,
however it dies: a SIGKILLed promote can never leave the registry locked.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import RegistryLocked as RegistryLocked  # defined there, re-exported
from ..store._flock import flocked

LOCK_TIMEOUT_S = 30.0
# Test hook: `DRIFTGATE_REGISTRY_PAUSE="gate=1.5,write=0.5"` sleeps at the named points of
# an alias move, so tests can race two promotes or SIGKILL one between its steps.
PAUSE_ENV = "DRIFTGATE_REGISTRY_PAUSE"


@contextmanager
def locked(lock_path: Path, *, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (created if missing) for the block."""

    def held() -> RegistryLocked:
        return RegistryLocked(
            f"the registry lock {lock_path} is held by another process (waited {timeout_s:.0f} s)",
            hint="another promote, rollback or register is running; retry when it ends",
        )

    with flocked(lock_path, timeout_s=timeout_s, on_timeout=held):
        yield


def pause(point: str) -> None:
    """Sleep at a named point when the test hook asks for it (no-op otherwise)."""
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    for part in spec.split(","):
        name, _, seconds = part.partition("=")
        if name.strip() == point:
            try:
                time.sleep(float(seconds))
            except ValueError:
                pass


def whoami(root: Path | None = None) -> str:
    """Who is moving an alias: $DRIFTGATE_USER, $USER / $LOGNAME, else the git user."""
    for var in ("DRIFTGATE_USER", "USER", "LOGNAME"):
        value = os.environ.get(var)
        if value:
            return value
    try:
        out = subprocess.run(
            ["git", "config", "user.name"], cwd=root, capture_output=True, text=True, timeout=2
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def git_revision(root: Path) -> str | None:
    """HEAD of the workspace's git repository, or None outside one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def append_line(path: Path, line: str) -> None:
    """Append one whole line with a single write(2) on an O_APPEND descriptor, then fsync.

    A process killed mid-append leaves at most one torn last line, which readers skip.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
