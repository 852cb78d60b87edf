"""Every report driftgate renders: terminal (rich), Markdown, JSON, CSV, JUnit XML and HTML,
for runs, comparisons, the CI gate, drift checks, routes, loops and retraining.

This package is a layer above the ones whose results it renders (compare, drift, ci,
router, registry, retraining, loops): it imports them, they never import it; the CLI calls
it. Modules:

    _format           failure reasons, one-line text, number formats, the rich console
    _compare_format   comparison formats: verdict texts, deltas, intervals, p-values
    terminal          a run and the runs list (rich)
    markdown          a run as a PR comment
    tabular           a run as JSON / CSV
    junit             the one JUnit XML builder: runs, comparisons, the CI gate
    html              HTML pages from the jinja2 templates in driftgate/templates/report
    compare           a comparison written to a file by extension (.md .json .xml .html)
    compare_terminal  compare_markdown: a comparison on the terminal / as Markdown
    ci                the gate's PR comment, annotations, job summary, JUnit and HTML
    drift             drift checks, traffic and tuning reports as plain text
    drift_history     `drift history`: sparklines, JSON series, the offline HTML chart
    route, loop, retrain

`write_report(path, manifest, results)` picks the format from the file extension.
Outputs are kept verbatim; what is scrubbed is configuration (`redact`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._redact import REDACTED, redact, redact_manifest
from ..errors import ConfigError
from ..store._atomic import atomic_writer
from ..store.records import CaseResult, RunManifest
from ._format import console, failure_reasons, trim

__all__ = [
    "FORMATS",
    "REDACTED",
    "console",
    "failure_reasons",
    "redact",
    "redact_manifest",
    "trim",
    "write_report",
]

FORMATS = {".json": "JSON", ".csv": "CSV", ".md": "Markdown", ".xml": "JUnit XML", ".html": "HTML"}


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
