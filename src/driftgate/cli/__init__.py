"""The `driftgate` command: a thin typer layer over the library.

Each command module parses options, calls one library function and renders the result.
Library imports happen inside the commands so `driftgate --help` stays fast.

A command module registers its commands on the root app when imported. `main()` imports
only the module of the command it is asked for (`driftgate run ...` never builds the
registry, drift or CI commands); `driftgate --help`, an unknown command and
`from driftgate.cli import app` load them all.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

from ._app import app as _app

# The command modules in the order of `driftgate --help`, each with the top-level
# commands and groups it registers (a test checks this against what they register).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "run": ("run", "show", "query", "runs"),
    "workspace": ("init", "schema"),
    "compare": ("compare", "power"),
    "registry": (
        "register",
        "versions",
        "diff",
        "gate",
        "promote",
        "rollback",
        "aliases",
        "audit",
        "registry",
    ),
    "ci": ("ci",),
    "drift": ("drift",),
    "route": ("route",),
    "retrain": ("retrain",),
    "loop": ("loop",),
    "demo": ("demo",),
    "models": ("models",),
    "sim": ("sim",),
    "serve": ("serve",),
    "ui": ("ui",),
    "plugins": ("plugins",),
    "importer": ("import",),
    "review": ("review",),
    "store": ("store",),
}
_MODULE_OF = {name: module for module, names in COMMAND_MODULES.items() for name in names}
# Root options that print and exit before any command is looked up.
_ROOT_ONLY = frozenset({"--version"})
_all_loaded = False


def load_commands(argv: list[str] | None = None) -> typer.Typer:
    """The root app with the commands `argv` (a command line, without the program) needs:
    the module of its first word when that is a known command, else every command."""
    global _all_loaded
    if argv and argv[0] in _ROOT_ONLY:
        return _app  # answered by the root callback: no command module needed
    module = _MODULE_OF.get(argv[0]) if argv else None
    if module is not None and not _all_loaded:
        importlib.import_module(f"{__name__}.{module}")
        # Typer runs a lone command without its name: only a group dispatches by name.
        if _app.registered_groups or len(_app.registered_commands) > 1:
            return _app
    if not _all_loaded:
        for module in COMMAND_MODULES:
            importlib.import_module(f"{__name__}.{module}")
        _help_order()
        _all_loaded = True
    return _app


def _help_order() -> None:
    """Registration order is help order: modules loaded out of order (a command first,
    then the rest) are put back in the order of COMMAND_MODULES."""
    rank = {module: i for i, module in enumerate(COMMAND_MODULES)}

    def command_rank(info: Any) -> int:
        return rank.get(getattr(info.callback, "__module__", "").rpartition(".")[2], len(rank))

    _app.registered_commands.sort(key=command_rank)  # stable: a module keeps its own order
    _app.registered_groups.sort(
        key=lambda info: rank.get(_MODULE_OF.get(info.name or "", ""), len(rank))
    )


_exit_hook = False
# Extensions that audit their objects when the interpreter exits: duckdb's (nanobind)
# bindings report every object the final collection did not free as a leak.
_AUDITED_AT_EXIT = ("_duckdb",)


def _skip_exit_collection() -> None:
    """At exit, freeze what is alive instead of letting the last collection walk it.

    The interpreter's final garbage collection visits every object the imports created
    (pydantic, typer, rich…): a fifth of a short command (`exit_collection_s` in
    docs/architecture.md, Measured figures), to free memory the OS
    takes back anyway. Freezing them (an atexit hook, so a process that calls `main()`
    and goes on, like a test run, is unaffected until it exits) leaves them to the OS;
    files and connections are closed by the commands themselves, not by the collector.
    """
    global _exit_hook
    if not _exit_hook:
        import atexit

        atexit.register(_freeze_unless_audited)
        _exit_hook = True


def _freeze_unless_audited() -> None:
    import gc

    if not any(name in sys.modules for name in _AUDITED_AT_EXIT):
        gc.freeze()


def __getattr__(name: str) -> Any:
    if name == "app":
        return load_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point: turns library errors into messages and exit codes
    (each `DriftgateError` carries its own; see `driftgate.errors`)."""
    from ..errors import EXIT_BAD_INPUT, DriftgateError

    _skip_exit_collection()
    try:
        load_commands(sys.argv[1:])()
    except DriftgateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        # Loaders map validation errors to ConfigError (file:line [field]); one that still
        # escapes is bad input all the same. Imported here: pydantic is loaded by then, and
        # `driftgate --help` never pays for it.
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            from .._files import as_config_error

            print(f"error: {as_config_error(exc)}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)
        raise
