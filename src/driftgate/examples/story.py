"""The offline demo: the product's whole story on the example workspace, one step at a time.

A bank-transaction classifier (`local/knn`: nearest labeled examples in a versioned index of
merchant strings) was built on classic card statements. A new bank's statement format now
makes up half of the traffic, and the classifier is much worse on it. The story, all of it
through the library functions the CLI calls, offline, in about a minute:

  eval        the golden set, per segment with intervals: the drop on the new format
  production  the classifier's first version goes to production (an alias move)
  serve       live traffic through the route; simulated users accept or correct each answer
  loop        `driftgate loop` turns: the drift alarm, a retrain of the index from the
              feedback labels (gated offline), shadow, canary ramp, promotion; between
              turns later traffic is served (requests the retrain never saw)
  recovered   the golden set again, on what production serves now
  rollback    production back to the first version: a pointer move

It runs in a fresh copy of the workspace (`dest`), so it can be told again from the start
and never changes the example itself. Each step is handed to `on_step` as it completes
(`driftgate demo` renders it and writes its report, see `report/story.py`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..workspace import Workspace

if TYPE_CHECKING:
    from ..drift.schema import TrafficReport
    from ..engine.runner import Run
    from ..loops import LoopResult
    from ..registry.moves import MoveResult
    from ..router.replay import ReplayReport

PROMPT = "categorize-knn"
ROUTE = "categorize-knn"
SUITE = "evalsets/categorize-knn.suite.yaml"
TRAFFIC = "evalsets/traffic.jsonl"
# Served after the retrain: requests the new version did not learn from.
LATER_TRAFFIC = "evalsets/traffic-later.jsonl"
# What a workspace is made of (the rest of the example folder is runs and state).
COPIED = ("prompts", "evalsets", "routes", "gates")
SETTINGS = f"# The demo's copy of the example workspace (driftgate demo).\nsuite: {SUITE}\n"


@dataclass
class Step:
    """One step of the story: what it was, and the object that shows it."""

    key: str
    run: Run | None = None
    serve: ReplayReport | None = None
    drift: TrafficReport | None = None
    loop: LoopResult | None = None
    move: MoveResult | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def prepare(source: Workspace, dest: Path) -> Workspace:
    """A fresh copy of `source`'s workspace files in `dest` (an old demo there is replaced)."""
    missing = [name for name in COPIED[:3] if not (source.root / name).is_dir()]
    if missing or not (source.root / SUITE).is_file():
        raise ConfigError(
            f"{source.root} is not the example workspace (needs {', '.join(COPIED[:3])} and {SUITE})",
            hint="run `driftgate demo` from a clone of the driftgate repository",
        )
    dest = dest.resolve()
    if dest == source.root.resolve() or dest in source.root.resolve().parents:
        raise ConfigError(
            "the demo folder cannot be the workspace or a folder around it", path=dest
        )
    if dest.exists():
        if not (dest / "driftgate.yaml").is_file():
            raise ConfigError(
                "the demo folder exists and is not a demo workspace; not replacing it",
                path=dest,
                hint="pass another folder with --dir, or delete it",
            )
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in COPIED:
        if (source.root / name).is_dir():
            shutil.copytree(source.root / name, dest / name)
    (dest / "driftgate.yaml").write_text(SETTINGS, encoding="utf-8")
    return Workspace.find(dest)


def tell(
    source: Workspace,
    dest: Path,
    on_step: Callable[[Step], None],
    *,
    max_turns: int = 10,
    replays_per_turn: int = 2,
) -> list[Step]:
    """Tell the story in a fresh copy of `source` under `dest`; every step also goes to
    `on_step` as soon as it is done. Between loop turns the traffic is replayed with
    feedback `replays_per_turn` times (the evidence a shadow or canary waits for)."""
    from ..engine.runner import run
    from ..registry import promote, register_artifacts, rollback
    from ..router.router import load_route_ref

    ws = prepare(source, dest)
    steps: list[Step] = []

    def done(step: Step) -> None:
        steps.append(step)
        on_step(step)

    done(Step("eval", run=run(SUITE, workspace=ws)))
    register_artifacts(ws)
    first = f"prompt/{PROMPT}@1"
    done(
        Step(
            "production",
            move=promote(first, "production", suite=SUITE, reason="first version", workspace=ws),
        )
    )
    spec = load_route_ref(ws, ROUTE)
    done(Step("serve", serve=_serve(ws, spec)))
    _loop(ws, spec, done, max_turns=max_turns, replays=replays_per_turn)
    done(Step("recovered", run=run(SUITE, workspace=ws, prompts=[f"{PROMPT}@production"])))
    done(Step("rollback", move=rollback(f"prompt/{PROMPT}", reason="demo", workspace=ws)))
    return steps


def _serve(ws: Workspace, spec: Any, traffic: str = TRAFFIC) -> ReplayReport:
    from ..router.replay import replay_file

    return replay_file(ws, spec, ws.root / traffic, feedback=True)


def _loop(
    ws: Workspace, spec: Any, done: Callable[[Step], None], *, max_turns: int, replays: int
) -> None:
    """Loop turns until a candidate is promoted (or reverted, or the turns run out); the
    traffic is served again between turns, as production would."""
    from ..loops import run_loop

    for _ in range(max_turns):
        result = run_loop(ROUTE, workspace=ws)
        done(Step("loop", loop=result))
        actions = {e.action for e in result.events}
        settled = result.phase_before == "idle" and result.phase == "idle"  # no alarm, no move
        if actions & {"promote", "revert"} or result.attention or settled:
            return
        for _ in range(replays):
            _serve(ws, spec, LATER_TRAFFIC)
