"""The `driftgate` command: a thin typer layer over the library.

Each command module parses options, calls one library function and renders the result.
Library imports happen inside the commands so `driftgate --help` stays fast.
"""

from __future__ import annotations

import sys

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

# Registration order is the order of `driftgate --help`.
# isort: off
from . import run as _run  # noqa: E402,F401
from . import workspace as _workspace  # noqa: E402,F401
from . import compare as _compare  # noqa: E402,F401
from . import registry as _registry  # noqa: E402,F401
from . import ci as _ci  # noqa: E402,F401
from . import drift as _drift  # noqa: E402,F401
from . import models as _models  # noqa: E402,F401
from . import sim as _sim  # noqa: E402,F401
# isort: on


def main() -> None:
    """Console-script entry point: turns library errors into messages and exit codes."""
    from ..errors import EXIT_BAD_INPUT, DriftgateError

    try:
        app()
    except DriftgateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # pydantic errors that escaped a loader, etc.
        if type(exc).__name__ == "ValidationError":
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)
        raise
