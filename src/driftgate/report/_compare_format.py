"""Number formats shared by every comparison report (terminal, Markdown, HTML, JUnit, the CI
comment), so each says the same thing the same way.

Metrics whose values lie in [0, 1] (pass rates, most scores) are shown as percentages and
their differences as percentage points ("−3.2 pts"); others as plain numbers.
"""

from __future__ import annotations

from ..compare.schema import Comparison, UsageDelta
from ..stats import PairedResult
from ._format import fmt_cost, fmt_ms

MINUS = "\u2212"
VERDICT_TEXT = {
    "better": "B is better",
    "worse": "B is worse",
    "equivalent": "equivalent",
    "inconclusive": "inconclusive",
}
VERDICT_EMOJI = {"better": "🟢", "worse": "🔴", "equivalent": "⚪", "inconclusive": "🟡"}
USAGE_TITLES = {
    "cost_usd": "cost / result",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "latency_ms": "latency",
}


def _signed(x: float, digits: int) -> str:
    s = f"{abs(x):.{digits}f}"
    if float(s) == 0.0:
        return f"±{s}"
    return ("+" if x > 0 else MINUS) + s


def is_rate(cmp: Comparison, metric: str) -> bool:
    return cmp.scales.get(metric) == "rate"


def fmt_value(cmp: Comparison, metric: str, v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v * 100:.1f}%" if is_rate(cmp, metric) else f"{v:.3f}"


def fmt_delta(cmp: Comparison, metric: str, d: float | None) -> str:
    if d is None:
        return "—"
    return f"{_signed(d * 100, 1)} pts" if is_rate(cmp, metric) else _signed(d, 3)


def fmt_interval(cmp: Comparison, metric: str, r: PairedResult) -> str:
    if is_rate(cmp, metric):
        return f"[{_signed(r.ci_low * 100, 1)}, {_signed(r.ci_high * 100, 1)}]"
    return f"[{_signed(r.ci_low, 3)}, {_signed(r.ci_high, 3)}]"


def fmt_p(p: float) -> str:
    """The p-value as it is: `0.023`, `0.31`, and below 0.001 in scientific notation
    (`2.3e-05`), since how far below matters when many comparisons are read together."""
    if p < 0.001:
        return f"{p:.1e}"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def p_is(p: float) -> str:
    """`p=0.023`, `p=2.3e-05`."""
    return f"p={fmt_p(p)}"


def fmt_margin(cmp: Comparison) -> str:
    if cmp.margin == 0:
        return "no margin"
    return f"margin {fmt_delta(cmp, cmp.metric, cmp.margin).lstrip('+')}"


def headline(cmp: Comparison) -> str:
    """One line: verdict, primary delta with interval and p-value."""
    r = cmp.primary
    return (
        f"{VERDICT_TEXT[cmp.verdict]}: {cmp.metric} {fmt_value(cmp, cmp.metric, r.mean_a)} → "
        f"{fmt_value(cmp, cmp.metric, r.mean_b)} ({fmt_delta(cmp, cmp.metric, r.delta)}, "
        f"{r.confidence:.0%} CI {fmt_interval(cmp, cmp.metric, r)} {r.interval}, "
        f"{p_is(r.p_value)}, {r.test}; {fmt_margin(cmp)})"
    )


def fmt_usage(name: str, v: float | None, *, delta: bool = False) -> str:
    if v is None:
        return "—"
    if delta:
        return ("±" if v == 0 else "+" if v > 0 else MINUS) + fmt_usage(name, abs(v))
    if name == "cost_usd":
        return fmt_cost(v)
    if name == "latency_ms":
        return fmt_ms(v)
    return f"{v:,.0f}"


def usage_row(u: UsageDelta) -> list[str]:
    """[name, median A, median B, Δ, p95 A, p95 B, Δ]."""
    f = u.name
    return [
        USAGE_TITLES[f],
        fmt_usage(f, u.median_a),
        fmt_usage(f, u.median_b),
        fmt_usage(f, u.median_delta, delta=True),
        fmt_usage(f, u.p95_a),
        fmt_usage(f, u.p95_b),
        fmt_usage(f, u.p95_delta, delta=True),
    ]


def budgets(cmp: Comparison) -> dict[str, str]:
    """Metric → its budget ("≤ 2000 ms") for the latency/cost scorers of weight 0: they say
    whether a call stayed within a budget, not how good its answer was, so tables name them
    as budgets and list them after the quality metrics."""
    out: dict[str, str] = {}
    for m in (cmp.manifest_a, cmp.manifest_b):
        for sc in m.scorers if m else []:
            kind, weight = sc.get("type"), sc.get("weight", 1.0)
            if kind not in ("latency", "cost") or weight not in (0, 0.0):
                continue
            limit = sc.get("max_ms") if kind == "latency" else sc.get("max_usd")
            unit = "" if limit is None else f"{limit:g} ms" if kind == "latency" else f"${limit:g}"
            out.setdefault(str(sc.get("metric") or kind), f"≤ {unit}" if unit else "")
    return out


def metric_label(cmp: Comparison, name: str) -> str:
    """The metric's name in a table: a budget reads `latency: share within ≤ 2000 ms budget`."""
    limit = budgets(cmp).get(name)
    if limit is None:
        return name
    return f"{name}: share within {limit} budget" if limit else f"{name}: share within budget"


def metric_order(cmp: Comparison) -> list[str]:
    """Primary metric first, then pass, score and the scorer metrics; budgets last."""
    names = list(dict.fromkeys([cmp.metric, *cmp.overall]))
    spent = budgets(cmp)
    return [n for n in names if n not in spent or n == cmp.metric] + [
        n for n in names if n in spent and n != cmp.metric
    ]


def metric_rows(cmp: Comparison) -> list[list[str]]:
    """One row per metric (the primary first): name, A, B, Δ, interval, p, test, W / L / T."""
    return [
        [
            metric_label(cmp, name),
            fmt_value(cmp, name, x.mean_a),
            fmt_value(cmp, name, x.mean_b),
            fmt_delta(cmp, name, x.delta),
            f"{fmt_interval(cmp, name, x)} {x.interval}",
            fmt_p(x.p_value),
            x.test,
            f"{x.wins} / {x.losses} / {x.ties}",
        ]
        for name in metric_order(cmp)
        for x in [cmp.overall[name]]
    ]
