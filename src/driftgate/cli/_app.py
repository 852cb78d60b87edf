"""The root typer app. Command modules register on it when imported (see `cli/__init__`)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="driftgate",
    help="Evaluate, compare, gate and monitor prompts and models.\n\n"
    "Exit codes: 0 passed, 1 below the suite's pass threshold, 2 bad usage or input, "
    "3 provider errors over budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
