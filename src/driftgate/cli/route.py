"""`driftgate route status | check | set | rollback | replay | feedback | labels`: serving."""

from __future__ import annotations

import json
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
    from ..report.route import status_lines
    from ..router.operations import route_status

    ws, spec = _load(ws_path, route)
    status = route_status(ws, spec)
    if json_out:
        print_json(status.verdict.model_dump(mode="json"))
        return
    _print(*status_lines(spec, status), *_loop_section(ws, spec))


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
    from ..report.route import check_notes
    from ..router.operations import check_route

    ws, spec = _load(ws_path, route)
    result = check_route(ws, spec, rollback=rollback)
    if json_out:
        print_json(
            {
                "verdict": result.verdict.model_dump(mode="json"),
                "rolled_back": result.rolled_back,
                "moves": result.moves,
                "weights": result.weights,
            }
        )
    else:
        _print(*_verdict_tables(result.verdict), *check_notes(spec, result))
    raise typer.Exit(result.exit_code)


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
    from ..report.route import fmt_weights
    from ..router import set_weights
    from ..router.operations import parse_weights

    ws, spec = _load(ws_path, route)
    weights = parse_weights(assignments, spec)
    state = set_weights(ws, spec, weights, reason=reason or "set by hand (driftgate route set)")
    print(f"route {spec.name}: {fmt_weights(state.previous)} → {fmt_weights(state.weights)}")


@route_app.command("rollback")
def rollback_cmd(
    route: str = RouteArgument,
    arm: str = typer.Argument(..., help="The live arm whose share goes back to the baseline."),
    reason: str = ReasonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Give ARM's whole share to the baseline arm (what a canary rollback does)."""
    from ..report.route import fmt_weights
    from ..router.operations import rollback_arm

    ws, spec = _load(ws_path, route)
    state = rollback_arm(ws, spec, arm, reason=reason or "rolled back by hand")
    if state is None:
        print(f"{arm} already has weight 0 on route {spec.name}: nothing moved")
        return
    print(f"route {spec.name}: {fmt_weights(state.previous)} → {fmt_weights(state.weights)}")


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
    from ..report.route import replay_lines
    from ..router.replay import replay_file

    ws, spec = _load(ws_path, route)
    report = replay_file(
        ws, spec, inputs, limit=limit, sticky_field=sticky_field, repeat=repeat,
        concurrency=concurrency, feedback=feedback,
    )  # fmt: skip
    last = report.last_canary
    _print(
        *replay_lines(spec, report),
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

    from ..report.route import fmt_weights
    from ..router.feedback import record_feedback

    ws, spec = _load(ws_path, route)
    value = _json_or_text(correction)
    outcome = record_feedback(ws, spec, request_id, verdict.value, correction=value, note=note)
    shown = f" (correction: {json.dumps(value, ensure_ascii=False)})" if value is not None else ""
    print(f"recorded {verdict.value} on request {request_id}{shown}")
    if not outcome.request_logged:
        print(
            f"warning: route {spec.name} has logged no request {request_id!r} (yet): the "
            "feedback counts once its decision is logged",
            file=sys.stderr,
        )
    if outcome.verdict is not None:
        _print("canary check ran:", *_verdict_tables(outcome.verdict))
        if outcome.moves:
            before, after = fmt_weights(outcome.weights_before), fmt_weights(outcome.weights_after)
            print(f"{'; '.join(outcome.moves)}: {before} → {after}")


@route_app.command("labels")
def labels_cmd(
    route: str = RouteArgument,
    output: Path = typer.Option(..., "--output", "-o", help="The golden set to write (.jsonl)."),
    ws_path: Path = WorkspaceOption,
) -> None:
    """Write the route's feedback as a golden set: one case per answered request with
    feedback, its variables and as `expected` the user's correction or the accepted answer
    (rejects without a correction are left out). Evaluate the next version on it."""
    from ..router.operations import write_labels

    cases = write_labels(workspace(ws_path), route, output)
    kinds = Counter(c["metadata"]["verdict"] for c in cases)
    detail = ", ".join(f"{n} {v}" for v, n in sorted(kinds.items()))
    print(f"wrote {len(cases)} labeled cases to {output}" + (f" ({detail})" if detail else ""))
