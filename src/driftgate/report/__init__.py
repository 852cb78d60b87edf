"""Run reports: terminal (rich), markdown, JSON, CSV and JUnit XML.

`write_report(path, manifest, results)` picks the format from the file extension. The
helpers here (redaction, failure reasons, number formats, atomic writes) are shared by the
format modules so every report says the same thing the same way.

Outputs are kept verbatim; what is scrubbed is configuration: model configs and settings
shown in a report never carry values whose key names a secret (`redact`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..store._atomic import atomic_writer  # noqa: F401 - re-exported for the report modules
from ..store.records import CaseResult, RunManifest, Summary

REDACTED = "***"
FORMATS = {".json": "JSON", ".csv": "CSV", ".md": "Markdown", ".xml": "JUnit XML", ".html": "HTML"}

# Key parts that name a secret. `max_tokens` (part "tokens") and `api_key_env` (the *name*
# of an environment variable) are deliberately not matched.
# A bare "key" is often a field name (a JSON scorer's `key: category`), so it counts only
# next to a word that makes it a credential (api_key, access_key, x-api-key…).
_SECRET_PARTS = {
    "apikey",
    "secret",
    "token",
    "password",
    "passwd",
    "authorization",
    "auth",
    "credential",
    "credentials",
    "bearer",
    "cookie",
}
_KEY_QUALIFIERS = {"api", "access", "secret", "private", "subscription", "client", "master", "auth"}
_SAFE_SUFFIXES = ("_env", "_env_var")
_SECRET_VALUE = re.compile(r"^\s*(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+\S+)", re.IGNORECASE)


def _is_secret_key(key: str) -> bool:
    k = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()  # apiKey -> api_key
    if k.endswith(_SAFE_SUFFIXES):
        return False
    parts = set(re.split(r"[_\-. ]+", k))
    return bool(parts & _SECRET_PARTS) or ("key" in parts and bool(parts & _KEY_QUALIFIERS))


def redact(value: Any) -> Any:
    """A copy of `value` with secrets masked: values under secret-like keys (api_key,
    token, secret, password, Authorization…) and strings that look like `sk-…`/`Bearer …`."""
    if isinstance(value, dict):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and _is_secret_key(k) and v not in (None, "")
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.match(value):
        return REDACTED
    return value


def redact_manifest(manifest: RunManifest) -> RunManifest:
    """The manifest with its model configs, scorer options and settings redacted."""
    return manifest.model_copy(
        update={
            "models": redact(manifest.models),
            "scorers": redact(manifest.scorers),
            "settings": redact(manifest.settings),
        }
    )


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


# ---- files ----------------------------------------------------------------------------
def write_report(
    path: Path, manifest: RunManifest, results: Iterable[CaseResult | dict[str, Any]]
) -> None:
    """Write a report of one run, its format chosen by the extension of `path`:
    .json (manifest + results), .csv (one row per result), .md (PR comment), .xml (JUnit),
    .html (one self-contained page)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".json":
        from .tabular import write_json

        write_json(path, manifest, results)
    elif ext == ".csv":
        from .tabular import write_csv

        write_csv(path, results)
    elif ext in (".md", ".markdown"):
        from .markdown import run_markdown

        text = run_markdown(manifest, results)
        with atomic_writer(path) as fh:
            fh.write(text)
    elif ext == ".xml":
        from .junit import write_junit

        write_junit(path, manifest, results)
    elif ext in (".html", ".htm"):
        from .html import write_run_html

        write_run_html(path, manifest, results)
    else:
        raise ConfigError(
            f"unknown report format {ext or '(no extension)'!r}; valid extensions: "
            + ", ".join(f"{e} ({n})" for e, n in FORMATS.items()),
            path=path,
        )


def console(*, stderr: bool = False) -> Any:
    """A rich console; 120 columns wide when writing to a file or a CI log, not 80."""
    import os
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=120 if wide else None)
