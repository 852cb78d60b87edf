"""Single-file HTML reports, for a comparison and for one run.

Self-contained and offline: inline CSS, inline SVG charts and a few lines of vanilla JS
(table filters), no CDN, fonts or other requests, so the file can be attached to a CI run
or mailed and still open years later. Every piece of user content (outputs, ids, names) is
HTML-escaped; nothing from a run ever reaches the script. When the script has run without
throwing, it sets `data-ready="1"` on <body> (the headless-browser test checks it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._redact import redact_manifest
from ..store._atomic import atomic_writer
from ..store.records import CaseResult, RunManifest
from ._format import (
    as_result,
    failure_reasons,
    fmt_cost,
    fmt_duration,
    fmt_git,
    fmt_ms,
    fmt_num,
    fmt_pct,
    fmt_rate_ci,
    fmt_time,
    summary_of,
    trim,
)

if TYPE_CHECKING:
    from ..compare.model import Comparison

# SVG attributes take literal colours (not CSS variables); the same values as in _CSS.
COLOURS = {
    "a": "#3b6fd4",
    "b": "#e0822b",
    "better": "#1f9d55",
    "worse": "#d64545",
    "inconclusive": "#c98a00",
    "equivalent": "#778899",
}
MAX_ROWS = 2000  # table rows per report: a browser stays responsive, the file stays small
_CSS = """
:root{--a:#3b6fd4;--b:#e0822b;--good:#1f9d55;--bad:#d64545;--warn:#c98a00;--muted:#667;--line:#dde}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
margin:0;color:#1d2330;background:#f6f7fb}main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
section,.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:12px 0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);
vertical-align:top}th{font-weight:600;color:#445;background:#fafbfe}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums;white-space:nowrap}.out{font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:12.5px;white-space:pre-wrap;word-break:break-word;max-width:380px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff}
.better,.passed{background:var(--good)}.worse,.below_threshold{background:var(--bad)}
.inconclusive,.incomplete,.provider_errors{background:var(--warn)}.equivalent{background:#778}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{flex:1 1 150px;margin:0}.card b{display:block;font-size:20px}
.card span{color:var(--muted);font-size:12px}.warn{color:#8a5a00;background:#fff7e0;border:1px solid #f0d48a;
border-radius:6px;padding:6px 10px;margin:6px 0}.muted{color:var(--muted)}.a{color:var(--a)}.b{color:var(--b)}
.filter{display:flex;gap:10px;align-items:center;margin-bottom:8px}.filter input{flex:1;padding:6px 8px;
border:1px solid #ccd;border-radius:6px;font:inherit}.filter select{padding:5px;font:inherit}
tr.regressed td:first-child{color:var(--bad)}tr.improved td:first-child{color:var(--good)}
pre{background:#f3f4f8;padding:10px;border-radius:6px;overflow:auto;font-size:12px;max-height:480px}
svg text{font:12px system-ui,sans-serif;fill:#334}.hists{display:flex;flex-wrap:wrap;gap:16px}
details summary{cursor:pointer;font-weight:600}
"""
_JS = """
(function(){
  document.querySelectorAll('[data-filter-for]').forEach(function(box){
    var table=document.getElementById(box.getAttribute('data-filter-for'));
    var input=box.querySelector('input'), select=box.querySelector('select'), count=box.querySelector('.count');
    var rows=Array.prototype.slice.call(table.tBodies[0].rows);
    function apply(){
      var q=input.value.trim().toLowerCase(), kind=select?select.value:'', shown=0;
      rows.forEach(function(tr){
        var ok=(!q||tr.textContent.toLowerCase().indexOf(q)>=0)&&(!kind||tr.getAttribute('data-kind')===kind);
        tr.hidden=!ok; if(ok){shown++;}
      });
      count.textContent=shown+' of '+rows.length+' shown';
    }
    input.addEventListener('input',apply); if(select){select.addEventListener('change',apply);} apply();
  });
  document.body.setAttribute('data-ready','1');
})();
"""


def _e(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return escape(value, quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n"
        f'<body data-ready="0"><main>\n{body}\n</main><script>{_JS}</script></body></html>\n'
    )


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    table_id: str | None = None,
    num_from: int = 1,
    row_attrs: Sequence[str] | None = None,
) -> str:
    """Cells are HTML already; columns from `num_from` on are right-aligned numbers."""
    ths = "".join(
        f"<th{' class=num' if i >= num_from else ''}>{h}</th>" for i, h in enumerate(header)
    )
    body = []
    for n, row in enumerate(rows):
        attrs = row_attrs[n] if row_attrs else ""
        tds = "".join(
            f"<td{' class=num' if i >= num_from else ''}>{c}</td>" for i, c in enumerate(row)
        )
        body.append(f"<tr{attrs}>{tds}</tr>")
    tid = f' id="{table_id}"' if table_id else ""
    return f"<table{tid}><thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _filter_box(table_id: str, kinds: Sequence[tuple[str, str]] = ()) -> str:
    select = ""
    if kinds:
        opts = "".join(f'<option value="{_e(v)}">{_e(t)}</option>' for v, t in kinds)
        select = f'<select aria-label="kind"><option value="">all</option>{opts}</select>'
    return (
        f'<div class="filter" data-filter-for="{table_id}"><input type="search" '
        f'placeholder="filter: case id, segment, output…" aria-label="filter">{select}'
        '<span class="count muted"></span></div>'
    )


def interval_chart(
    rows: Sequence[tuple[str, float, float, float, str]],
    *,
    lo: float,
    hi: float,
    origin: float,
    fmt: Any,
    width: int = 760,
) -> str:
    """Horizontal bars from `origin` to each value, with interval whiskers, as inline SVG.

    rows: (label, value, ci_low, ci_high, css colour).
    """
    # Room for the longest label (~7 px per character at 12 px), within limits.
    longest = max((len(r[0]) for r in rows), default=10)
    left = int(min(max(longest * 7 + 16, 120), 340))
    max_chars = (left - 16) // 7
    right, row_h, top = width - 90, 28, 24
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return left + (min(max(v, lo), hi) - lo) / span * (right - left)

    h = top + row_h * len(rows) + 8
    out = [
        f'<svg viewBox="0 0 {width} {h}" width="{width}" style="max-width:100%;height:auto" '
        'role="img" aria-label="interval chart">'
    ]
    for t in (lo, lo + span / 4, lo + span / 2, lo + 3 * span / 4, hi):
        out.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top - 6}" y2="{h - 6}" stroke="#eef"/>'
            f'<text x="{x(t):.1f}" y="{top - 10}" text-anchor="middle">{_e(fmt(t))}</text>'
        )
    out.append(
        f'<line x1="{x(origin):.1f}" x2="{x(origin):.1f}" y1="{top - 6}" y2="{h - 6}" stroke="#889"/>'
    )
    for i, (label, v, c_lo, c_hi, colour) in enumerate(rows):
        y = top + i * row_h + row_h / 2
        x0, x1 = sorted((x(origin), x(v)))
        out.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{_e(trim(label, max_chars))}</text>'
            f'<rect x="{x0:.1f}" y="{y - 6:.1f}" width="{max(x1 - x0, 1.5):.1f}" height="12" '
            f'fill="{colour}" opacity="0.75"/>'
            f'<line x1="{x(c_lo):.1f}" x2="{x(c_hi):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#222" stroke-width="1.5"/>'
            f'<line x1="{x(c_lo):.1f}" x2="{x(c_lo):.1f}" y1="{y - 7:.1f}" y2="{y + 7:.1f}" stroke="#222" stroke-width="1.5"/>'
            f'<line x1="{x(c_hi):.1f}" x2="{x(c_hi):.1f}" y1="{y - 7:.1f}" y2="{y + 7:.1f}" stroke="#222" stroke-width="1.5"/>'
            f'<text x="{right + 8}" y="{y + 4:.1f}">{_e(fmt(v))}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def histogram_svg(
    title: str,
    edges: Sequence[float],
    series: Sequence[tuple[str, Sequence[int], str]],
    width: int = 360,
    height: int = 170,
) -> str:
    """Side-by-side bars per bin for each series (name, counts, colour), as inline SVG."""
    left, bottom, top = 36, height - 34, 22
    bins = len(edges) - 1
    peak = max([max(c) if len(c) else 0 for _, c, _ in series] + [1])
    bw = (width - left - 8) / max(bins, 1)
    sub = (bw - 4) / max(len(series), 1)
    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" role="img" aria-label="{_e(title)}">',
        f'<text x="{left}" y="14" font-weight="600">{_e(title)}</text>',
    ]
    for s, (name, counts, colour) in enumerate(series):
        out.append(
            f'<rect x="{width - 120 + s * 58}" y="5" width="10" height="10" fill="{colour}"/>'
            f'<text x="{width - 106 + s * 58}" y="14">{_e(name)}</text>'
        )
        for i, c in enumerate(counts):
            hgt = (bottom - top) * c / peak
            out.append(
                f'<rect x="{left + i * bw + 2 + s * sub:.1f}" y="{bottom - hgt:.1f}" width="{sub:.1f}" '
                f'height="{hgt:.1f}" fill="{colour}"><title>{_e(name)}: {c}</title></rect>'
            )
    out.append(
        f'<line x1="{left}" x2="{width - 8}" y1="{bottom}" y2="{bottom}" stroke="#889"/>'
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{peak}</text>'
    )
    for i in (0, bins // 2, bins):
        out.append(
            f'<text x="{left + i * bw:.1f}" y="{bottom + 16}" text-anchor="middle">{edges[i]:.3g}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _manifest_block(label: str, manifest: RunManifest | None) -> str:
    if manifest is None:
        return ""
    data = redact_manifest(manifest).model_dump_json(indent=2)
    return f"<details><summary>{_e(label)} — run {_e(manifest.id)}</summary><pre>{_e(data)}</pre></details>"


def _cards(items: Sequence[tuple[str, str, str]]) -> str:
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card" id="{_e(i)}"><b>{_e(v)}</b><span>{_e(k)}</span></div>'
            for i, k, v in items
        )
        + "</div>"
    )


# ---- comparison ------------------------------------------------------------------------
def comparison_html(cmp: Comparison) -> str:
    """A comparison as one self-contained HTML page."""
    from ._compare_format import (
        VERDICT_TEXT,
        fmt_delta,
        fmt_interval,
        fmt_margin,
        fmt_p,
        fmt_value,
        headline,
        metric_order,
        usage_row,
    )

    m, r = cmp.metric, cmp.primary
    parts = [
        f'<h1>driftgate compare <span class="badge {cmp.verdict}" id="verdict">{_e(VERDICT_TEXT[cmp.verdict])}</span></h1>',
        f'<p id="headline">{_e(headline(cmp))}</p>',
        _table(
            [
                "",
                "run",
                "arm (prompt · model)",
                "prompt digest",
                "model id",
                "fingerprints",
                "started",
            ],
            (
                [
                    f'<b class="{k.lower()}">{k}</b>',
                    _e(s.run_id or "—"),
                    _e(s.arm),
                    _e(s.prompt_digest or "—"),
                    _e(s.model_id or "—"),
                    _e(", ".join(s.fingerprints) or "—"),
                    _e(fmt_time(s.created_at)),
                ]
                for k, s in (("A", cmp.a), ("B", cmp.b))
            ),
            num_from=99,
        ),
        *(f'<div class="warn">⚠ {_e(w)}</div>' for w in cmp.warnings),
        _cards(
            [
                ("card-delta", f"Δ {m} (B − A)", fmt_delta(cmp, m, r.delta)),
                ("card-ci", f"{r.confidence:.0%} interval", fmt_interval(cmp, m, r)),
                ("card-p", f"p-value ({r.test})", fmt_p(r.p_value)),
                ("card-wlt", "B wins / losses / ties", f"{cmp.wins} / {cmp.losses} / {cmp.ties}"),
                ("card-n", "cases compared", f"{cmp.n_common}"),
                ("card-mismatch", "outputs differ", fmt_pct(cmp.answer_mismatch_rate)),
            ]
        ),
        f'<p class="muted">{len(cmp.only_a)} cases only in A, {len(cmp.only_b)} only in B'
        + (
            f" ({_e(', '.join((cmp.only_a + cmp.only_b)[:10]))}…)"
            if cmp.only_a or cmp.only_b
            else ""
        )
        + f"; repeats reduced by {_e(cmp.reducer)}; {_e(fmt_margin(cmp))}.</p>",
        "<h2>Metrics</h2>",
        _table(
            ["metric", "A", "B", "Δ", f"{cmp.confidence:.0%} CI", "p", "test", "W / L / T"],
            (
                [
                    _e(name),
                    fmt_value(cmp, name, x.mean_a),
                    fmt_value(cmp, name, x.mean_b),
                    _e(fmt_delta(cmp, name, x.delta)),
                    _e(fmt_interval(cmp, name, x)),
                    _e(fmt_p(x.p_value)),
                    _e(x.test),
                    f"{x.wins} / {x.losses} / {x.ties}",
                ]
                for name in metric_order(cmp)
                for x in [cmp.overall[name]]
            ),
            table_id="metrics",
        ),
    ]
    parts.append(_segment_section(cmp))
    if cmp.histograms:
        parts.append(
            "<h2>Score distributions (one value per case)</h2><section class=hists>"
            + "".join(
                histogram_svg(
                    name,
                    h.edges,
                    [("A", h.counts_a, COLOURS["a"]), ("B", h.counts_b, COLOURS["b"])],
                )
                for name, h in cmp.histograms.items()
            )
            + "</section>"
        )
    parts.append(_flipped_section(cmp))
    parts.append("<h2>Cost, tokens and latency (per result)</h2>")
    parts.append(
        _table(
            ["", "median A", "median B", "Δ", "p95 A", "p95 B", "Δ"],
            ([_e(c) for c in usage_row(u)] for u in cmp.usage if u.n_a or u.n_b),
            table_id="usage",
        )
    )
    for side, flaky in (("A", cmp.flaky_a), ("B", cmp.flaky_b)):
        if flaky:
            parts.append(
                f"<p><b>Flaky in {side}</b> ({len(flaky)}): {_e(', '.join(flaky[:200]))}</p>"
            )
    parts.append(
        "<h2>Runs</h2>"
        + _manifest_block("A", cmp.manifest_a)
        + (
            _manifest_block("B", cmp.manifest_b)
            if cmp.manifest_b and cmp.manifest_a and cmp.manifest_b.id != cmp.manifest_a.id
            else ""
        )
    )
    return _page(f"driftgate compare — {VERDICT_TEXT[cmp.verdict]}", "\n".join(parts))


def _segment_section(cmp: Comparison) -> str:
    from ._compare_format import fmt_delta, is_rate

    m = cmp.metric
    rows = [
        (
            "overall",
            cmp.primary.delta,
            cmp.primary.ci_low,
            cmp.primary.ci_high,
            COLOURS[cmp.verdict],
        )
    ]
    rows += [
        (
            f"{s.segment} (n={s.n})",
            x.delta,
            x.ci_low,
            x.ci_high,
            COLOURS[s.verdict or "inconclusive"],
        )
        for s in cmp.segments[:60]
        for x in [s.results.get(m)]
        if x is not None
    ]
    bound = _nice(max([abs(v) for row in rows for v in row[1:4]] + [cmp.margin, 1e-9]) * 1.05)
    if is_rate(cmp, m):
        bound = min(bound, 1.0)
    chart = interval_chart(
        rows, lo=-bound, hi=bound, origin=0.0, fmt=lambda v: fmt_delta(cmp, m, v)
    )
    return f"<h2>Δ {_e(m)} by segment, with {cmp.confidence:.0%} intervals</h2><section id=segments>{chart}</section>"


def _nice(x: float) -> float:
    """The smallest of 1, 2, 4, 5 or 8 × 10^k that is ≥ x, so axis quarters are round numbers."""
    import math

    base = 10.0 ** math.floor(math.log10(x))
    return next(f * base for f in (1, 2, 4, 5, 8, 10) if f * base >= x * (1 - 1e-12))


def _flipped_section(cmp: Comparison) -> str:
    flips = cmp.flipped[:MAX_ROWS]
    head = f"<h2>Flipped cases: {len(cmp.regressed)} regressed, {len(cmp.improved)} improved</h2>"
    if not flips:
        return head + "<p>No case changed outcome.</p>"
    rows = [
        [
            "▼ regressed" if f.direction == "regressed" else "▲ improved",
            _e(f.case_id),
            _e(f.segment or ""),
            f'<div class="out">{_e(f.expected)}</div>',
            f'<div class="out">{_e(f.output_a if f.error_a is None else "error: " + f.error_a)}</div>',
            f'<div class="out">{_e(f.output_b if f.error_b is None else "error: " + f.error_b)}</div>',
        ]
        for f in flips
    ]
    attrs = [f' class="{f.direction}" data-kind="{f.direction}"' for f in flips]
    more = (
        f'<p class="muted">First {len(flips)} of {len(cmp.flipped)}.</p>'
        if len(cmp.flipped) > len(flips)
        else ""
    )
    return (
        head
        + _filter_box("flipped", [("regressed", "regressed"), ("improved", "improved")])
        + _table(
            ["", "case", "segment", "expected", "A output", "B output"],
            rows,
            table_id="flipped",
            num_from=99,
            row_attrs=attrs,
        )
        + more
    )


def write_comparison_html(path: Path, cmp: Comparison) -> None:
    with atomic_writer(Path(path)) as fh:
        fh.write(comparison_html(cmp))


# ---- one run ---------------------------------------------------------------------------
def run_html(manifest: RunManifest, results: Iterable[CaseResult | dict[str, Any]]) -> str:
    """One run as a self-contained HTML page: arms, segments, score histograms, failures."""
    s = summary_of(manifest)
    fails: list[str] = []
    fail_attrs: list[str] = []
    n_fail = 0
    scores: dict[str, list[float]] = {}
    for item in results:
        r = as_result(item)
        if r.score is not None:
            scores.setdefault(f"{r.prompt} · {r.model}", []).append(r.score)
        if r.passed and r.error is None:
            continue
        n_fail += 1
        if len(fails) < MAX_ROWS:
            kind = "error" if r.error is not None else "failure"
            fail_attrs.append(f' data-kind="{kind}"')
            fails.append(
                "".join(
                    f"<td>{c}</td>"
                    for c in (
                        _e(r.case_id + (f" #{r.repeat}" if r.repeat else "")),
                        _e(f"{r.prompt} · {r.model}"),
                        _e(r.segment or ""),
                        f'<div class="out">{_e(r.expected)}</div>',
                        f'<div class="out">{_e(r.output)}</div>',
                        _e("; ".join(failure_reasons(r))),
                    )
                )
            )
    verdict = manifest.verdict or manifest.status
    parts = [
        f'<h1>driftgate run {_e(manifest.id)} <span class="badge {_e(verdict)}" id="verdict">{_e(verdict)}</span></h1>',
        _cards(
            [
                ("card-pass", "pass rate", fmt_pct(s.pass_rate)),
                ("card-results", "results", str(s.results)),
                ("card-errors", "errors", str(s.errors)),
                ("card-score", "mean score", fmt_num(s.mean_score)),
                ("card-cost", "cost", fmt_cost(s.cost_usd)),
                (
                    "card-latency",
                    "latency p50 / p95",
                    f"{fmt_ms(s.latency_p50_ms)} / {fmt_ms(s.latency_p95_ms)}",
                ),
            ]
        ),
        f'<p class="muted">suite {_e(manifest.suite or "—")} · git {_e(fmt_git(manifest))} · started '
        f"{_e(fmt_time(manifest.created_at))} · duration {_e(fmt_duration(manifest))}</p>",
        "<h2>Arms</h2>",
        _table(
            [
                "prompt · model",
                "results",
                "pass rate (95% CI)",
                "mean score",
                "errors",
                "cost",
                "p50",
                "p95",
            ],
            (
                [
                    _e(k),
                    str(a["results"]),
                    _e(fmt_rate_ci(a["pass_rate"], a.get("pass_rate_ci"))),
                    fmt_num(a.get("mean_score")),
                    str(a["errors"]),
                    _e(fmt_cost(a.get("cost_usd"))),
                    _e(fmt_ms(a.get("latency_p50_ms"))),
                    _e(fmt_ms(a.get("latency_p95_ms"))),
                ]
                for k, a in s.by_arm.items()
            ),
            table_id="arms",
        ),
    ]
    bars = [
        (
            f"{v.get('prompt')} · {v.get('model')} · {v.get('segment') or '—'}",
            v["pass_rate"],
            *(v.get("pass_rate_ci") or (v["pass_rate"], v["pass_rate"])),
            COLOURS["a"],
        )
        for v in list(s.by_segment.values())[:60]
        if v.get("pass_rate") is not None
    ]
    if bars:
        parts.append(
            "<h2>Pass rate by arm and segment, with 95% Wilson intervals</h2><section id=segments>"
            + interval_chart(bars, lo=0.0, hi=1.0, origin=0.0, fmt=fmt_pct)
            + "</section>"
        )
    if scores:
        import numpy as np

        edges = np.round(np.linspace(0.0, 1.0, 11), 12)
        hists = []
        for arm, vals in list(scores.items())[:12]:
            x = np.clip(np.asarray(vals, dtype=float), 0.0, 1.0)
            hists.append(
                histogram_svg(
                    trim(arm, 40),
                    edges.tolist(),
                    [("results", np.histogram(x, edges)[0].tolist(), COLOURS["a"])],
                )
            )
        parts.append(
            "<h2>Score distributions</h2><section class=hists>" + "".join(hists) + "</section>"
        )
    parts.append(f"<h2>Failures ({n_fail})</h2>")
    if fails:
        ths = "".join(
            f"<th>{h}</th>" for h in ("case", "arm", "segment", "expected", "output", "why")
        )
        body = "".join(f"<tr{a}>{row}</tr>" for a, row in zip(fail_attrs, fails, strict=True))
        parts.append(
            _filter_box("failures", [("failure", "failures"), ("error", "errors")])
            + f'<table id="failures"><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>'
        )
    else:
        parts.append("<p>None: every case passed.</p>")
    parts.append("<h2>Manifest</h2>" + _manifest_block("manifest", manifest))
    return _page(f"driftgate run {manifest.id}", "\n".join(parts))


def write_run_html(
    path: Path, manifest: RunManifest, results: Iterable[CaseResult | dict[str, Any]]
) -> None:
    with atomic_writer(Path(path)) as fh:
        fh.write(run_html(manifest, results))
