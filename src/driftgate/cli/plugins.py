"""`driftgate plugins`: the installed entry-point plugins, per group, and whether they load."""

from __future__ import annotations

from ._app import app
from ._common import JsonOption, print_json


@app.command("plugins")
def plugins(json_out: bool = JsonOption) -> None:
    """List installed plugins (providers, scorers, drift signals) and load errors."""
    from dataclasses import asdict

    from ..plugins import GROUPS, plugin_infos

    infos = [info for group in GROUPS for info in plugin_infos(group)]
    if json_out:
        print_json([asdict(i) for i in infos])
        return
    for group in GROUPS:
        rows = [i for i in infos if i.group == group]
        print(f"{group}: {len(rows) or 'none'}")
        for i in rows:
            status = "ok" if i.error is None else f"FAILED: {i.error}"
            source = f" ({i.dist})" if i.dist else ""
            print(f"  {i.name} = {i.value}{source}  {status}")
