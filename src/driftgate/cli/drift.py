"""`driftgate drift check | tune | history | traffic`: provider and prompt drift monitoring."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from ._app import app
from ._common import JsonOption, WorkspaceOption, print_json, workspace

if TYPE_CHECKING:
    from ..workspace import Workspace

EXIT_CODES = "Exit codes: 0 no drift (or baseline recorded), 1 drift alert, 2 bad input."

drift_app = typer.Typer(
    help="Detect provider drift (the same prompt and model behave differently) and prompt drift "
    "(traffic moved away from the golden set).\n\n" + EXIT_CODES,
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(drift_app, name="drift")

SuiteOption = typer.Option(
    None, "--suite", "-c", "--config", help="Suite file (default: the workspace's suite)."
)
ModelsOption = typer.Option(
    None, "--models", help="Comma-separated model ids instead of the suite's (own baseline)."
)


def _scope(value: str) -> Literal["workspace", "suite"]:
    if value == "workspace":
        return "workspace"
    if value == "suite":
        return "suite"
    from ..errors import ConfigError

    raise ConfigError(
        f"--unreviewed-scope must be workspace or suite, got {value!r}", field="unreviewed-scope"
    )


def _models(value: str | None) -> list[str] | None:
    return [m.strip() for m in value.split(",") if m.strip()] if value else None


CHECK_HELP = (
    "Re-run the production configuration (never from cache) and compare it with the baseline on "
    "every signal: score change with its interval, answer mismatches, output distribution, labels, "
    "lengths, format validity, refusals, errors, latency, cost and fingerprint. The first check "
    "records the baseline. Cron- and CI-friendly.\n\n" + EXIT_CODES
)


@drift_app.command("check", help=CHECK_HELP)
def check_cmd(
    suite: Path = SuiteOption,
    models: str = ModelsOption,
    sample: int = typer.Option(
        None,
        "--sample",
        min=1,
        help="Fixed stratified sample of N cases per golden set (default: the baseline's).",
    ),
    rebaseline: bool = typer.Option(
        False, "--rebaseline", help="Record this run as the new baseline."
    ),
    vectorizer: str = typer.Option(
        None, "--vectorizer", help="auto (embedder if it loads), embedder or tfidf."
    ),
    progress: bool = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."
    ),
    route: str = typer.Option(
        None,
        "--route",
        help="Check what this route's baseline arm serves, on its loop policy's suite.",
    ),
    baseline_model: str = typer.Option(
        None,
        "--baseline-model",
        help="Compare with this model run on the same cases now (two recorded models of a "
        "replay file, say), instead of the stored baseline; stores nothing.",
    ),
    baseline_run: str = typer.Option(
        None,
        "--baseline",
        help="Compare with this stored run (an id, a unique prefix or `latest`) on the cases "
        "both ran, instead of the stored baseline; stores nothing.",
    ),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:

    from ..drift import check_drift
    from ..drift.target import drift_target
    from ..report.drift import render_check

    # One target (workspace found once) for the check and for its triggers in the rendering.
    target = drift_target(suite, workspace=workspace(ws_path), models=_models(models), route=route)
    check = check_drift(
        target,
        sample=sample,
        rebaseline=rebaseline,
        vectorizer=vectorizer,
        progress="auto" if progress is None else progress,
        baseline_model=baseline_model,
        baseline_run=baseline_run,
    )
    if json_out:
        print_json(check.model_dump(mode="json"))
    else:
        print(render_check(check, target.config.triggers))
    raise typer.Exit(check.exit_code)


@drift_app.command("tune")
def tune_cmd(
    suite: Path = SuiteOption,
    models: str = ModelsOption,
    target: float = typer.Option(
        None,
        "--target",
        min=0.0001,
        max=0.9,
        help="False-alarm rate per check to stay under (default 1/12).",
    ),
    safety: float = typer.Option(
        0.8, "--safety", min=0.05, max=1.0, help="Aim at this share of the target."
    ),
    min_history: int = typer.Option(20, "--min-history", min=5, help="Past checks needed."),
    exclude: list[str] = typer.Option(
        None, "--exclude", help="Check id (prefix) of a real incident (repeatable)."
    ),
    exclude_alerts: bool = typer.Option(
        False, "--exclude-alerts", help="Leave out every check that alerted."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the thresholds without saving them."
    ),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Choose per-signal thresholds from the history of past checks so that the trigger's
    false-alarm rate under no drift stays under --target, and report what drift they can
    then detect. Saved thresholds are used by later checks.

    Exit codes: 0 tuned (target met), 1 target not met, 2 bad input (e.g. too little history)."""
    from ..drift.target import drift_target
    from ..drift.tune import tune_thresholds
    from ..report.drift import render_tuning

    monitored = drift_target(suite, workspace=workspace(ws_path), models=_models(models))
    report = tune_thresholds(
        monitored,
        target=target,
        safety=safety,
        min_history=min_history,
        exclude=exclude or [],
        exclude_alerts=exclude_alerts,
        save=not dry_run,
    )
    if json_out:
        print_json(report.model_dump(mode="json"))
    else:
        print(render_tuning(report, monitored.config.triggers))
        print(
            "thresholds not saved (--dry-run)"
            if dry_run
            else "thresholds saved; later checks use them"
        )
    raise typer.Exit(0 if report.met else 1)


@drift_app.command(
    "history",
    help="Each signal over time, as sparklines with alerts marked (`!`), an offline HTML chart, or "
    "JSON for alerting pipelines.\n\n"
    + EXIT_CODES
    + " History exits 1 when the latest check alerted.",
)
def history_cmd(
    suite: Path = SuiteOption,
    models: str = ModelsOption,
    last: int = typer.Option(None, "--last", "-n", min=1, help="Only the last N checks."),
    html: Path = typer.Option(
        None, "--html", help="Write an offline HTML chart (inline SVG) to this file."
    ),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    from ..drift.history import checked, latest_alerted
    from ..drift.target import drift_target
    from ..report.drift_history import history_html, history_json, render_history

    t = drift_target(suite, workspace=workspace(ws_path), models=_models(models))
    checks = t.store.checks(last=last)
    if html is not None:
        html.write_text(
            history_html(checks, title=f"drift history — {t.name or t.key}"), encoding="utf-8"
        )
    if json_out:
        print_json({"key": t.key, "suite": t.name, **history_json(checks)})
    else:
        print(f"drift history of {_target_name(t.name, models)}")
        print(render_history(checks))
        if html is not None:
            print(f"chart: {html}")
        if not checked(checks):
            _point_at_other_suites(t.ws, t.key)
    raise typer.Exit(1 if latest_alerted(checks) else 0)


def _target_name(name: str | None, models: str | None) -> str:
    return (name or "the workspace's suite") + (f" on {models}" if models else "")


def _point_at_other_suites(ws: Workspace, key: str) -> None:
    """A history looked up for a suite without checks names the ones that have them."""
    from ..drift.history import keys_with_checks

    others = keys_with_checks(ws, besides=key)
    if others:
        listed = "; ".join(
            f"-c {k.suite or '(inline suite)'}"
            + (f" --models {','.join(k.models)}" if k.models else "")
            + f" ({n} check{'s' if n != 1 else ''})"
            for k, n in others
        )
        print(f"checks of other suites: {listed}")


TRAFFIC_HELP = (
    "Prompt drift: logged production inputs against the golden set (domain classifier, share of "
    "inputs far from every golden case, PSI on categorical fields and lengths) and against a "
    "reference window (also confidence, edit and override rates when logged). Also flags prompt "
    "files whose current digest no stored run evaluated (an unreviewed change): a notice, or an "
    "alert with `traffic: {unreviewed: alert}` in the drift settings.\n\n" + EXIT_CODES
)


@drift_app.command("traffic", help=TRAFFIC_HELP)
def traffic_cmd(
    inputs: Path = typer.Option(
        None, "--inputs", help="Logged production inputs: JSONL, one request per line."
    ),
    route: str = typer.Option(
        None, "--route", help="Or a route's own traffic log (`driftgate route`), feedback included."
    ),
    field: str = typer.Option(
        None, "--field", help="The input text field (default: the prompts' one text variable)."
    ),
    suite: Path = SuiteOption,
    reference: Path = typer.Option(
        None, "--reference", help="A reference window: another JSONL log."
    ),
    window: int = typer.Option(
        None, "--window", min=1, help="Compare the last N records with the N before."
    ),
    categorical: list[str] = typer.Option(
        None, "--categorical", help="Categorical field for PSI (repeatable)."
    ),
    vectorizer: str = typer.Option(
        None, "--vectorizer", help="auto (embedder if it loads), embedder or tfidf."
    ),
    unreviewed: bool = typer.Option(
        True, "--unreviewed/--no-unreviewed", help="Flag prompts no run evaluated."
    ),
    scope: str = typer.Option(
        "workspace",
        "--unreviewed-scope",
        help="Prompts checked for an unreviewed digest: workspace or suite.",
    ),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    from ..drift import check_traffic
    from ..report.drift import render_traffic

    report = check_traffic(
        inputs,
        route=route,
        suite=suite,
        workspace=workspace(ws_path),
        field=field,
        reference=reference,
        window=window,
        categorical=[c for item in categorical or [] for c in item.split(",") if c] or None,
        vectorizer=vectorizer,
        check_unreviewed=unreviewed,
        unreviewed_scope=_scope(scope),
    )
    if json_out:
        print_json(report.model_dump(mode="json"))
    else:
        print(render_traffic(report))
    raise typer.Exit(report.exit_code)
