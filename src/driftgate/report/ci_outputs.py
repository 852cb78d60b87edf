"""Everything the gate writes besides the comment: GitHub annotations (workflow commands
on stdout), the job summary (`$GITHUB_STEP_SUMMARY`), JUnit XML and the HTML report.

`driftgate.ci.run_ci` runs the gate and returns the CIReport; this layer only renders and
writes it. `driftgate ci` calls the two in turn:

    report = run_ci(options, workspace=ws)     # bad input: write_failure(options, exc)
    write_outputs(report, options)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..ci.schema import Annotation, CIReport
from ..errors import EXIT_BAD_INPUT, DriftgateError
from ..store._atomic import atomic_writer

if TYPE_CHECKING:
    from ..ci.options import CIOptions


# ---- annotations ---------------------------------------------------------------------------
def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(a: Annotation) -> str:
    """`::error file=F,line=L,title=T::message`, escaped as GitHub's runner expects."""
    props = []
    if a.file:
        props.append(f"file={_escape_property(a.file)}")
        if a.line:
            props.append(f"line={int(a.line)}")
    if a.title:
        props.append(f"title={_escape_property(a.title)}")
    head = f"::{a.level}" + (" " + ",".join(props) if props else "")
    return f"{head}::{_escape_data(a.message)}"


def emit_annotations(report: CIReport, echo: Callable[[str], None]) -> None:
    for a in report.annotations:
        echo(workflow_command(a))


# ---- files -----------------------------------------------------------------------------------
def write_summary(path: Path, text: str) -> None:
    with atomic_writer(Path(path)) as fh:
        fh.write(text)


def append_step_summary(text: str, env: dict[str, str] | None = None) -> Path | None:
    """Append to the job summary GitHub Actions shows on the run page, when it is set."""
    target = (env if env is not None else os.environ).get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")
    return path


def write_junit(path: Path, report: CIReport) -> None:
    from .junit import gate_junit

    with atomic_writer(Path(path)) as fh:
        fh.write(gate_junit(report))


def write_html(path: Path, report: CIReport) -> Path:
    """The gate's HTML report: one self-contained page with every gated arm."""
    from .html_gate import write_gate_html

    return write_gate_html(path, report)


# ---- the gate's outputs ------------------------------------------------------------------
def write_outputs(
    report: CIReport, options: CIOptions, echo: Callable[[str], None] = print
) -> None:
    """Everything `options` asks for: annotations (through `echo`), the PR comment, the job
    summary, JUnit and (unless a dry run) HTML; `echo` also says where each file went."""
    from .ci import gate_markdown

    emit_annotations(report, echo)
    text = gate_markdown(report, max_flipped=options.max_flipped)
    if options.summary:
        write_summary(options.summary, text)
        echo(f"summary: {options.summary}")
    step = append_step_summary(text)
    if step:
        echo(f"job summary: {step}")
    if options.junit:
        write_junit(options.junit, report)
        echo(f"junit: {options.junit}")
    if options.html and not report.dry_run:
        echo(f"html report: {write_html(options.html, report)}")


def write_failure(
    options: CIOptions, exc: DriftgateError, echo: Callable[[str], None] = print
) -> None:
    """A gate that could not start still says why, where the PR comment is read from."""
    from .ci import gate_markdown

    report = CIReport(
        base_ref=options.base,
        base_commit="",
        merge_base="",
        head_ref=options.head or "HEAD",
        head_commit="",
        exit_code=EXIT_BAD_INPUT,
        message=f"**The gate could not run:** {exc}",
        annotations=[
            Annotation(level="error", message=str(exc), title="driftgate ci could not run")
        ],
    )
    emit_annotations(report, echo)
    text = gate_markdown(report)
    with contextlib.suppress(OSError):
        if options.summary:
            write_summary(options.summary, text)
        append_step_summary(text)
