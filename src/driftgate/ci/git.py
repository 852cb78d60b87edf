"""The git plumbing the CI gate needs, with errors that say how to fix the checkout.

Every command runs with the workspace as its working directory; paths git prints are
relative to the repository's top level, which may be an ancestor of the workspace (a
workspace in a monorepo sub-folder), so `Repo.prefix` translates between the two.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..errors import GitError as GitError  # defined there, re-exported

FETCH_HINT = (
    "fetch the full history: `actions/checkout` with `fetch-depth: 0`, "
    "or `git fetch --unshallow` locally"
)
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Repo:
    """A git repository seen from a workspace inside it."""

    toplevel: Path
    workspace: Path

    @property
    def prefix(self) -> str:
        """The workspace's path inside the repository (`""` at the top level)."""
        rel = self.workspace.relative_to(self.toplevel).as_posix()
        return "" if rel == "." else rel

    @classmethod
    def open(cls, workspace_root: Path) -> Repo:
        root = Path(workspace_root).resolve()
        proc = _git(root, "rev-parse", "--show-toplevel", check=False)
        if proc.returncode != 0:
            raise ConfigError(
                f"the workspace {root} is not inside a git repository",
                hint="`driftgate ci` compares two commits; run it in a clone of the repository",
            )
        return cls(Path(proc.stdout.strip()).resolve(), root)

    # ---- commands ------------------------------------------------------------------
    def git(
        self, *args: str, check: bool = True, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return _git(cwd or self.workspace, *args, check=check)

    def is_shallow(self) -> bool:
        out = self.git("rev-parse", "--is-shallow-repository", check=False).stdout.strip()
        return out == "true"

    def resolve(self, ref: str, *, what: str = "ref") -> str:
        """The full commit id of `ref`; a missing ref is bad input with a way to fix it."""
        if not ref or ref.startswith("-"):
            raise ConfigError(f"invalid {what} {ref!r}", field=what)
        proc = self.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
        if self.is_shallow():
            raise ConfigError(
                f"{what} {ref!r} is not in this shallow clone",
                field=what,
                hint=FETCH_HINT,
            )
        raise ConfigError(
            f"{what} {ref!r} does not exist in {self.toplevel}",
            field=what,
            hint=f"check the name (`git branch -a`), or fetch it: `git fetch origin {ref.removeprefix('origin/')}`",
        )

    def merge_base(self, base: str, head: str) -> str:
        """The commit the head branched from (what `git diff BASE...HEAD` compares with)."""
        proc = self.git("merge-base", base, head, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
        if self.is_shallow():
            raise ConfigError(
                f"no common ancestor of {base[:12]} and {head[:12]} in this shallow clone",
                field="base",
                hint=FETCH_HINT,
            )
        raise ConfigError(
            f"{base[:12]} and {head[:12]} have no common ancestor",
            field="base",
            hint="--base must name a commit of the same history as the head (e.g. origin/main)",
        )

    def changed_paths(self, base: str, head: str | None) -> dict[str, str]:
        """Repository-relative path → status letter (A, M, D, T) between two commits, or
        between a commit and the work tree when `head` is None. Renames are split into a
        deletion and an addition so both names are seen."""
        args = ["diff", "--name-status", "--no-renames", "-z", base] + ([head] if head else [])
        parts = self.git(*args, cwd=self.toplevel).stdout.split("\0")
        out: dict[str, str] = {}
        for status, path in zip(parts[0::2], parts[1::2], strict=False):
            if status and path:
                out[path] = status[0]
        return out

    def status(self) -> list[tuple[str, str]]:
        """(XY status, repository-relative path) of every uncommitted change, untracked
        files included (ignored ones are not)."""
        raw = self.git(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", cwd=self.toplevel
        ).stdout
        out = []
        entries = raw.split("\0")
        i = 0
        while i < len(entries):
            entry = entries[i]
            i += 1
            if len(entry) < 4:
                continue
            code, path = entry[:2], entry[3:]
            if code[0] in "RC":
                i += 1  # the original name of a rename follows as its own entry
            out.append((code, path))
        return out

    def first_changed_line(self, base: str, head: str | None, path: str) -> int | None:
        """The first line of `path` (repository-relative) the head added or changed."""
        args = ["diff", "--no-renames", "-U0", base] + ([head] if head else []) + ["--", path]
        for line in self.git(*args, cwd=self.toplevel, check=False).stdout.splitlines():
            m = _HUNK.match(line)
            if m and (m.group(2) is None or int(m.group(2)) > 0):
                return max(1, int(m.group(1)))
        return None

    def show(self, commit: str, path: str) -> str | None:
        """Text of a repository-relative file at a commit, or None when it does not exist."""
        proc = self.git("show", f"{commit}:{path}", check=False, cwd=self.toplevel)
        return proc.stdout if proc.returncode == 0 else None

    def blob_ids(self, commit: str, paths: list[str]) -> dict[str, str | None]:
        """Repository-relative path → git blob id at `commit` (None when absent)."""
        out: dict[str, str | None] = {p: None for p in paths}
        if not paths:
            return out
        proc = self.git("ls-tree", "-z", commit, "--", *paths, check=False, cwd=self.toplevel)
        for entry in proc.stdout.split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 3 and path in out:
                out[path] = fields[2]
        return out

    # ---- trees on disk ---------------------------------------------------------------
    @contextlib.contextmanager
    def snapshot(self, commit: str) -> Iterator[Path]:
        """The workspace's tracked files at `commit`, exported to a temporary folder (no
        worktree, no index: cheap, and nothing for git to clean up). Yields the folder
        that corresponds to the workspace root; it may not exist when the workspace
        folder did not exist at that commit."""
        tmp = Path(tempfile.mkdtemp(prefix="driftgate-base-"))
        try:
            args = ["archive", "--format=tar", commit] + (
                [self.prefix + "/"] if self.prefix else []
            )
            proc = subprocess.run(
                ["git", *args],
                cwd=self.toplevel,
                capture_output=True,
                timeout=300,
                check=False,
            )
            if proc.returncode == 0:
                _extract(proc.stdout, tmp)
            yield tmp / self.prefix if self.prefix else tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @contextlib.contextmanager
    def worktree(self, commit: str) -> Iterator[Path]:
        """A temporary detached worktree at `commit`; removed afterwards, whatever happens.
        Yields the folder that corresponds to the workspace root."""
        parent = Path(tempfile.mkdtemp(prefix="driftgate-worktree-"))
        path = parent / "tree"
        proc = self.git(
            "worktree",
            "add",
            "--detach",
            "--force",
            str(path),
            commit,
            check=False,
            cwd=self.toplevel,
        )
        if proc.returncode != 0:
            shutil.rmtree(parent, ignore_errors=True)
            raise GitError(f"git worktree add failed: {proc.stderr.strip() or proc.stdout.strip()}")
        try:
            yield path / self.prefix if self.prefix else path
        finally:
            self.git("worktree", "remove", "--force", str(path), check=False, cwd=self.toplevel)
            shutil.rmtree(parent, ignore_errors=True)
            self.git("worktree", "prune", check=False, cwd=self.toplevel)


def blob_id(path: Path) -> str | None:
    """The git blob id of a file on disk (what `git hash-object` prints), None if absent."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _extract(data: bytes, dest: Path) -> None:
    import io

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        # The data filter refuses absolute paths, links out of the folder and device files.
        tar.extractall(dest, filter="data")


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError("git is not installed (or not on PATH)", hint="install git") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"`git {' '.join(args)}` timed out") from None
    if check and proc.returncode != 0:
        raise GitError(
            f"`git {' '.join(args)}` failed: {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc
