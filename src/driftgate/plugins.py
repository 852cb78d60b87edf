"""Entry-point plugins: installed packages that add providers, scorers and drift signals.

A package declares, in its `pyproject.toml`:

    [project.entry-points."driftgate.scorers"]
    mine = "my_package.scorers"            # a module: importing it registers (@scorer)
    other = "my_package.setup:register"    # or a callable, called with no arguments

and likewise `driftgate.providers` (calling `register_provider`) and `driftgate.signals`
(`@signal`). The registries load a group only when asked for a name that is not built in,
or when listing names, and once per process: `driftgate --help` and a run that uses only
built-ins never scan the installed distributions. A plugin that fails to load is reported
by name, entry point and exception — a `ConfigError` on lookup, a warning when listing —
and the built-ins keep working.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

from .errors import ConfigError

GROUPS = ("driftgate.providers", "driftgate.scorers", "driftgate.signals")
OnError = Literal["raise", "warn"]


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One entry point of a group and how loading it went (`error` None: loaded)."""

    group: str
    name: str
    value: str
    dist: str  # "name version", or "" when the entry point has no distribution
    error: str | None = None

    def describe(self) -> str:
        source = f" from {self.dist}" if self.dist else ""
        return (
            f"plugin {self.name!r} (entry point {self.group}: {self.name} = {self.value}{source})"
        )


# group → what loading it gave; a group is loaded at most once per process.
_LOADED: dict[str, list[PluginInfo]] = {}
_WARNED: set[str] = set()


def load_plugins(group: str, *, on_error: OnError = "raise") -> list[str]:
    """Load every plugin of `group` (once per process) and return the names that loaded.

    A plugin that failed raises `ConfigError` naming it (`on_error="raise"`, for lookups)
    or is reported once as a warning (`"warn"`, for listings); the others stay loaded.
    """
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}; expected one of {GROUPS}")
    infos = _LOADED.get(group)
    if infos is None:
        infos = _LOADED[group] = [_load_one(group, ep) for ep in _entry_points(group)]
    failed = [i for i in infos if i.error is not None]
    if failed and on_error == "raise":
        raise ConfigError(
            "; ".join(f"{i.describe()} failed to load: {i.error}" for i in failed),
            hint="fix or uninstall the plugin's package (pip uninstall NAME)",
        )
    if failed and group not in _WARNED:
        _WARNED.add(group)
        for i in failed:
            warnings.warn(f"{i.describe()} failed to load: {i.error}", stacklevel=2)
    return [i.name for i in infos if i.error is None]


def plugin_infos(group: str) -> list[PluginInfo]:
    """What loading `group` gave, loading it first if needed (never raises for a plugin)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_plugins(group, on_error="warn")
    return list(_LOADED[group])


def reset_plugins() -> None:
    """Forget what was loaded (tests; the registrations plugins made stay)."""
    _LOADED.clear()
    _WARNED.clear()


def _entry_points(group: str) -> list:
    from importlib.metadata import entry_points

    # One entry point per (name, value): a distribution on sys.path twice appears twice.
    seen: dict[tuple[str, str], object] = {}
    for ep in entry_points(group=group):
        seen.setdefault((ep.name, ep.value), ep)
    return list(seen.values())


def _load_one(group: str, ep) -> PluginInfo:  # noqa: ANN001 - importlib.metadata.EntryPoint
    dist = getattr(ep, "dist", None)
    label = f"{dist.name} {dist.version}" if dist is not None else ""
    info = PluginInfo(group, ep.name, ep.value, label)
    try:
        obj = ep.load()
        # `module:function` names a function that registers; a module registered on import.
        if callable(obj) and not isinstance(obj, type):
            obj()
    except Exception as exc:  # a broken plugin must not take the built-ins down with it
        return PluginInfo(group, ep.name, ep.value, label, f"{type(exc).__name__}: {exc}")
    return info
