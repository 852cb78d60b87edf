"""`driftgate store migrate`: a workspace's state copied to a shared store, or back.

To the store (`--to URL`): every run (manifest, result parts, shard states, Parquet export),
the registry and live route state (aliases, audit chain, versions, weights and their
history), drift history, traffic logs (as parts, like results), review skips and the
response cache. From it
(`--from URL`): the same, into this workspace's folders. Either way each object or file
copied is read back and its sha256 compared with the source's (what both sides already
hold is compared too), so a migration that ends without an error copied everything whole.
Copying again copies only what changed; nothing on the destination is deleted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from .._strict import Strict
from ..workspace import Workspace
from .mirror import STATE_PREFIX, pull_tree, push_tree
from .objects import ObjectStore
from .parts import pull_segments, push_segments
from .shared_cache import pull_cache, push_cache

# state_dir folders copied as whole files (the registry and routes have their own formats).
PLAIN_STATE = ("drift", "review")
# state_dir folder of append-only segments (one folder per route), copied as parts.
SEGMENTS = "traffic"


class Migration(Strict):
    direction: Literal["to", "from"]
    url: str
    runs: int
    state_objects: int
    files: int
    cache_entries: int
    seconds: float


def _cache_path(ws: Workspace) -> Path:
    return ws.cache_dir / "responses.sqlite"


def migrate_to(ws: Workspace, url: str) -> Migration:
    """Copy this workspace's state to the store at `url`, verified."""
    from ..registry.shared import push_state
    from .shared_runs import push_runs

    store = ObjectStore.from_url(url, field="--to")
    t0 = time.perf_counter()
    runs = push_runs(store, ws.runs_dir, verify=True)
    state = push_state(store, ws.state_dir)
    files = sum(
        push_tree(store, ws.state_dir / name, f"{STATE_PREFIX}/{name}") for name in PLAIN_STATE
    )
    traffic = ws.state_dir / SEGMENTS
    for folder in sorted(p for p in traffic.iterdir() if p.is_dir()) if traffic.is_dir() else []:
        files += push_segments(
            store, folder, f"{STATE_PREFIX}/{SEGMENTS}/{folder.name}", verify=True
        )
    cache = push_cache(store, _cache_path(ws))
    return Migration(
        direction="to",
        url=url,
        runs=runs,
        state_objects=state,
        files=files,
        cache_entries=cache,
        seconds=time.perf_counter() - t0,
    )


def migrate_from(ws: Workspace, url: str) -> Migration:
    """Copy the store at `url` into this workspace's folders, verified."""
    from ..registry.shared import pull_state
    from .shared_runs import pull_runs_all

    store = ObjectStore.from_url(url, field="--from")
    t0 = time.perf_counter()
    runs = pull_runs_all(store, ws.runs_dir, verify=True)
    state = pull_state(store, ws.state_dir)
    files = sum(
        pull_tree(store, f"{STATE_PREFIX}/{name}", ws.state_dir / name) for name in PLAIN_STATE
    )
    routes = {o.key.split("/")[2] for o in store.iter(f"{STATE_PREFIX}/{SEGMENTS}/")}
    for route in sorted(routes):
        files += pull_segments(
            store,
            f"{STATE_PREFIX}/{SEGMENTS}/{route}",
            ws.state_dir / SEGMENTS / route,
            verify=True,
        )
    cache = pull_cache(store, _cache_path(ws))
    return Migration(
        direction="from",
        url=url,
        runs=runs,
        state_objects=state,
        files=files,
        cache_entries=cache,
        seconds=time.perf_counter() - t0,
    )
