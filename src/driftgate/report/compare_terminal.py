"""A comparison on the terminal, with rich: verdict, metrics, segments, flipped cases, usage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..compare.schema import Comparison, Side
from ._compare_format import (
    VERDICT_TEXT,
    fmt_delta,
    fmt_interval,
    fmt_p,
    fmt_value,
    headline,
    metric_label,
    metric_order,
    usage_row,
)
from ._format import fmt_pct, fmt_time, trim

if TYPE_CHECKING:
    from rich.console import Console

VERDICT_STYLES = {
    "better": "bold green",
    "worse": "bold red",
    "equivalent": "bold",
    "inconclusive": "bold yellow",
}


def _console(console: Console | None) -> Console:
    if console is not None:
        return console
    from ._format import console as make_console

    return make_console()


def _text(value: Any, style: str = "") -> Any:
    """User content as literal text: an output like "[red]" must not become markup."""
    from rich.text import Text

    return Text(str(value), style=style)


def _table(title: str) -> Any:
    from rich import box
    from rich.table import Table

    return Table(
        title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False
    )


def _delta_style(d: float, verdict: str | None = None) -> str:
    if verdict == "worse":
        return "red"
    if verdict == "better":
        return "green"
    return "" if d == 0 else ("green" if d > 0 else "red")


def _side(s: Side) -> str:
    parts = [s.run_id or "", s.arm]
    if s.prompt_digest:
        parts.append(f"prompt {s.prompt_digest}")
    if s.created_at:
        parts.append(fmt_time(s.created_at))
    return "  ".join(p for p in parts if p)


def render_comparison(
    cmp: Comparison, console: Console | None = None, *, max_flipped: int = 10
) -> None:
    """Print a comparison: header and verdict, then one table per section."""
    con = _console(console)
    con.print(_header(cmp))
    for w in cmp.warnings:
        con.print(_text(f"warning: {w}", "yellow"))
    con.print(_metrics_table(cmp))
    if cmp.segments:
        con.print(_segments_table(cmp))
    _render_flipped(con, cmp, max_flipped)
    con.print(_usage_table(cmp))
    for side, flaky in (("A", cmp.flaky_a), ("B", cmp.flaky_b)):
        if flaky:
            shown = ", ".join(flaky[:20]) + (" …" if len(flaky) > 20 else "")
            con.print(_text(f"flaky in {side} ({len(flaky)}): {shown}", "yellow"))
    con.print(_text(f"verdict: {VERDICT_TEXT[cmp.verdict]}", VERDICT_STYLES[cmp.verdict]))


def _header(cmp: Comparison) -> Any:
    """The two sides, the verdict line and the case counts, as a grid."""
    from rich.table import Table

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("A", _text(_side(cmp.a), "cyan"))
    head.add_row("B", _text(_side(cmp.b), "magenta"))
    head.add_row("verdict", _text(headline(cmp), VERDICT_STYLES[cmp.verdict]))
    head.add_row(
        "cases",
        f"{cmp.n_common} compared, {len(cmp.only_a)} only in A, {len(cmp.only_b)} only in B"
        + (f"  (repeats reduced by {cmp.reducer})" if cmp.reducer != "mean" else ""),
    )
    head.add_row(
        "B vs A",
        f"wins {cmp.wins}, losses {cmp.losses}, ties {cmp.ties}; "
        f"outputs differ on {fmt_pct(cmp.answer_mismatch_rate)} of answers",
    )
    if cmp.cluster_by:
        head.add_row("clusters", f"by {cmp.cluster_by} ({cmp.primary.n_clusters} clusters)")
    return head


def _metrics_table(cmp: Comparison) -> Any:
    t = _table(f"Metrics: Δ = B − A with {cmp.confidence:.0%} CI")
    t.add_column("metric", overflow="fold", min_width=8, ratio=1)
    for col in ("A", "B", "Δ [CI]", "p", "W/L/T"):
        t.add_column(col, justify="right", no_wrap=col != "Δ [CI]")
    for name in metric_order(cmp):
        x = cmp.overall[name]
        t.add_row(
            _text(metric_label(cmp, name), "bold" if name == cmp.metric else ""),
            fmt_value(cmp, name, x.mean_a),
            fmt_value(cmp, name, x.mean_b),
            _text(
                f"{fmt_delta(cmp, name, x.delta)} {fmt_interval(cmp, name, x)}",
                _delta_style(x.delta),
            ),
            fmt_p(x.p_value),
            f"{x.wins}/{x.losses}/{x.ties}",
        )
    return t


def _segments_table(cmp: Comparison) -> Any:
    m = cmp.metric
    t = _table(f"Segments ({m})")
    t.add_column("segment", overflow="fold", min_width=12, ratio=1)
    for col in ("n", "A", "B", "Δ [CI]", "p", "verdict"):
        t.add_column(col, justify="right", no_wrap=col != "Δ [CI]")
    for seg in cmp.segments:
        x = seg.results.get(m)
        if x is None:
            dashes = ["—"] * 4
            t.add_row(_text(seg.segment), str(seg.n), *dashes, _text(seg.note or "—", "dim"))
            continue
        t.add_row(
            _text(seg.segment),
            str(seg.n),
            fmt_value(cmp, m, x.mean_a),
            fmt_value(cmp, m, x.mean_b),
            _text(
                f"{fmt_delta(cmp, m, x.delta)} {fmt_interval(cmp, m, x)}",
                _delta_style(x.delta, seg.verdict),
            ),
            fmt_p(x.p_value),
            _text(seg.verdict or "—", VERDICT_STYLES.get(seg.verdict or "", "")),
        )
    return t


def _usage_table(cmp: Comparison) -> Any:
    t = _table("Cost, tokens and latency (per result)")
    for col in ("", "median A", "median B", "Δ", "p95 A", "p95 B", "Δ"):
        t.add_column(col, justify="left" if not col else "right", no_wrap=True)
    for u in cmp.usage:
        if u.n_a or u.n_b:
            t.add_row(*usage_row(u))
    return t


def _render_flipped(con: Console, cmp: Comparison, limit: int) -> None:
    from rich.table import Table

    reg, imp = len(cmp.regressed), len(cmp.improved)
    if not cmp.flipped:
        con.print("[bold]Flipped cases[/bold]: none")
        return
    shown = min(limit, len(cmp.flipped))
    con.print(
        f"[bold]Flipped cases[/bold]: {reg} regressed (pass → fail), {imp} improved (fail → pass)"
        + (f"; first {shown} shown" if shown < len(cmp.flipped) else "")
    )
    if not shown:
        return
    t = Table(show_lines=True)
    for col in ("", "case", "segment", "expected", "A output", "B output"):
        t.add_column(col, overflow="fold")
    for f in cmp.flipped[:limit]:
        t.add_row(
            _text(
                "▼" if f.direction == "regressed" else "▲",
                "red" if f.direction == "regressed" else "green",
            ),
            _text(f.case_id),
            _text(f.segment or ""),
            _text(trim(f.expected, 60)),
            _text(trim(f.output_a, 100) if f.error_a is None else f"error: {trim(f.error_a, 90)}"),
            _text(trim(f.output_b, 100) if f.error_b is None else f"error: {trim(f.error_b, 90)}"),
        )
    con.print(t)
