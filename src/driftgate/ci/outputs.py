"""Everything the gate writes besides the comment: GitHub annotations (workflow commands
on stdout), the job summary (`$GITHUB_STEP_SUMMARY`), JUnit XML and the HTML report."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from ..store._atomic import atomic_writer
from ..report.junit import clean
from .model import Annotation, CIReport


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


def _attr(value: object) -> str:
    return quoteattr(clean(value), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def gate_junit(report: CIReport) -> str:
    """One <testsuite> per suite (one <testcase> per gate rule of each arm; a failed rule is
    a <failure>, a skipped one <skipped>, an arm that could not be judged an <error>), and
    one for changed files that do not parse."""
    suites_xml = []
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def suite(name: str, cases: list[tuple[str, str, str, str]]) -> None:
        # cases: (name, classname, kind, message) with kind in pass/failure/error/skipped
        counts = {k: sum(1 for c in cases if c[2] == k) for k in ("failure", "error", "skipped")}
        body = []
        for cname, classname, kind, msg in cases:
            head = f'    <testcase name={_attr(cname)} classname={_attr(classname)} time="0"'
            if kind == "pass":
                body.append(
                    head
                    + (
                        f">\n      <system-out>{escape(clean(msg))}</system-out>\n    </testcase>"
                        if msg
                        else "/>"
                    )
                )
            elif kind == "skipped":
                body.append(f"{head}>\n      <skipped message={_attr(msg)}/>\n    </testcase>")
            else:
                body.append(
                    f'{head}>\n      <{kind} message={_attr(msg[:500])} type="{kind}">'
                    f"{escape(clean(msg))}</{kind}>\n    </testcase>"
                )
        totals["tests"] += len(cases)
        totals["failures"] += counts["failure"]
        totals["errors"] += counts["error"]
        totals["skipped"] += counts["skipped"]
        suites_xml.append(
            f'  <testsuite name={_attr(name)} tests="{len(cases)}" failures="{counts["failure"]}" '
            f'errors="{counts["error"]}" skipped="{counts["skipped"]}" time="0" '
            f'timestamp="{time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())}">\n'
            + "\n".join(body)
            + "\n  </testsuite>"
        )

    parse = [
        a
        for a in report.annotations
        if a.level == "error" and a.title and a.title.endswith("does not parse")
    ]
    if parse:
        suite(
            "changed files",
            [(a.file or "?", "driftgate.ci.parse", "failure", a.message) for a in parse],
        )
    for s in report.suites:
        cases: list[tuple[str, str, str, str]] = []
        cls = "driftgate.ci." + s.suite.replace("/", ".")
        if s.error or (not s.arms and s.status != "passed"):
            cases.append((s.suite, cls, "error", s.error or s.status))
        if s.head_verdict == "below_threshold":
            cases.append(
                (
                    "pass threshold",
                    cls,
                    "failure",
                    "the head run is below the suite's pass_threshold",
                )
            )
        for arm in s.arms:
            if arm.error or arm.verdict is None:
                cases.append((arm.arm, cls, "error", arm.error or "not judged"))
                continue
            for r in arm.verdict.rules:
                kind = {"pass": "pass", "fail": "failure", "skip": "skipped"}[r.status]
                msg = ", ".join(
                    x
                    for x in (
                        f"observed {r.observed:.4g}" if r.observed is not None else "",
                        f"CI [{r.ci_low:.4g}, {r.ci_high:.4g}]"
                        if r.ci_low is not None and r.ci_high is not None
                        else "",
                        f"threshold {r.threshold:.4g}" if r.threshold is not None else "",
                        r.detail,
                    )
                    if x
                )
                cases.append((f"{arm.arm}: {r.name}", cls, kind, msg or r.status))
        suite(s.suite, cases or [(s.suite, cls, "pass", "no arm")])
    name = f"driftgate ci {report.merge_base[:7]}..{report.head_commit[:7]}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites name={_attr(name)} tests="{totals["tests"]}" failures="{totals["failures"]}" '
        f'errors="{totals["errors"]}" skipped="{totals["skipped"]}">\n'
        + "\n".join(suites_xml)
        + ("\n" if suites_xml else "")
        + "</testsuites>\n"
    )


def write_junit(path: Path, report: CIReport) -> None:
    with atomic_writer(Path(path)) as fh:
        fh.write(gate_junit(report))


def write_html(path: Path, report: CIReport) -> list[Path]:
    """The HTML comparison report: one page per compared arm. With several, `path` is an
    index linking to `STEM-N.html` pages beside it. Returns the files written."""
    from html import escape as h

    from ..report.html import comparison_html

    path = Path(path)
    pairs = [(s, a) for s in report.suites for a in s.arms if a.comparison is not None]
    if len(pairs) == 1:
        with atomic_writer(path) as fh:
            fh.write(comparison_html(pairs[0][1].comparison))  # type: ignore[arg-type]
        return [path]
    written = []
    links = []
    for i, (s, a) in enumerate(pairs, start=1):
        page = path.with_name(f"{path.stem}-{i}{path.suffix or '.html'}")
        with atomic_writer(page) as fh:
            fh.write(comparison_html(a.comparison))  # type: ignore[arg-type]
        written.append(page)
        status = "pass" if a.passed else "FAIL"
        links.append(f'<li><a href="{h(page.name)}">{h(s.suite)} · {h(a.arm)}</a> — {status}</li>')
    body = "".join(links) or "<li>No arm was compared with a baseline.</li>"
    with atomic_writer(path) as fh:
        fh.write(
            f"<!doctype html><html><head><meta charset=utf-8><title>driftgate gate</title></head>"
            f"<body><h1>driftgate gate</h1><ul>{body}</ul></body></html>\n"
        )
    return [path, *written]
