"""`driftgate route status | check | set | rollback | replay | feedback | labels`: serving."""

from __future__ import annotations

import json
import time
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ._app import app
from ._common import JsonOption, WorkspaceOption, print_json, workspace

if TYPE_CHECKING:
    from ..artifacts.route import RouteSpec
    from ..router import CanaryVerdict
    from ..router.replay import ReplayResult
    from ..workspace import Workspace

route_app = typer.Typer(
    help="Serve prompts through routes (routes/NAME.yaml): live weights, canary checks and "
    "rollbacks, user feedback, and golden sets made of feedback.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(route_app, name="route")

RouteArgument = typer.Argument(..., help="A route name (routes/NAME.yaml) or a route file.")
ReasonOption = typer.Option(None, "--reason", help="Why: recorded in the route's history.")


class FeedbackVerdict(StrEnum):
    accept = "accept"
    edit = "edit"
    reject = "reject"


def _load(ws_path: Path | None, route: str) -> tuple[Workspace, RouteSpec]:
    from ..router import load_route_ref

    ws = workspace(ws_path)
    return ws, load_route_ref(ws, route)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def _weights(weights: dict[str, float]) -> str:
    return ", ".join(f"{arm}={w:g}" for arm, w in weights.items())


def _print(*renderables: Any) -> None:
    from ..report import console

    out = console()
    for r in renderables:
        out.print(r)


def _verdict_tables(verdict: CanaryVerdict) -> list[Any]:
    from ..report.route import verdict_tables

    return verdict_tables(verdict)


@route_app.command("status")
def status_cmd(
    route: str = RouteArgument, json_out: bool = JsonOption, ws_path: Path = WorkspaceOption
) -> None:
    """The route's arms, shadows (and live arms on trial as shadows) and fallbacks; the live
    weights now (marked when moved from the file's, with the last move's reason); per arm
    and per segment from the log: requests, errors, feedback, acceptance, labeled answers
    and their quality (the route's scorers) with always-valid bounds; each canary's and
    shadow's difference with the baseline (shadows: paired with the live answers), overall
    and per segment, and its verdict. Moves nothing. --json prints the canary verdict."""
    from rich.table import Table

    from ..router import check_canary, current_weights, history, mirrored_arms

    ws, spec = _load(ws_path, route)
    verdict = check_canary(ws, spec)
    if json_out:
        print_json(verdict.model_dump(mode="json"))
        return
    weights = current_weights(ws, spec)
    mirrored = mirrored_arms(ws, spec)
    arms = Table("arm", "kind", "prompt", "model", "route file", "live now",
                 title=f"route {spec.name} ({spec.digest})")  # fmt: skip
    for a in spec.arms:
        moved = " (moved)" if weights.get(a.name, 0.0) != a.weight else ""
        kind = "live, baseline" if a.name == spec.baseline_arm else "live"
        kind = "live at 0, shadow (mirrored)" if a.name in mirrored else kind
        arms.add_row(a.name, kind, a.prompt, a.model or "(the prompt's)", f"{a.weight:g}%",
                     f"{weights.get(a.name, 0.0):g}%{moved}")  # fmt: skip
    for s in spec.shadow:
        arms.add_row(s.name, "shadow", s.prompt, s.model or "(the prompt's)",
                     f"sample {s.sample:.0%}", "never returned")  # fmt: skip
    lines: list[Any] = [arms, "fallbacks: " + (", ".join(spec.fallbacks) or "none")]
    moves = [h for h in history(ws, spec.name) if h.route_digest == spec.digest]
    if moves and moves[-1].weights == weights:
        last = moves[-1]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last.moved_at))
        lines.append(f"weights moved {when} by {last.actor or '?'}: {last.reason}")
        lines.append(f"  before: {_weights(last.previous)}; now: {_weights(last.weights)}")
    if mirrored:
        lines.append("on trial as shadows (weight 0, mirrored): " + ", ".join(mirrored))
    _print(*lines, *_verdict_tables(verdict), *_loop_section(ws, spec))


def _loop_section(ws: Workspace, spec: RouteSpec) -> list[str]:
    """Where `driftgate loop` has this route, and its last steps."""
    from ..loops import loop_history, read_loop_state
    from ..report.loop import render_loop_status

    history = loop_history(ws, spec.name, limit=8)
    if spec.loop is None and not history:
        return []
    return [render_loop_status(read_loop_state(ws, spec.name), history)]


CHECK_HELP = (
    "Judge the route's canaries now on its traffic log: each live arm's quality on labeled "
    "answers against the baseline's (always-valid confidence sequence at the route's canary "
    "policy) and its provider error rate. A canary found worse is rolled back (its weight "
    "given to the baseline) when --rollback, or by default when the route's "
    "`canary.auto_rollback` is on; a healthy one steps up its `ramp`. Cron-friendly.\n\n"
    "Exit codes: 0 nothing wrong that is still live (healthy, waiting, or a worse canary "
    "already at weight 0), 1 a worse canary still has (or just had) live traffic, 2 bad input."
)


@route_app.command("check", help=CHECK_HELP)
def check_cmd(
    route: str = RouteArgument,
    rollback: bool = typer.Option(
        None,
        "--rollback/--no-rollback",
        help="Roll a worse canary back (default: the route's canary.auto_rollback).",
    ),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    from ..router import current_weights, guard

    ws, spec = _load(ws_path, route)
    do_rollback = spec.canary.auto_rollback if rollback is None else rollback
    verdict, moves = guard(ws, spec, rollback=do_rollback)
    weights = current_weights(ws, spec)
    notes = [f"{m}: live weights now {_weights(weights)}" for m in moves]
    for f in verdict.findings:
        if f.action == "promote" and not f.shadow:
            notes.append(
                f"{f.arm} is not worse at {weights.get(f.arm, 0.0):g}% on fresh evidence: "
                "ready to promote (`driftgate loop` moves the alias on a route with `loop:`)"
            )
    for arm in verdict.rollback_arms:
        if f"rolled back {arm}" in moves:
            continue
        if weights.get(arm, 0.0) == 0:
            notes.append(f"{arm} already has weight 0: nothing to move")
        else:
            notes.append(
                f"{arm} not rolled back (rollback off): `driftgate route rollback "
                f"{spec.name} {arm}` moves it"
            )
    if json_out:
        rolled = [a for a in verdict.rollback_arms if f"rolled back {a}" in moves]
        print_json(
            {
                "verdict": verdict.model_dump(mode="json"),
                "rolled_back": rolled,
                "moves": moves,
                "weights": weights,
            }
        )
    else:
        _print(*_verdict_tables(verdict), *notes)
    # Exit 1 only while something is wrong that a person may have to act on: a worse canary
    # rolled back now, or left live with rollback off. One already at 0 needs nothing.
    live_worse = [
        a for a in verdict.rollback_arms if f"rolled back {a}" in moves or weights.get(a, 0.0) > 0
    ]
    raise typer.Exit(1 if live_worse else 0)


def _parse_assignments(items: list[str], spec: RouteSpec) -> dict[str, float]:
    import math

    from ..errors import ConfigError

    live = {a.name for a in spec.arms}
    out: dict[str, float] = {}
    for item in items:
        arm, eq, raw = item.partition("=")
        arm = arm.strip()
        try:
            weight = float(raw) if eq and arm else math.nan
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight):
            raise ConfigError(
                f"expected ARM=WEIGHT (a percentage), got {item!r}", field="ARM=WEIGHT"
            )
        if arm in out:
            raise ConfigError(f"arm {arm!r} is given twice", field=arm)
        if arm not in live:
            _not_live(spec, arm)
        out[arm] = weight
    return out


def _not_live(spec: RouteSpec, arm: str) -> None:
    """Shadow arms take no live weight; any other unknown name gets the library's suggestions."""
    from ..errors import ConfigError

    if any(s.name == arm for s in spec.shadow):
        raise ConfigError(
            f"{arm!r} is a shadow arm of route {spec.name!r}: it serves nobody, so it has no "
            "live weight (its `sample` is set in the route file)",
            field=arm,
        )
    spec.arm(arm)  # raises UnknownNameError with the closest names


@route_app.command("set")
def set_cmd(
    route: str = RouteArgument,
    assignments: list[str] = typer.Argument(
        ..., metavar="ARM=WEIGHT", help="New live weights (percent); the result must sum to 100."
    ),
    reason: str = ReasonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Move live traffic between arms now (every serving process follows on its next request).
    Arms not named keep their weight."""
    from ..router import set_weights

    ws, spec = _load(ws_path, route)
    weights = _parse_assignments(assignments, spec)
    state = set_weights(ws, spec, weights, reason=reason or "set by hand (driftgate route set)")
    print(f"route {spec.name}: {_weights(state.previous)} → {_weights(state.weights)}")


@route_app.command("rollback")
def rollback_cmd(
    route: str = RouteArgument,
    arm: str = typer.Argument(..., help="The live arm whose share goes back to the baseline."),
    reason: str = ReasonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Give ARM's whole share to the baseline arm (what a canary rollback does)."""
    from ..router import current_weights, rollback_weights

    ws, spec = _load(ws_path, route)
    if arm not in {a.name for a in spec.arms}:
        _not_live(spec, arm)
    if arm != spec.baseline_arm and current_weights(ws, spec).get(arm, 0.0) == 0:
        print(f"{arm} already has weight 0 on route {spec.name}: nothing moved")
        return
    state = rollback_weights(ws, spec, arm, reason=reason or "rolled back by hand")
    print(f"route {spec.name}: {_weights(state.previous)} → {_weights(state.weights)}")


def _render_replay(ws: Workspace, spec: RouteSpec, result: ReplayResult) -> list[Any]:
    from rich.table import Table

    from ..router import history, read_decisions
    from ..router.tally import same_answer

    expected = {r.id: r.expected for r in result.requests}
    rows: dict[tuple[str, bool], Counter[str]] = {
        (a.name, shadow): Counter()
        for shadow, arms in ((False, spec.arms), (True, spec.shadow))
        for a in arms
    }
    for d in read_decisions(ws, spec.name):  # this replay's decisions, failed ones included
        if d.id not in expected or d.ts < result.started or (d.arm, d.shadow) not in rows:
            continue
        row = rows[(d.arm, d.shadow)]
        row["requests"] += 1
        row["errors"] += d.error is not None
        if d.error is None and expected[d.id] is not None:
            row["labeled"] += 1
            row["matches"] += same_answer(d.parsed, expected[d.id])
    title = f"replay of {len(result.requests)} requests on route {spec.name}"
    table = Table("arm", "requests", "errors", "feedback", "acceptance", "matches expected",
                  title=title)  # fmt: skip
    for (arm, shadow), row in rows.items():
        n_fb = result.feedback[arm]
        acceptance = "–" if shadow or not n_fb else _pct(result.accepted[arm] / n_fb)
        matches = _pct(row["matches"] / row["labeled"]) if row["labeled"] else "–"
        name, n_fb_text = (arm + " (shadow)", "–") if shadow else (arm, str(n_fb))
        table.add_row(
            name, str(row["requests"]), str(row["errors"]), n_fb_text, acceptance, matches
        )
    out: list[Any] = [table]
    failed = sum(result.errors.values())
    if failed:
        out.append(f"{failed} requests failed (logged as errors of their arm):")
        for text, n in result.errors.most_common(5):
            out.append(f"  {n}× {text}")
        if len(result.errors) > 5:
            out.append(f"  … and {len(result.errors) - 5} other errors")
    for h in history(ws, spec.name):
        if h.moved_at >= result.started and h.route_digest == spec.digest:
            out.append(f"weights moved: {h.reason}\n  now: {_weights(h.weights)}")
    return out


@route_app.command("replay")
def replay_cmd(
    route: str = RouteArgument,
    inputs: Path = typer.Argument(..., help="JSONL: a golden set or an input log."),
    limit: int = typer.Option(None, "--limit", "-n", min=1, help="Only the first N lines."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Requests in flight."),
    feedback: bool = typer.Option(
        False, "--feedback", help="Give feedback from each line's `expected` (simulated users)."
    ),
    sticky_field: str = typer.Option(
        None, "--sticky-field", help="Pin arms by this field (of `vars`, else of the line)."
    ),
    repeat: int = typer.Option(
        1, "--repeat", min=1, help="Serve the file this many times (each a new request)."
    ),
    ws_path: Path = WorkspaceOption,
) -> None:
    """Serve every line of INPUTS through the route, as an application would, and log it.

    A line whose id the route already logged (a second replay, or --repeat) is served as a
    new request with the id suffixed `~2`, `~3`, …; a line's `segment` is the request's.

    A demo and test tool for simulated traffic: each line's `vars` object (else the line
    without `id` and `expected`) is the request, its `id` the request id, and its `expected`
    goes to simulator models (`sim/...`) so they answer at their configured accuracy. With
    --feedback, an answer equal to `expected` (case-insensitive for text) is accepted, any
    other is edited to it, so canary checks and rollbacks run as with real users. Provider
    and template errors are counted and summarized, not fatal. Exit 0, or 2 on bad input."""
    import asyncio

    from ..router import Router, read_decisions
    from ..router.replay import read_requests, repeated, replay

    ws, spec = _load(ws_path, route)
    requests = read_requests(inputs, limit=limit, sticky_field=sticky_field)
    requests = repeated(requests, {d.id for d in read_decisions(ws, spec.name)}, times=repeat)
    router = Router(spec, workspace=ws)
    result = asyncio.run(replay(router, requests, concurrency=concurrency, feedback=feedback))
    last = router.last_canary
    _print(
        *_render_replay(ws, spec, result),
        *(
            ["last canary check:", *_verdict_tables(last)]
            if last
            else [f"no canary check ran (one runs every {spec.canary.check_every} feedback events)"]
        ),
    )


def _json_or_text(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@route_app.command("feedback")
def feedback_cmd(
    route: str = RouteArgument,
    request_id: str = typer.Argument(..., help="The answered request's id."),
    verdict: FeedbackVerdict = typer.Argument(..., help="What the user did with the answer."),
    correction: str = typer.Option(
        None, "--correction", help="The right answer: JSON is stored as that value, else text."
    ),
    note: str = typer.Option(None, "--note", help="Free text kept with the event."),
    ws_path: Path = WorkspaceOption,
) -> None:
    """Record what a user did with an answer: accept, edit or reject it. Every
    `canary.check_every` feedback events on the route the canaries are judged, as in a
    serving process, and a worse one is rolled back under `canary.auto_rollback`."""
    import sys
    import time

    from ..router import current_weights, guard, read_decisions, read_feedback
    from ..router.log import Feedback, TrafficLog

    ws, spec = _load(ws_path, route)
    value = _json_or_text(correction)
    before = current_weights(ws, spec)
    log = TrafficLog(ws, spec.name)
    try:
        log.feedback(
            Feedback(
                request_id=request_id, ts=time.time(), route=spec.name, verdict=verdict.value,
                correction=value, note=note,
            )
        )  # fmt: skip
    finally:
        log.close()
    # As a serving router does every `check_every` events; here counted over the route's log.
    checked, moved = None, []
    if len(read_feedback(ws, spec.name)) % spec.canary.check_every == 0:
        checked, moved = guard(ws, spec)
    shown = f" (correction: {json.dumps(value, ensure_ascii=False)})" if value is not None else ""
    print(f"recorded {verdict.value} on request {request_id}{shown}")
    if not any(d.id == request_id for d in read_decisions(ws, spec.name)):
        print(
            f"warning: route {spec.name} has logged no request {request_id!r} (yet): the "
            "feedback counts once its decision is logged",
            file=sys.stderr,
        )
    if checked is not None:
        _print("canary check ran:", *_verdict_tables(checked))
        after = current_weights(ws, spec)
        if moved:
            print(f"{'; '.join(moved)}: {_weights(before)} → {_weights(after)}")


@route_app.command("labels")
def labels_cmd(
    route: str = RouteArgument,
    output: Path = typer.Option(..., "--output", "-o", help="The golden set to write (.jsonl)."),
    ws_path: Path = WorkspaceOption,
) -> None:
    """Write the route's feedback as a golden set: one case per answered request with
    feedback, its variables and as `expected` the user's correction or the accepted answer
    (rejects without a correction are left out). Evaluate the next version on it."""
    from ..errors import ConfigError
    from ..router import labeled_cases
    from ..store._atomic import write_atomic

    if output.suffix.lower() != ".jsonl":
        raise ConfigError("labels are written as JSONL: name the file *.jsonl", path=output)
    ws, spec = _load(ws_path, route)
    cases = labeled_cases(ws, spec.name)
    write_atomic(output, "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases))
    kinds = Counter(c["metadata"]["verdict"] for c in cases)
    detail = ", ".join(f"{n} {v}" for v, n in sorted(kinds.items()))
    print(f"wrote {len(cases)} labeled cases to {output}" + (f" ({detail})" if detail else ""))
