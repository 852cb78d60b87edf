"""`driftgate store migrate`: copy a workspace's state to a shared store and back."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._common import JsonOption, WorkspaceOption, print_json, workspace

store_app = typer.Typer(
    help="The shared store (`store: s3://bucket/prefix` in driftgate.yaml, or "
    "$DRIFTGATE_STORE): copy a workspace's runs, registry, route state, drift history and "
    "response cache to it or back.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(store_app, name="store")


@store_app.command("migrate")
def migrate_cmd(
    to: str = typer.Option(None, "--to", help="Copy this workspace's state to this store URL."),
    from_: str = typer.Option(
        None, "--from", help="Copy the state of this store URL into this workspace."
    ),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Copy every run, the registry and route state, drift history and the response cache
    to a store URL (--to) or from one (--from), each copy verified by sha256."""
    from ..errors import ConfigError
    from ..store.migrate import migrate_from, migrate_to

    if (to is None) == (from_ is None):
        raise ConfigError(
            "give exactly one of --to URL and --from URL",
            field="--to" if to is not None else "--from",
            hint="driftgate store migrate --to s3://bucket/prefix",
        )
    ws = workspace(ws_path)
    done = migrate_to(ws, to) if to is not None else migrate_from(ws, from_)
    if json_out:
        print_json(done.model_dump(mode="json"))
        return
    where = f"to {done.url}" if done.direction == "to" else f"from {done.url} into {ws.root}"
    print(
        f"copied {where} in {done.seconds:.1f} s, every copy verified: {done.runs} runs, "
        f"{done.state_objects} registry and route objects, {done.files} drift, review "
        f"and traffic files, {done.cache_entries} cached responses"
    )
