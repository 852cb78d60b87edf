"""JUnit XML, the dialect GitHub, GitLab and Jenkins read: one builder for runs, comparisons
and the CI gate, with one escaping (ElementTree's, after `clean`).

A run: one <testsuite> per arm (prompt × model), one <testcase> per case × repeat. A failed
case gets a <failure> with its reasons; a provider/template error or a scorer error gets an
<error> (CI tools show errors apart from failures, which is the distinction we want: an
outage is not a regression). Counts must precede the test cases in the XML, so each arm's
test cases are spooled to a temporary file and the document is assembled at the end:
memory stays flat for any number of results.

A comparison: one <testcase> for the overall result and one per segment; a `worse` verdict
is a <failure> (CI shows the regression where it shows failing tests); a segment too small
to compare is <skipped>. Inconclusive and equivalent results pass, with the numbers in
<system-out>, because a gate that fails on noise teaches people to ignore it.

The CI gate: one <testsuite> per suite, one <testcase> per gate rule of each arm (a failed
rule is a <failure>, a skipped one <skipped>, an arm that could not be judged an <error>),
and one suite for changed files that do not parse.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from ..store._atomic import atomic_writer
from ..store.records import CaseResult, RunManifest
from ..summary import arm_key
from ._format import answer_text, as_result, failure_reasons, trim

if TYPE_CHECKING:
    from ..ci.schema import CIReport, SuiteOutcome
    from ..compare.schema import Comparison
    from ..gate import RuleResult
    from ..stats import PairedResult

Outcome = Literal["pass", "failure", "error", "skipped"]
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

# Characters XML 1.0 forbids even when escaped: C0 controls but tab/LF/CR, lone
# surrogates, U+FFFE/U+FFFF. Model outputs do contain them (e.g. \x1b colour codes).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(text: Any) -> str:
    """Text safe to put in XML: forbidden characters shown as \\xNN / \\uNNNN."""
    s = "" if text is None else str(text)

    def sub(m: re.Match[str]) -> str:
        c = ord(m.group())
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"

    return _INVALID_XML.sub(sub, s)


# ---- the builder -----------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class JUnitCase:
    """One <testcase>. `message`/`kind` are the attributes of its <failure>, <error> or
    <skipped>; `detail` is the text of a failure or error, or a pass's <system-out>."""

    name: str
    classname: str
    outcome: Outcome = "pass"
    time: str = "0"
    message: str | None = None
    kind: str | None = None
    detail: str | None = None


@dataclass(slots=True)
class JUnitSuite:
    """One <testsuite>: its attributes in document order after `name` and the counts."""

    name: str
    cases: list[JUnitCase] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for c in self.cases if c.outcome == outcome)


def _element(tag: str, attrs: Mapping[str, Any]) -> ET.Element:
    return ET.Element(tag, {k: clean(v) for k, v in attrs.items()})


def case_element(case: JUnitCase) -> ET.Element:
    el = _element("testcase", {"name": case.name, "classname": case.classname, "time": case.time})
    if case.outcome == "skipped":
        ET.SubElement(el, "skipped", message=clean(case.message or ""))
    elif case.outcome in ("failure", "error"):
        child = ET.SubElement(
            el, case.outcome, message=clean(case.message), type=clean(case.kind or case.outcome)
        )
        child.text = clean(case.detail)
    elif case.detail:
        ET.SubElement(el, "system-out").text = clean(case.detail)
    return el


def properties_element(props: Mapping[str, Any]) -> ET.Element:
    """<properties>, leaving out the ones that are None."""
    el = ET.Element("properties")
    for name, value in props.items():
        if value is not None:
            ET.SubElement(el, "property", name=clean(name), value=clean(value))
    return el


def suite_element(suite: JUnitSuite) -> ET.Element:
    counts = {
        "tests": str(len(suite.cases)),
        "failures": str(suite.count("failure")),
        "errors": str(suite.count("error")),
        "skipped": str(suite.count("skipped")),
    }
    el = _element("testsuite", {"name": suite.name, **counts, **suite.attrs})
    if suite.properties:
        el.append(properties_element(suite.properties))
    el.extend(case_element(c) for c in suite.cases)
    return el


def junit_document(name: str, suites: Sequence[JUnitSuite], **attrs: str) -> str:
    """A whole <testsuites> document; its counts are the sums of the suites'."""
    totals = {
        "tests": str(sum(len(s.cases) for s in suites)),
        "failures": str(sum(s.count("failure") for s in suites)),
        "errors": str(sum(s.count("error") for s in suites)),
        "skipped": str(sum(s.count("skipped") for s in suites)),
    }
    root = _element("testsuites", {"name": name, **totals, **attrs})
    root.extend(suite_element(s) for s in suites)
    return serialize(root)


def serialize(root: ET.Element) -> str:
    ET.indent(root, "  ")
    return XML_DECLARATION + ET.tostring(root, encoding="unicode") + "\n"


def _open_tag(tag: str, attrs: Mapping[str, Any]) -> str:
    """`<tag a="…">`, escaped by ElementTree: the start of an element whose children are
    streamed after it (ElementTree writes an empty element as `<tag a="…" />`)."""
    empty = ET.tostring(_element(tag, attrs), encoding="unicode")
    return empty.removesuffix(" />") + ">"


def _fragment(el: ET.Element, level: int) -> str:
    ET.indent(el, "  ", level=level)
    return "  " * level + ET.tostring(el, encoding="unicode") + "\n"


# ---- a run -----------------------------------------------------------------------------
@dataclass(slots=True)
class _Arm:
    prompt: str
    model: str
    spool: IO[str]
    tests: int = 0
    failures: int = 0
    errors: int = 0
    time_s: float = 0.0


def result_case(r: CaseResult) -> JUnitCase:
    """The <testcase> of one result: a pass, a failure or an error."""
    name = r.case_id if r.repeat == 0 else f"{r.case_id} [repeat {r.repeat}]"
    classname = r.evalset + (f".{r.segment}" if r.segment else "")
    secs = f"{(r.latency_ms or 0.0) / 1000:.3f}"
    scorer_errors = [s for s in r.scores if s.error is not None]
    if r.passed and r.error is None and not scorer_errors:
        return JUnitCase(name, classname, time=secs)
    reasons = failure_reasons(r)
    detail = "\n".join(
        [
            *reasons,
            f"expected: {trim(r.expected, 2000)}",
            f"output: {trim(answer_text(r.output, r.tool_calls), 2000)}",
        ]
    )
    if r.error is not None or scorer_errors:
        kind = r.error_kind or ("provider" if r.error is not None else "scorer")
        return JUnitCase(name, classname, "error", secs, trim(reasons[0], 500), kind, detail)
    message = trim("; ".join(reasons), 500)
    return JUnitCase(name, classname, "failure", secs, message, "failed", detail)


def write_junit(
    path: Path, manifest: RunManifest, results: Iterable[CaseResult | dict[str, Any]]
) -> None:
    """Write the run as JUnit XML."""
    arms: dict[str, _Arm] = {}
    with tempfile.TemporaryDirectory(prefix="driftgate-junit-") as tmp:
        try:
            for item in results:
                r = as_result(item)
                key = arm_key(r.prompt, r.model)
                arm = arms.get(key)
                if arm is None:
                    spool = open(Path(tmp) / f"{len(arms)}.xml", "w+", encoding="utf-8")
                    arm = arms[key] = _Arm(r.prompt, r.model, spool)
                case = result_case(r)
                arm.spool.write(_fragment(case_element(case), 2))
                arm.tests += 1
                arm.failures += case.outcome == "failure"
                arm.errors += case.outcome == "error"
                arm.time_s += (r.latency_ms or 0.0) / 1000
            _assemble(Path(path), manifest, arms)
        finally:
            for arm in arms.values():
                arm.spool.close()


def _assemble(path: Path, manifest: RunManifest, arms: dict[str, _Arm]) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(manifest.created_at))
    duration = (manifest.finished_at - manifest.created_at) if manifest.finished_at else 0.0
    totals = {
        "name": "driftgate " + (manifest.suite or manifest.id),
        "tests": sum(a.tests for a in arms.values()),
        "failures": sum(a.failures for a in arms.values()),
        "errors": sum(a.errors for a in arms.values()),
        "time": f"{duration:.3f}",
    }
    with atomic_writer(path) as fh:
        fh.write(XML_DECLARATION + _open_tag("testsuites", totals) + "\n")
        for key, arm in arms.items():
            head = {
                "name": key,
                "tests": arm.tests,
                "failures": arm.failures,
                "errors": arm.errors,
                "skipped": 0,
                "time": f"{arm.time_s:.3f}",
                "timestamp": stamp,
            }
            props = {
                "run_id": manifest.id,
                "prompt": arm.prompt,
                "model": arm.model,
                "suite": manifest.suite,
                "git_revision": manifest.git_revision,
            }
            fh.write("  " + _open_tag("testsuite", head) + "\n")
            fh.write(_fragment(properties_element(props), 2))
            arm.spool.seek(0)
            shutil.copyfileobj(arm.spool, fh, 1 << 16)
            fh.write("  </testsuite>\n")
        fh.write("</testsuites>\n")


# ---- a comparison ----------------------------------------------------------------------
def _paired_line(cmp: Comparison, r: PairedResult) -> str:
    from ._compare_format import fmt_delta, fmt_interval, fmt_value, p_is

    m = cmp.metric
    return (
        f"{m}: {fmt_value(cmp, m, r.mean_a)} -> {fmt_value(cmp, m, r.mean_b)}, "
        f"delta {fmt_delta(cmp, m, r.delta)} {fmt_interval(cmp, m, r)}, {p_is(r.p_value)}, "
        f"n={r.n}, wins/losses/ties {r.wins}/{r.losses}/{r.ties}"
    )


def _comparison_case(
    cmp: Comparison, name: str, verdict: str | None, r: PairedResult | None, note: str | None
) -> JUnitCase:
    from ._compare_format import VERDICT_TEXT

    cls = "driftgate.compare"
    if r is None or verdict is None:
        return JUnitCase(name, cls, "skipped", message=note or "not compared")
    line = _paired_line(cmp, r)
    detail = line + (f"\n{note}" if note else "")
    if verdict == "worse":
        message = f"{VERDICT_TEXT[verdict]}: {line}"
        return JUnitCase(name, cls, "failure", message=message, kind="worse", detail=detail)
    return JUnitCase(name, cls, detail=f"{VERDICT_TEXT[verdict]}: {detail}")


def comparison_junit(cmp: Comparison) -> str:
    """The comparison as a JUnit XML document."""
    from ._compare_format import headline

    cases = [_comparison_case(cmp, f"overall ({cmp.metric})", cmp.verdict, cmp.primary, None)]
    cases += [
        _comparison_case(
            cmp, f"segment {seg.segment}", seg.verdict, seg.results.get(cmp.metric), seg.note
        )
        for seg in cmp.segments
    ]
    name = f"driftgate compare {cmp.a.label} vs {cmp.b.label}"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cmp.created_at))
    props = {
        "run_a": cmp.a.run_id,
        "arm_a": cmp.a.arm,
        "run_b": cmp.b.run_id,
        "arm_b": cmp.b.arm,
        "metric": cmp.metric,
        "margin": cmp.margin,
        "verdict": cmp.verdict,
        "headline": headline(cmp),
    }
    suite = JUnitSuite(name, cases, {"time": "0", "timestamp": stamp}, props)
    return junit_document(name, [suite])


# ---- the CI gate -----------------------------------------------------------------------
_RULE_OUTCOME: dict[str, Outcome] = {"pass": "pass", "fail": "failure", "skip": "skipped"}


def _rule_message(r: RuleResult) -> str:
    """observed, interval, threshold and detail of a gate rule, those that are set."""
    parts = (
        f"observed {r.observed:.4g}" if r.observed is not None else "",
        f"CI [{r.ci_low:.4g}, {r.ci_high:.4g}]"
        if r.ci_low is not None and r.ci_high is not None
        else "",
        f"threshold {r.threshold:.4g}" if r.threshold is not None else "",
        r.detail,
    )
    return ", ".join(x for x in parts if x) or r.status


def _gate_case(name: str, cls: str, outcome: Outcome, message: str) -> JUnitCase:
    if outcome in ("failure", "error"):
        return JUnitCase(name, cls, outcome, message=message[:500], kind=outcome, detail=message)
    if outcome == "skipped":
        return JUnitCase(name, cls, outcome, message=message)
    return JUnitCase(name, cls, detail=message)


def _suite_cases(s: SuiteOutcome) -> list[JUnitCase]:
    cls = "driftgate.ci." + s.suite.replace("/", ".")
    cases: list[JUnitCase] = []
    if s.error or (not s.arms and s.status != "passed"):
        cases.append(_gate_case(s.suite, cls, "error", s.error or s.status))
    if s.head_verdict == "below_threshold":
        message = "the head run is below the suite's pass_threshold"
        cases.append(_gate_case("pass threshold", cls, "failure", message))
    for arm in s.arms:
        if arm.error or arm.verdict is None:
            cases.append(_gate_case(arm.arm, cls, "error", arm.error or "not judged"))
            continue
        cases += [
            _gate_case(f"{arm.arm}: {r.name}", cls, _RULE_OUTCOME[r.status], _rule_message(r))
            for r in arm.verdict.rules
        ]
    return cases or [_gate_case(s.suite, cls, "pass", "no arm")]


def gate_junit(report: CIReport) -> str:
    """The gate's verdict as a JUnit XML document."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    attrs = {"time": "0", "timestamp": stamp}
    suites: list[JUnitSuite] = []
    parse = [
        a
        for a in report.annotations
        if a.level == "error" and a.title and a.title.endswith("does not parse")
    ]
    if parse:
        cases = [
            _gate_case(a.file or "?", "driftgate.ci.parse", "failure", a.message) for a in parse
        ]
        suites.append(JUnitSuite("changed files", cases, attrs))
    suites += [JUnitSuite(s.suite, _suite_cases(s), attrs) for s in report.suites]
    name = f"driftgate ci {report.merge_base[:7]}..{report.head_commit[:7]}"
    return junit_document(name, suites)
