"""What every report format shares: failure reasons, one-line text, number formats and the
rich console, so each format says the same thing the same way.

Private to `driftgate.report`: its modules import this, never the package `__init__`.
"""

from __future__ import annotations

import time
from typing import Any

from ..store.records import CaseResult, RunManifest, Summary


def as_result(r: CaseResult | dict[str, Any]) -> CaseResult:
    return r if isinstance(r, CaseResult) else CaseResult.model_validate(r)


def summary_of(manifest: RunManifest) -> Summary:
    """The manifest's summary, or an empty one for a run that has not been summarized."""
    return manifest.summary or Summary()


def failure_reasons(r: CaseResult) -> list[str]:
    """Why a result did not pass, one line per cause (error, parse error, failing scores)."""
    reasons: list[str] = []
    if r.error is not None:
        reasons.append(f"error{f' ({r.error_kind})' if r.error_kind else ''}: {r.error}")
    if r.parse_error:
        reasons.append(f"parse error: {r.parse_error}")
    for s in r.scores:
        if s.error is not None:
            reasons.append(f"{s.metric}: scorer error: {s.error}")
        elif not s.passed:
            reasons.append(f"{s.metric} = {s.value:.3g}" + (f": {s.reason}" if s.reason else ""))
    if not reasons and not r.passed:
        reasons.append("failed" + (f" (score {r.score:.3g})" if r.score is not None else ""))
    return reasons


def answer_text(output: str | None, tool_calls: list[dict[str, str]] | None) -> str:
    """What a model answered, as a person reads it: its text, and its tool calls as
    `name(arguments)` (an answer that only calls tools has no text)."""
    calls = [f"{c.get('name')}({c.get('arguments', '')})" for c in tool_calls or ()]
    return "\n".join([p for p in [output or "", *calls] if p])


def trim(text: Any, limit: int = 120) -> str:
    """One-line, length-limited text for tables (newlines shown as ⏎)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        import json

        text = json.dumps(text, ensure_ascii=False, default=str)
    text = text.replace("\r\n", "\n").replace("\n", " ⏎ ").replace("\t", " ")
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


# ---- number formats -------------------------------------------------------------------
def fmt_pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def fmt_rate_ci(rate: float | None, ci: list[float] | tuple[float, float] | None) -> str:
    if rate is None:
        return "—"
    if not ci:
        return fmt_pct(rate)
    return f"{fmt_pct(rate)} [{ci[0] * 100:.1f}–{ci[1] * 100:.1f}]"


def fmt_ci(ci: list[float] | tuple[float, float] | None) -> str:
    return "—" if not ci else f"{ci[0] * 100:.1f}–{ci[1] * 100:.1f}%"


def fmt_num(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def scalar_metrics(metrics: dict[str, Any]) -> list[str]:
    """Names of the per-arm label metrics that fit a table cell (n, accuracy, macro_f1…);
    per-label rows and confusion matrices are left to the JSON report."""
    names: dict[str, None] = {}
    for values in metrics.values():
        if isinstance(values, dict):
            for name, v in values.items():
                if v is None or (isinstance(v, int | float) and not isinstance(v, bool)):
                    names.setdefault(name)
    return list(names)


def fmt_metric(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return fmt_num(value if isinstance(value, float) else None)


def fmt_cost(usd: float | None) -> str:
    if usd is None:
        return "—"
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "—"
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def fmt_duration(manifest: RunManifest) -> str:
    if manifest.finished_at is None:
        return "—" if manifest.status != "running" else "running"
    s = max(0.0, manifest.finished_at - manifest.created_at)
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(round(s)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def fmt_time(ts: float | None) -> str:
    return "—" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def fmt_git(manifest: RunManifest) -> str:
    if not manifest.git_revision:
        return "—"
    return manifest.git_revision[:12] + (" (dirty)" if manifest.git_dirty else "")


def console(*, stderr: bool = False) -> Any:
    """A rich console; 120 columns wide when writing to a file or a CI log, not 80."""
    import os
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=120 if wide else None)
