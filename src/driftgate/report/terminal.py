"""Runs on the terminal, with rich: one run in detail, or a list of runs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..store.records import CaseResult, RunManifest, Summary
from ..summary import wilson
from ._format import (
    answer_text,
    as_result,
    failure_reasons,
    fmt_ci,
    fmt_cost,
    fmt_duration,
    fmt_git,
    fmt_metric,
    fmt_ms,
    fmt_num,
    fmt_pct,
    fmt_rate_ci,
    fmt_time,
    scalar_metrics,
    summary_of,
    trim,
)

if TYPE_CHECKING:
    from rich.console import Console

VERDICT_STYLES = {
    "passed": ("PASSED", "bold green"),
    "below_threshold": ("BELOW THRESHOLD", "bold red"),
    "provider_errors": ("PROVIDER ERRORS", "bold yellow"),
    "incomplete": ("INCOMPLETE", "bold yellow"),
}


def _console(console: Console | None) -> Console:
    if console is not None:
        return console
    from ._format import console as make_console

    return make_console()


def _verdict(manifest: RunManifest, *, explain: bool = False) -> Any:
    """The verdict's label; with `explain`, what it was measured against, so a pass at a low
    bar reads as exactly that ("PASSED: pass rate 13.3% ≥ the suite's threshold 5.0%")."""
    from rich.text import Text

    if manifest.verdict:
        label, style = VERDICT_STYLES.get(manifest.verdict, (manifest.verdict, "bold"))
        text = Text(label, style=style)
        if explain:
            text.append(verdict_reason(manifest))
        return text
    return Text(manifest.status, style="yellow" if manifest.status == "running" else "dim")


def verdict_reason(manifest: RunManifest) -> str:
    """`: pass rate X ≥ the suite's threshold Y` (or <, or the error budget), '' if unknown."""
    s = manifest.summary
    rate, threshold = (s.pass_rate if s else None), manifest.pass_threshold
    if manifest.verdict == "provider_errors":
        budget = manifest.max_error_rate
        errors = f"{s.errors} provider errors" if s else "provider errors"
        return f": {errors}" + (
            f", over the budget of {fmt_pct(budget)}" if budget is not None else ""
        )
    if manifest.verdict == "incomplete":
        return f": {s.results if s else 0} of {manifest.planned or '?'} results"
    if rate is None or threshold is None:
        return ""
    op = "≥" if manifest.verdict == "passed" else "<"
    return f": pass rate {fmt_pct(rate)} {op} the suite's threshold {fmt_pct(threshold)}"


def _plain(value: Any) -> Any:
    """User content as literal text: a model output like "[red]" must not become markup."""
    from rich.text import Text

    return Text(str(value))


def _table(title: str) -> Any:
    # A light box: the tables must fit an 80-column CI log without squeezing names away.
    from rich import box
    from rich.table import Table

    return Table(
        title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False
    )


def _latency(group: dict[str, Any]) -> str:
    p50, p95 = group.get("latency_p50_ms"), group.get("latency_p95_ms")
    if p50 is None or p95 is None:
        return "—"
    return f"{p50:.0f}/{p95:.0f}"


def _rate_style(rate: float | None, threshold: float | None) -> str:
    if rate is None or threshold is None:
        return ""
    return "green" if rate >= threshold else "red"


def render_run(
    manifest: RunManifest,
    console: Console | None = None,
    *,
    results: Iterable[CaseResult | dict[str, Any]] | None = None,
    max_failures: int = 10,
) -> None:
    """Print one run: header, per-arm and per-segment tables, label metrics and, when
    `results` are given, the first `max_failures` failures."""
    con = _console(console)
    s = summary_of(manifest)
    con.print(_header(manifest, s))
    if s.by_arm:
        con.print(_arms_table(s.by_arm, manifest.pass_threshold))
    segments = [v for v in s.by_segment.values() if v.get("segment") is not None]
    if segments:
        con.print(_segments_table(segments, manifest.pass_threshold))
    _render_metrics(con, s.metrics)
    if results is not None:
        _render_failures(con, results, max_failures)


def _header(manifest: RunManifest, s: Summary) -> Any:
    """The run's facts as a two-column grid: id, verdict, status, ..., cost and latency."""
    from rich.table import Table
    from rich.text import Text

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("run", Text(manifest.id, style="cyan"))
    head.add_row("verdict", _verdict(manifest, explain=True))
    head.add_row("status", manifest.status)
    head.add_row("suite", _plain(manifest.suite or "—"))
    head.add_row("git", fmt_git(manifest))
    head.add_row("started", fmt_time(manifest.created_at))
    head.add_row("duration", fmt_duration(manifest))
    progress = f"{s.results}" + (f" / {manifest.planned} planned" if manifest.planned else "")
    head.add_row(
        "results", f"{progress}  ({s.passed} passed, {s.failed} failed, {s.errors} errors)"
    )
    threshold = (
        f"  (threshold {fmt_pct(manifest.pass_threshold)})"
        if manifest.pass_threshold is not None
        else ""
    )
    ci = wilson(s.passed, s.results)
    head.add_row(
        "pass rate",
        Text(
            fmt_rate_ci(s.pass_rate, ci) + threshold,
            style=_rate_style(s.pass_rate, manifest.pass_threshold),
        ),
    )
    head.add_row(
        "cost", f"{fmt_cost(s.cost_usd)}  ({s.input_tokens:,} in / {s.output_tokens:,} out tokens)"
    )
    head.add_row("latency", f"p50 {fmt_ms(s.latency_p50_ms)}  p95 {fmt_ms(s.latency_p95_ms)}")
    return head


def _pass_cell(rate: float | None, threshold: float | None) -> Any:
    from rich.text import Text

    return Text(fmt_pct(rate), style=_rate_style(rate, threshold))


def _arms_table(by_arm: dict[str, dict[str, Any]], threshold: float | None) -> Any:
    from rich.text import Text

    t = _table("Arms")
    t.add_column("prompt · model", overflow="fold", min_width=12, ratio=1)
    conf = _has_confidence(by_arm.values())
    for col in ("n", "pass", "95% CI", "score", *(["conf"] if conf else []), "err", "cost"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("p50/p95 ms", justify="right", no_wrap=True)
    for key, a in by_arm.items():
        t.add_row(
            _plain(key),
            str(a["results"]),
            _pass_cell(a["pass_rate"], threshold),
            fmt_ci(a.get("pass_rate_ci")),
            fmt_num(a.get("mean_score")),
            *([fmt_num(a.get("mean_confidence"))] if conf else []),
            Text(str(a["errors"]), style="yellow" if a["errors"] else ""),
            fmt_cost(a.get("cost_usd")),
            _latency(a),
        )
    return t


def _has_confidence(groups: Iterable[dict[str, Any]]) -> bool:
    """A confidence column only when some arm's model reported label probabilities."""
    return any(g.get("mean_confidence") is not None for g in groups)


def _segments_table(segments: list[dict[str, Any]], threshold: float | None) -> Any:
    t = _table("Segments")
    t.add_column("prompt · model", overflow="fold", min_width=12, ratio=1)
    t.add_column("segment", overflow="fold", min_width=8)
    conf = _has_confidence(segments)
    for col in ("n", "pass", "95% CI", "score", *(["conf"] if conf else []), "err"):
        t.add_column(col, justify="right", no_wrap=True)
    for v in segments:
        t.add_row(
            _plain(f"{v.get('prompt', '')} · {v.get('model', '')}"),
            _plain(v["segment"]),
            str(v["results"]),
            _pass_cell(v["pass_rate"], threshold),
            fmt_ci(v.get("pass_rate_ci")),
            fmt_num(v.get("mean_score")),
            *([fmt_num(v.get("mean_confidence"))] if conf else []),
            str(v["errors"]),
        )
    return t


def _render_metrics(con: Console, metrics: dict[str, Any]) -> None:
    names = scalar_metrics(metrics)
    if not names:
        return
    t = _table("Label metrics")
    t.add_column("arm")
    for n in names:
        t.add_column(n.replace("_", "-"), justify="right")
    for arm, values in metrics.items():
        values = values if isinstance(values, dict) else {}
        t.add_row(_plain(arm), *(fmt_metric(values.get(n)) for n in names))
    con.print(t)


def _render_failures(
    con: Console, results: Iterable[CaseResult | dict[str, Any]], limit: int
) -> None:
    from rich.table import Table

    t = Table(title=None, show_lines=True)
    for col in ("case", "arm", "expected", "output", "why"):
        t.add_column(col, overflow="fold")
    total = 0
    for item in results:
        r = as_result(item)
        if r.passed and r.error is None:
            continue
        total += 1
        if total <= limit:
            case = r.case_id + (f" #{r.repeat}" if r.repeat else "")
            t.add_row(
                _plain(case),
                _plain(f"{r.prompt} · {r.model}"),
                _plain(trim(r.expected, 60)),
                _plain(trim(answer_text(r.output, r.tool_calls), 100)),
                _plain("\n".join(trim(x, 120) for x in failure_reasons(r))),
                style="yellow" if r.error is not None else None,
            )
    if not total:
        con.print("[green]No failures.[/green]")
        return
    shown = min(total, limit)
    con.print(
        f"[bold]Failures[/bold] ({total}" + (f", first {shown} shown)" if shown < total else ")")
    )
    if shown:
        con.print(t)


# Widest suite name shown whole in `runs list`: fits an 80-column log with the other columns.
SUITE_WIDTH = 20
# Console width from which `runs list` adds the cost column.
WIDE = 96


def suite_label(suite: str | None, width: int = SUITE_WIDTH) -> str:
    """A suite file as a short name that keeps what tells suites apart: the folder and
    `.suite.yaml` dropped (`evalsets/categorize-sim.suite.yaml` → `categorize-sim`), and a
    name longer than `width` cut in the middle, so its start and end both show."""
    if not suite:
        return "—"
    name = suite.replace("\\", "/").rsplit("/", 1)[-1]
    for ext in (".suite.yaml", ".suite.yml", ".suite.json", ".yaml", ".yml", ".json"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return f"{name[:head]}…{name[-(width - 1 - head) :]}"


def render_runs_list(manifests: Iterable[RunManifest], console: Console | None = None) -> None:
    """Print a table of runs, one row each (newest last, as given). The id carries the start
    time (UTC); the last column is the verdict, or the status of a run without one
    (running, interrupted)."""

    con = _console(console)
    t = _table("Runs")
    # An 80-column CI log fits id, suite, counts and verdict; cost only on a wider console
    # (`show` and `--json` always have it).
    cost = con.width >= WIDE
    for col, justify in [
        ("id", "left"),
        ("suite", "left"),
        ("n", "right"),
        ("pass", "right"),
        ("err", "right"),
        *([("cost", "right")] if cost else []),
        ("verdict", "left"),
    ]:
        # The suite column is never cut by rich (which would keep "evalsets/categ…" of both
        # categorize and categorize-sim): names are shortened here, keeping their end. Only
        # the verdict may wrap ("BELOW / THRESHOLD").
        t.add_column(
            col,
            justify=justify,
            no_wrap=col != "verdict",
            min_width=9 if col == "verdict" else None,
        )
    n = 0
    for m in manifests:
        s = summary_of(m)
        t.add_row(
            m.id,
            _plain(suite_label(m.suite)),
            str(s.results),
            fmt_pct(s.pass_rate),
            str(s.errors),
            *([fmt_cost(s.cost_usd)] if cost else []),
            _verdict(m),
        )
        n += 1
    if not n:
        con.print("No runs yet. Start one with `driftgate run`.")
        return
    con.print(t)
