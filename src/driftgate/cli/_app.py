"""The root typer app. Command modules register on it when imported (see `cli/__init__`)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="driftgate",
    help="Evaluate, compare, gate and monitor prompts and models.\n\n"
    "Exit codes: 0 passed, 1 below the suite's pass threshold, 2 bad usage or input, "
    "3 provider errors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def package_version() -> str:
    """The installed distribution's version; `driftgate.__version__` when driftgate runs
    from a source tree that is not installed (no metadata to read)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("driftgate")
    except PackageNotFoundError:
        from .. import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"driftgate {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print driftgate's version and exit.",
    ),
) -> None:
    # Only the --version option lives here; every command is a module of its own.
    pass
