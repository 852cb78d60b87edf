"""The workspace: a folder with prompts/, evalsets/, routes/ and runs/, and its settings.

Settings live in `[tool.driftgate]` of `pyproject.toml` or in `driftgate.yaml` (the latter
wins when both exist). The root is the nearest folder upwards that has either file, or a
`prompts/` folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from ._files import check_name, confined
from ._strict import Strict
from .errors import ConfigError, UnknownNameError
from .gateway.settings import GatewaySettings
from .review.settings import ReviewSettings

if TYPE_CHECKING:
    from .evalset import EvalSet
    from .prompt import Prompt

ARTIFACT_FOLDERS = ("fewshot", "indexes")

# (name, selector) -> the registered prompt version, or None when NAME has none.
RegisteredPrompt = Callable[[str, str], "Prompt | None"]


# The settings that name folders: inside the workspace unless `dirs_outside_workspace`.
DIR_SETTINGS = ("prompts_dir", "evalsets_dir", "routes_dir", "runs_dir", "cache_dir", "state_dir")


class SharedStoreSettings(Strict):
    """How this workspace works with its shared store (`store:`)."""

    staleness_s: float = Field(
        2.0,
        ge=0,
        description="Serving reads aliases and route weights from the store at most this "
        "old: a rollback made on one machine reaches every replica within it.",
    )
    flush_rows: int = Field(
        200, ge=1, description="A running run uploads its new results every this many rows…"
    )
    flush_s: float = Field(
        5.0, gt=0, description="…or every this many seconds, whichever comes first."
    )


class Settings(Strict):
    suite: str | None = Field(None, description="Default suite file for `driftgate run`.")
    prompts_dir: str = "prompts"
    evalsets_dir: str = "evalsets"
    routes_dir: str = "routes"
    runs_dir: str = "runs"
    cache_dir: str = Field(".driftgate/cache", description="Response and embedding cache.")
    state_dir: str = Field(".driftgate", description="Registry and alias state.")
    max_stored_chars: int = Field(
        1_000_000,
        ge=1_000,
        description="Longest output, rendered message or parsed text kept in a stored result "
        "(characters). Scorers see the whole answer; the stored copy is cut there and ends "
        "with a marker naming the original size, so a runaway answer cannot fill the disk.",
    )
    python_scorer_packages: list[str] = Field(
        default_factory=list,
        description="Installed packages whose functions a `python` scorer may name (top-level "
        "names); without them only functions in the workspace's own files are allowed.",
    )
    dirs_outside_workspace: bool = Field(
        False,
        description="Allow the *_dir settings (runs_dir, cache_dir, state_dir...) to point "
        "outside the workspace (a shared cache, runs on another disk). Off: such a setting is "
        "refused, so a checked-out driftgate.yaml cannot make driftgate write elsewhere.",
    )
    store: str | None = Field(
        None,
        description="A shared store for a team: s3://bucket/prefix, gs://…, az://… "
        "(credentials from the environment only). Unset or file://: the local folders alone. "
        "$DRIFTGATE_STORE overrides it.",
    )
    shared_store: SharedStoreSettings = Field(
        default_factory=SharedStoreSettings,
        description="Staleness of serving reads and the upload cadence of running runs.",
    )
    gateway: GatewaySettings = Field(
        default_factory=GatewaySettings,
        description="`driftgate serve`: client API keys (hashed) and request limits.",
    )
    review: ReviewSettings = Field(
        default_factory=ReviewSettings,
        description="The review queue (`driftgate ui`): where reviewed answers become golden "
        "cases, and what is worth a look.",
    )


class Workspace:
    def __init__(
        self, root: Path, settings: Settings | None = None, settings_file: Path | None = None
    ) -> None:
        self.root = Path(root).resolve()
        self.settings = settings or Settings()
        self._check_dirs(settings_file)

    def _check_dirs(self, settings_file: Path | None) -> None:
        if self.settings.dirs_outside_workspace:
            return
        for name in DIR_SETTINGS:
            value = getattr(self.settings, name)
            target = self.path(value)
            if target != self.root and self.root not in target.parents:
                raise ConfigError(
                    f"{value!r} is outside the workspace {self.root}",
                    path=settings_file,
                    field=name
                    if settings_file is None or settings_file.suffix != ".toml"
                    else f"tool.driftgate.{name}",
                    hint="use a folder inside the workspace, or set "
                    "`dirs_outside_workspace: true` to allow it",
                )

    # ---- discovery -------------------------------------------------------------------
    @classmethod
    def find(cls, start: Path | str | None = None) -> Workspace:
        """The workspace containing `start` (default: the current directory)."""
        env = os.environ.get("DRIFTGATE_WORKSPACE")
        here = Path(start or env or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / "driftgate.yaml").exists() or _has_tool_table(folder / "pyproject.toml"):
                return cls(folder, load_settings(folder), settings_file(folder))
        for folder in (here, *here.parents):
            if (folder / "prompts").is_dir():
                return cls(folder, Settings())
        return cls(here, Settings())

    # ---- paths -----------------------------------------------------------------------
    def path(self, rel: str | Path) -> Path:
        return (self.root / rel).resolve()

    @property
    def prompts_dir(self) -> Path:
        return self.path(self.settings.prompts_dir)

    @property
    def evalsets_dir(self) -> Path:
        return self.path(self.settings.evalsets_dir)

    @property
    def runs_dir(self) -> Path:
        return self.path(self.settings.runs_dir)

    @property
    def cache_dir(self) -> Path:
        return self.path(self.settings.cache_dir)

    @property
    def state_dir(self) -> Path:
        return self.path(self.settings.state_dir)

    def inside(self, path: Path | str, *, what: str = "path") -> Path:
        """Resolve a user-given path; refuse one that escapes the workspace."""
        raw = str(path)
        if raw.startswith("file://"):
            raw = raw[len("file://") :]
        p = Path(raw)
        resolved = (p if p.is_absolute() else self.root / p).resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise ConfigError(
                f"{what} {str(path)!r} is outside the workspace {self.root}",
                hint="keep prompts, golden sets and files they reference inside the workspace",
            )
        return resolved

    # ---- prompts ---------------------------------------------------------------------
    @cached_property
    def _prompt_files(self) -> list[Path]:
        d = self.prompts_dir
        if not d.is_dir():
            return []
        # prompts/fewshot/ and prompts/indexes/ hold the artifacts prompts refer to.
        found = sorted(
            p
            for p in d.rglob("*")
            if p.suffix in (".yaml", ".yml", ".json")
            and p.is_file()
            and p.relative_to(d).parts[0] not in ARTIFACT_FOLDERS
        )
        for p in found:  # a prompt is named by what its file holds: refuse any link out
            confined(p, self.root, kind="prompt file", name=str(p.relative_to(d)))
        return found

    def unbound_prompts(self) -> list[Prompt]:
        """Every prompt file as written. A prompt that renders a few-shot set or an index is
        pinned to their versions by the registry (`registry.prompts.workspace_prompts`)."""
        from .prompt import load_prompt

        return [load_prompt(p) for p in self._prompt_files]

    def find_prompt(self, ref: str, registered: RegisteredPrompt | None = None) -> Prompt:
        """Find a prompt file by `NAME`, `NAME@VERSION` (a file's version label) or a path.

        When no file carries the label, `registered(name, selector)` is asked (the registry
        passes its lookup of `NAME@N`, `NAME@DIGEST`, `NAME@ALIAS`: file labels win); None
        from it, or no `registered`, is an unknown version. The prompt is not bound: callers
        use `registry.prompts.find_prompt`, which pins its few-shot set and index.
        """
        from .prompt import PASSTHROUGH, load_prompt, parse_ref, passthrough_prompt

        if ref.endswith((".yaml", ".yml", ".json")):
            return load_prompt(self.inside(ref, what="prompt file"))
        name, version = parse_ref(ref)
        matches = [p for p in self.unbound_prompts() if p.name == name]
        if version is not None:
            exact = [p for p in matches if p.version == version]
            if exact:
                return exact[0]
            found = registered(name, version) if registered is not None else None
            if found is not None:
                return found
            raise UnknownNameError(
                "prompt version",
                ref,
                [p.ref for p in matches] or [p.ref for p in self.unbound_prompts()],
            )
        if len(matches) == 1:
            return matches[0]
        if not matches and name == PASSTHROUGH:  # built in; a prompt file of that name wins
            return passthrough_prompt()
        if not matches:
            known = self.unbound_prompts()
            raise UnknownNameError(
                "prompt", ref, sorted({p.name for p in known} | {p.ref for p in known})
            )
        unversioned = [p for p in matches if p.version is None]
        if len(unversioned) == 1:
            return unversioned[0]
        raise ConfigError(
            f"prompt {name!r} has several versions: {', '.join(p.ref for p in matches)}",
            hint="name one with NAME@VERSION",
        )

    # ---- golden sets -----------------------------------------------------------------
    def evalset(self, ref: str) -> EvalSet:
        """A golden set by name (file stem in evalsets/) or by path."""
        from .evalset import SUFFIXES, EvalSet

        if ref.endswith(SUFFIXES) or "/" in ref:
            path = self.inside(ref, what="golden set")
            return EvalSet(path.stem, path)
        check_name(ref, "golden set")
        tried = [self.evalsets_dir / f"{ref}{suffix}" for suffix in SUFFIXES]
        for cand in tried:
            if cand.exists():
                confined(cand, self.root, kind="golden set", name=ref)
                return EvalSet(ref, cand)
        names = (
            sorted(
                p.stem
                for p in self.evalsets_dir.glob("*")
                if p.suffix in SUFFIXES and ".suite" not in p.name
            )
            if self.evalsets_dir.is_dir()
            else []
        )
        raise UnknownNameError(
            "golden set",
            ref,
            names,
            searched=[
                self._shown(self.evalsets_dir / ref)
                + ".{"
                + ",".join(x.lstrip(".") for x in SUFFIXES)
                + "}"
            ],
            hint=None if names else f"add {self._shown(tried[0])} (one JSON object per line)",
        )

    def _shown(self, path: Path) -> str:
        """`path` relative to the workspace when inside it, for messages."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    # ---- suites ----------------------------------------------------------------------
    def default_suite_path(self) -> Path:
        if self.settings.suite:
            return self.inside(self.settings.suite, what="suite file")
        found = sorted(self.root.glob("*.suite.yaml")) + sorted(
            self.evalsets_dir.glob("*.suite.yaml")
        )
        if len(found) == 1:
            return found[0]
        raise ConfigError(
            "no default suite: pass -c SUITE_FILE, or set `suite` in [tool.driftgate] of "
            "pyproject.toml / driftgate.yaml",
            path=self.root,
        )


def _has_tool_table(pyproject: Path) -> bool:
    if not pyproject.exists():
        return False
    try:
        return "[tool.driftgate]" in pyproject.read_text(encoding="utf-8")
    except OSError:
        return False


def settings_file(root: Path) -> Path | None:
    """The file `load_settings(root)` reads: driftgate.yaml, else pyproject.toml, else None."""
    if (root / "driftgate.yaml").exists():
        return root / "driftgate.yaml"
    return root / "pyproject.toml" if (root / "pyproject.toml").exists() else None


def load_settings(root: Path) -> Settings:
    from ._files import load_model

    yaml_path = root / "driftgate.yaml"
    if yaml_path.exists():
        return load_model(Settings, yaml_path)
    pyproject = root / "pyproject.toml"
    if pyproject.exists():
        import tomllib

        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", path=pyproject) from None
        table = data.get("tool", {}).get("driftgate")
        if table is not None:
            from pydantic import ValidationError

            from ._files import validation_error

            try:
                return Settings.model_validate(table)
            except ValidationError as exc:
                err = validation_error(exc, pyproject)
                err.field = f"tool.driftgate.{err.field}" if err.field else "tool.driftgate"
                raise ConfigError(
                    str(exc.errors()[0]["msg"]), path=pyproject, field=err.field
                ) from None
    return Settings()
