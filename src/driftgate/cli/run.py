"""`driftgate run`, `driftgate runs list`, `driftgate show`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._app import app
from ._common import JsonOption, WorkspaceOption, print_json, workspace

if TYPE_CHECKING:
    from ..engine.progress import ProgressMode
    from ..engine.runner import Run
    from ..providers.base import ModelConfig
    from ..workspace import Workspace

runs_app = typer.Typer(help="List stored runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


# Options of `driftgate run`, named here so the command reads as what it does.
ConfigOption = typer.Option(
    None, "--config", "-c", help="Suite file (default: the workspace's suite)."
)
PromptOption = typer.Option(
    None, "--prompt", "-p", help="Run these prompt refs instead of the suite's."
)
ModelOption = typer.Option(
    None, "--model", "-m", help="Run on these model ids instead of the suite's."
)
RepeatOption = typer.Option(None, "--repeat", min=1, help="Repeat each case N times.")
MaxConcurrencyOption = typer.Option(
    None, "--max-concurrency", min=1, help="Calls in flight in total."
)
LimitOption = typer.Option(None, "--limit", min=1, help="First N cases of each golden set.")
SampleOption = typer.Option(
    None, "--sample", min=1, help="A seeded random sample of N cases per golden set."
)
FilterOption = typer.Option(
    None,
    "--filter",
    help="Cases to run: id:GLOB, segment:GLOB, tag:GLOB or GLOB (repeatable, AND).",
)
NoCacheOption = typer.Option(
    False,
    "--no-cache",
    help="Call the provider even when a cached answer exists (the fresh answer replaces it).",
)
MaxErrorRateOption = typer.Option(
    None, "--max-error-rate", min=0, max=1, help="Provider errors tolerated."
)
SeedOption = typer.Option(None, "--seed", help="Seed for --sample.")
ResumeOption = typer.Option(None, "--resume", help="Finish an interrupted run (RUN_ID or prefix).")
RetryErrorsOption = typer.Option(
    False,
    "--retry-errors",
    help="With --resume: run again the cases that ended in a provider error (kept in replaced/).",
)
ShardOption = typer.Option(
    None,
    "--shard",
    help="Run part I of N of the suite's cases (split by a hash of golden set and case id) "
    "into one run shared by N runners; the last to end finishes it.",
    metavar="I/N",
)
RunIdOption = typer.Option(
    None,
    "--run-id",
    help="The run's id (with --shard: the same on every runner; default: derived from the "
    "git commit, the plan and the CI pipeline's id).",
)
OutputOption = typer.Option(
    None,
    "--output",
    "-o",
    help="Write a report: .json .csv .md .xml (JUnit) .html (repeatable).",
)
ProgressOption = typer.Option(
    None,
    "--progress/--no-progress",
    help="Progress: a bar on a terminal, else a status line on stderr every 10 s (default: on).",
)
QuietOption = typer.Option(
    False, "--quiet", "-q", help="No progress output (the result is still printed)."
)


def progress_mode(progress: bool | None, quiet: bool) -> ProgressMode:
    """The engine's progress mode for a command's --progress/--no-progress and --quiet."""
    return "off" if quiet or progress is False else "auto"


@app.command("run")
def run_cmd(
    config: Path = ConfigOption,
    prompt: list[str] = PromptOption,
    model: list[str] = ModelOption,
    repeat: int = RepeatOption,
    max_concurrency: int = MaxConcurrencyOption,
    limit: int = LimitOption,
    sample: int = SampleOption,
    filter: list[str] = FilterOption,
    no_cache: bool = NoCacheOption,
    max_error_rate: float = MaxErrorRateOption,
    seed: int = SeedOption,
    resume: str = ResumeOption,
    retry_errors: bool = RetryErrorsOption,
    output: list[Path] = OutputOption,
    progress: bool = ProgressOption,
    quiet: bool = QuietOption,
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
    force: bool = typer.Option(
        False, "--force", help="Run a plan over 1,000,000 calls (refused without it)."
    ),
    model_column: str = typer.Option(
        None,
        "--model-column",
        help="The column naming the model in the replay files given with --model (default: model).",
    ),
    shard: str = ShardOption,
    run_id: str = RunIdOption,
) -> None:
    """Run an eval suite and store every result."""
    from .. import engine
    from ..report import write_report
    from ..report.terminal import render_run

    ws = workspace(ws_path)
    show = progress_mode(progress, quiet)
    models: list[str | ModelConfig] | None = (
        _with_model_column(list(model), model_column) if model else None
    )
    if model_column and not model:
        from ..errors import ConfigError

        raise ConfigError(
            "--model-column names the model column of replay files given with --model",
            field="--model-column",
            hint="`--model replay/outputs.jsonl --model-column llm`, or "
            "`replay/outputs.jsonl?model_column=llm` in the suite",
        )
    if retry_errors and not resume:
        from ..errors import ConfigError

        raise ConfigError(
            "--retry-errors re-runs the error rows of a stored run: it needs --resume RUN",
            field="--retry-errors",
            hint="`driftgate run --resume RUN --retry-errors`",
        )
    _check_shard_flags(shard, run_id, resume)
    if resume:
        result = engine.resume(resume, workspace=ws, progress=show, retry_errors=retry_errors)
    else:
        result = engine.run(
            config,
            workspace=ws,
            prompts=prompt or None,
            models=models,
            repeat=repeat,
            max_concurrency=max_concurrency,
            limit=limit,
            sample=sample,
            filter=filter or None,
            no_cache=no_cache,
            max_error_rate=max_error_rate,
            seed=seed,
            progress=show,
            force=force,
            shard=shard,
            run_id=run_id,
        )
    if result.manifest.status == "partial":
        _say_partial(result, json_out)
        raise typer.Exit(result.exit_code)
    for path in output or []:
        write_report(path, result.manifest, result.store.results(result.id))
    if json_out:
        print_json(result.manifest.model_dump(mode="json"))
    else:
        render_run(result.manifest)
        for path in output or []:
            print(f"report: {path}")
    _say_why_provider_errors(result)
    raise typer.Exit(result.exit_code)


def _check_shard_flags(shard: str | None, run_id: str | None, resume: str | None) -> None:
    from ..engine.options import Shard
    from ..errors import ConfigError

    if shard is not None:
        Shard.parse(shard)  # a bad I/N is refused before anything is planned
    if resume and (shard or run_id):
        raise ConfigError(
            f"{'--shard' if shard else '--run-id'} starts or joins a run; --resume finishes one",
            field="--shard" if shard else "--run-id",
            hint="re-run a killed shard with the same --shard and --run-id: "
            "it computes only its missing results",
        )


def _say_partial(result: Run, json_out: bool) -> None:
    """A shard that ended before the others: the run waits for them (no verdict yet)."""
    if json_out:
        print_json(result.manifest.model_dump(mode="json"))
        return
    from ..store.shards import load_states

    states = load_states(result.store.run_dir(result.id))
    ended = sorted(i for i, s in states.items() if s.status != "running")
    count = result.manifest.shards or 0
    mine = result.shard
    print(
        f"shard {mine.index}/{count} of run {result.id} ended ({mine.written} results written); "
        if mine
        else f"run {result.id}: ",
        end="",
    )
    waiting = [str(i) for i in range(1, count + 1) if i not in ended]
    if not waiting:  # on a shared store: another shard claimed the finish and is at it
        print(f"every shard has ended: another is finishing the run (`driftgate show {result.id}`)")
        return
    print(f"the run is partial: waiting for shard {', '.join(waiting)} of {count}")


def _say_why_provider_errors(result: Run) -> None:
    """Exit 3 (and an incomplete run) says why on stderr: the first error, the error rate
    against max_error_rate, the early stop, the errors by kind (text: report/run_exit.py)."""
    if result.manifest.verdict not in ("provider_errors", "incomplete"):
        return
    from ..report.run_exit import explain_exit

    text = explain_exit(result.manifest, result.store.results(result.id))
    if text:
        print(f"error: {text}", file=sys.stderr)


@runs_app.command("list")
def runs_list(
    limit: int = typer.Option(20, "--limit", "-n", help="Most recent N runs."),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """List stored runs, newest last."""
    from ..store.runs import RunStore

    ws = workspace(ws_path)
    _require_workspace(ws)
    manifests = RunStore.of(ws).list(limit=limit)
    if json_out:
        print_json([m.model_dump(mode="json", exclude={"settings"}) for m in manifests])
        return
    from ..report.terminal import render_runs_list

    render_runs_list(manifests)


@runs_app.command("export")
def runs_export(
    run_ids: list[str] = typer.Argument(
        None, help="Runs to export (ids or unique prefixes; default: every finished run)."
    ),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Write finished runs as Parquet under runs/_parquet/suite=…/date=…/run=…/ (hive
    partitions DuckDB, Spark, Trino and pandas read); runs up to date are left as they are."""
    from ..store.export import export_runs
    from ..store.runs import RunStore

    ws = workspace(ws_path)
    _require_workspace(ws)
    store = RunStore.of(ws)
    ids = [store.resolve_id(r) for r in run_ids] if run_ids else None
    report = export_runs(ws.runs_dir, ids)
    if store.shared is not None:  # the exports are the store's too (what `query` pulls)
        from ..store.shared_runs import push_export

        for run_id in report.written:
            push_export(store.shared, store.run_dir(run_id))
    if json_out:
        print_json(
            {"written": report.written, "up_to_date": report.up_to_date, "skipped": report.skipped}
        )
        return
    for run_id in report.written:
        print(f"exported {run_id}")
    for run_id, why in report.skipped.items():
        print(f"skipped {run_id}: {why}")
    print(
        f"{len(report.written)} written, {len(report.up_to_date)} up to date, "
        f"{len(report.skipped)} skipped: {ws.runs_dir / '_parquet'}"
    )


def _require_workspace(ws: Workspace) -> None:
    """Outside any workspace there is nothing to list: bad usage (exit 2), not "no runs"."""
    from ..errors import ConfigError

    if ws.runs_dir.is_dir() or ws.prompts_dir.is_dir() or (ws.root / "driftgate.yaml").exists():
        return
    raise ConfigError(
        f"{ws.root} is not in a driftgate workspace (no driftgate.yaml, prompts/ or runs/ "
        "here or in a parent folder)",
        hint="cd into a workspace, pass --workspace PATH, or make one with `driftgate init`",
    )


@app.command("show")
def show(
    run_id: str = typer.Argument("latest", help="Run id, unique prefix, or `latest`."),
    failures: int = typer.Option(10, "--failures", help="Show up to N failed cases."),
    output: list[Path] = typer.Option(
        None, "--output", "-o", help="Write a report (.json .csv .md .xml .html)."
    ),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Show one run: summary per prompt × model and segment, and its failures."""
    from ..report import write_report
    from ..report.terminal import render_run
    from ..store.runs import RunStore

    store = RunStore.of(workspace(ws_path))
    run_id = store.resolve_id(run_id)
    manifest = store.load(run_id)
    for path in output or []:
        write_report(path, manifest, store.results(run_id))
    if json_out:
        data = manifest.model_dump(mode="json")
        data["results"] = [r.model_dump(mode="json") for r in store.results(run_id)]
        print_json(data)
        return
    render_run(
        manifest, results=list(store.results(run_id)) if failures else None, max_failures=failures
    )
    for path in output or []:
        print(f"report: {path}")


@app.command("query")
def query_cmd(
    sql: str = typer.Argument(..., help="SQL over the views `runs` and `results` (DuckDB)."),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Query every stored run with SQL (DuckDB views `runs` and `results`).

    Reads only: one SELECT (or EXPLAIN, DESCRIBE, SUMMARIZE) statement, and no file
    outside the workspace's runs folder (no COPY, ATTACH, INSTALL or SET). To keep the
    rows: `driftgate query --json SQL > FILE`. Cells are printed as text, never markup.
    """
    from ..store.query import query
    from ..store.runs import RunStore

    ws = workspace(ws_path)
    RunStore.of(ws).pull_exports()  # on a shared store: every finished run's export
    columns, rows = query(ws.runs_dir, sql)
    if json_out:
        print_json([dict(zip(columns, r, strict=True)) for r in rows])
        return
    from rich.table import Column, Table
    from rich.text import Text

    from ..report import console

    # Text, not str: data is never read as Rich markup or emoji codes (`[/]`, `:smile:`).
    table = Table(*(Column(header=Text(c)) for c in columns))
    for r in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in r))
    console().print(table)


def _with_model_column(models: list[str], column: str | None) -> list[str | ModelConfig]:
    """`replay/FILE` → `replay/FILE?model_column=COLUMN` (other model ids as they are)."""
    if not column:
        return list(models)
    from urllib.parse import quote

    return [
        f"{m}{'&' if '?' in m else '?'}model_column={quote(column)}"
        if m.startswith("replay/")
        else m
        for m in models
    ]
