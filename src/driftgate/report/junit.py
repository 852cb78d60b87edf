"""JUnit XML: one <testsuite> per arm (prompt × model), one <testcase> per case × repeat.

A failed case gets a <failure> with its reasons; a provider/template error or a scorer
error gets an <error> (CI tools show errors apart from failures, which is the distinction
we want: an outage is not a regression). Counts must precede the test cases in the XML,
so each arm's test cases are spooled to a temporary file and the document is assembled
at the end: memory stays flat for any number of results.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape, quoteattr

from ..store.records import CaseResult, RunManifest
from ..summary import arm_key
from . import as_result, atomic_writer, failure_reasons, trim

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


def _attr(value: Any) -> str:
    return quoteattr(clean(value), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _text(value: Any) -> str:
    return escape(clean(value))


@dataclass(slots=True)
class _Arm:
    prompt: str
    model: str
    spool: IO[str]
    tests: int = 0
    failures: int = 0
    errors: int = 0
    time_s: float = 0.0


def _testcase(r: CaseResult) -> tuple[str, str]:
    """The <testcase> element of a result and its kind: pass, failure or error."""
    name = r.case_id if r.repeat == 0 else f"{r.case_id} [repeat {r.repeat}]"
    classname = r.evalset + (f".{r.segment}" if r.segment else "")
    secs = (r.latency_ms or 0.0) / 1000
    head = f'    <testcase name={_attr(name)} classname={_attr(classname)} time="{secs:.3f}"'
    scorer_errors = [s for s in r.scores if s.error is not None]
    if r.passed and r.error is None and not scorer_errors:
        return head + "/>\n", "pass"
    reasons = failure_reasons(r)
    detail = "\n".join(
        [*reasons, f"expected: {trim(r.expected, 2000)}", f"output: {trim(r.output, 2000)}"]
    )
    if r.error is not None or scorer_errors:
        kind = r.error_kind or ("provider" if r.error is not None else "scorer")
        body = f"<error message={_attr(trim(reasons[0], 500))} type={_attr(kind)}>{_text(detail)}</error>"
        outcome = "error"
    else:
        body = f'<failure message={_attr(trim("; ".join(reasons), 500))} type="failed">{_text(detail)}</failure>'
        outcome = "failure"
    return f"{head}>\n      {body}\n    </testcase>\n", outcome


def write_junit(
    path: Path, manifest: RunManifest, results: Iterable[CaseResult | dict[str, Any]]
) -> None:
    """Write the run as JUnit XML (the dialect GitHub, GitLab and Jenkins read)."""
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
                xml, outcome = _testcase(r)
                arm.spool.write(xml)
                arm.tests += 1
                arm.failures += outcome == "failure"
                arm.errors += outcome == "error"
                arm.time_s += (r.latency_ms or 0.0) / 1000
            _assemble(Path(path), manifest, arms)
        finally:
            for arm in arms.values():
                arm.spool.close()


def _assemble(path: Path, manifest: RunManifest, arms: dict[str, _Arm]) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(manifest.created_at))
    tests = sum(a.tests for a in arms.values())
    failures = sum(a.failures for a in arms.values())
    errors = sum(a.errors for a in arms.values())
    duration = (manifest.finished_at - manifest.created_at) if manifest.finished_at else 0.0
    with atomic_writer(path) as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        fh.write(
            f"<testsuites name={_attr('driftgate ' + (manifest.suite or manifest.id))} "
            f'tests="{tests}" failures="{failures}" errors="{errors}" time="{duration:.3f}">\n'
        )
        for key, arm in arms.items():
            fh.write(
                f'  <testsuite name={_attr(key)} tests="{arm.tests}" failures="{arm.failures}" '
                f'errors="{arm.errors}" skipped="0" time="{arm.time_s:.3f}" timestamp="{stamp}">\n'
            )
            fh.write("    <properties>\n")
            props = {
                "run_id": manifest.id,
                "prompt": arm.prompt,
                "model": arm.model,
                "suite": manifest.suite,
                "git_revision": manifest.git_revision,
            }
            for name, value in props.items():
                if value is not None:
                    fh.write(f"      <property name={_attr(name)} value={_attr(value)}/>\n")
            fh.write("    </properties>\n")
            arm.spool.seek(0)
            for chunk in iter(lambda s=arm.spool: s.read(1 << 16), ""):
                fh.write(chunk)
            fh.write("  </testsuite>\n")
        fh.write("</testsuites>\n")
