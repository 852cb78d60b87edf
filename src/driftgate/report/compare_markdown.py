"""A comparison as Markdown, sized for a pull-request comment (the CI gate posts it).

GitHub-flavoured tables, no HTML. GitHub caps a comment at 65,536 characters, so long
sections are cut to their first rows and the whole text is capped below that limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..compare.schema import Comparison, SegmentComparison, Side
from ._compare_format import (
    VERDICT_EMOJI,
    VERDICT_TEXT,
    fmt_delta,
    fmt_interval,
    fmt_margin,
    fmt_p,
    fmt_value,
    metric_rows,
    p_is,
    usage_row,
)
from ._format import fmt_pct, fmt_time
from .markdown import md

MAX_SEGMENT_ROWS = 60
MAX_CHARS = 60_000  # under GitHub's 65,536, leaving room for a gate's own lines


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _side(name: str, s: Side) -> str:
    run = f"run `{s.run_id}` · " if s.run_id else ""
    digest = f" (prompt digest `{s.prompt_digest}`)" if s.prompt_digest else ""
    when = f", {fmt_time(s.created_at)}" if s.created_at else ""
    return f"**{name}** {run}{md(s.arm, 160)}{digest}{when}"


def comparison_markdown(cmp: Comparison, *, max_flipped: int = 20, title: str | None = None) -> str:
    """The comparison as Markdown: verdict, metrics, segments, flipped cases, usage."""
    out = _headline(cmp, title)
    out += _metrics(cmp)
    out += _segments(cmp)
    out += _flipped(cmp, max_flipped)
    out += _usage(cmp)
    out += _flaky(cmp)
    text = "\n".join(out) + "\n"
    if len(text) > MAX_CHARS:
        text = (
            text[: MAX_CHARS - 60].rsplit("\n", 1)[0]
            + "\n\n_…report truncated to fit a comment._\n"
        )
    return text


def _headline(cmp: Comparison, title: str | None) -> list[str]:
    """Title and verdict, the two sides, the primary metric's delta and the case counts."""
    r = cmp.primary
    m = cmp.metric
    out = [
        f"## {title or 'driftgate compare'} — {VERDICT_EMOJI[cmp.verdict]} {VERDICT_TEXT[cmp.verdict]}",
        "",
        _side("A", cmp.a) + "  ",
        _side("B", cmp.b),
        "",
        f"> **{m}** {fmt_value(cmp, m, r.mean_a)} → {fmt_value(cmp, m, r.mean_b)}: "
        f"**{fmt_delta(cmp, m, r.delta)}** ({r.confidence:.0%} CI {fmt_interval(cmp, m, r)} "
        f"{r.interval}, {p_is(r.p_value)}, {r.test}; {fmt_margin(cmp)})",
        "",
        f"{cmp.n_common} cases compared · {len(cmp.only_a)} only in A · {len(cmp.only_b)} only in B · "
        f"B wins {cmp.wins}, loses {cmp.losses}, ties {cmp.ties} · "
        f"outputs differ on {fmt_pct(cmp.answer_mismatch_rate)} of answers"
        + (f" · repeats reduced by {cmp.reducer}" if cmp.reducer != "mean" else ""),
    ]
    if cmp.warnings:
        out += ["", *(f"⚠️ {md(w, 400)}  " for w in cmp.warnings)]
    return out


def _metrics(cmp: Comparison) -> list[str]:
    m = cmp.metric
    header = ["Metric", "A", "B", "Δ (B − A)", f"{cmp.confidence:.0%} CI", "p", "Test", "W / L / T"]
    rows = ([f"**{md(r[0])}**" if r[0] == m else md(r[0]), *r[1:]] for r in metric_rows(cmp))
    return ["", "### Metrics", "", *_table(header, rows)]


def _segment_row(cmp: Comparison, seg: SegmentComparison) -> list[str]:
    m = cmp.metric
    x = seg.results.get(m)
    if x is None:
        return [md(seg.segment), str(seg.n), "—", "—", "—", "—", "—", md(seg.note or "")]
    return [
        md(seg.segment),
        str(seg.n),
        fmt_value(cmp, m, x.mean_a),
        fmt_value(cmp, m, x.mean_b),
        fmt_delta(cmp, m, x.delta),
        fmt_interval(cmp, m, x),
        fmt_p(x.p_value),
        f"{VERDICT_EMOJI[seg.verdict]} {seg.verdict}" if seg.verdict else "—",
    ]


def _segments(cmp: Comparison) -> list[str]:
    """The primary metric per segment, the first MAX_SEGMENT_ROWS of them."""
    if not cmp.segments:
        return []
    rows = [_segment_row(cmp, seg) for seg in cmp.segments[:MAX_SEGMENT_ROWS]]
    more = len(cmp.segments) - len(rows)
    out = ["", f"### Segments ({cmp.metric})", ""]
    out += _table(["Segment", "n", "A", "B", "Δ", "CI", "p", "Verdict"], rows)
    if more > 0:
        out += ["", f"_…and {more} more segments._"]
    return out


def _usage(cmp: Comparison) -> list[str]:
    rows = (usage_row(u) for u in cmp.usage if u.n_a or u.n_b)
    header = ["", "median A", "median B", "Δ", "p95 A", "p95 B", "Δ"]
    return ["", "### Cost, tokens and latency (per result)", "", *_table(header, rows)]


def _flaky(cmp: Comparison) -> list[str]:
    out: list[str] = []
    for side, flaky in (("A", cmp.flaky_a), ("B", cmp.flaky_b)):
        if flaky:
            shown = ", ".join(f"`{md(c, 60)}`" for c in flaky[:30])
            out += [
                "",
                f"**Flaky in {side}** ({len(flaky)} cases change outcome between repeats): {shown}"
                + (" …" if len(flaky) > 30 else ""),
            ]
    return out


def _flipped(cmp: Comparison, limit: int) -> list[str]:
    reg, imp = len(cmp.regressed), len(cmp.improved)
    head = f"### Flipped cases: {reg} regressed (pass → fail), {imp} improved (fail → pass)"
    if not cmp.flipped:
        return ["", head, "", "No case changed outcome."]
    if limit <= 0:  # `--flipped 0`: the counts, no rows
        return ["", head]
    rows = [
        [
            "🔻" if f.direction == "regressed" else "🔺",
            md(f.case_id, 50),
            md(f.segment or "", 40),
            md(f.expected, 50),
            md(f.output_a if f.error_a is None else f"error: {f.error_a}", 90),
            md(f.output_b if f.error_b is None else f"error: {f.error_b}", 90),
        ]
        for f in cmp.flipped[:limit]
    ]
    out = ["", head, "", *_table(["", "Case", "Segment", "Expected", "A output", "B output"], rows)]
    if len(cmp.flipped) > len(rows):
        out += [
            "",
            f"_First {len(rows)} of {len(cmp.flipped)} shown; the HTML or JSON report lists all._",
        ]
    return out
