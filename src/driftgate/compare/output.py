"""Writing a comparison to a file, the format picked by extension; and its JUnit form.

JUnit: one <testcase> for the overall result and one per segment; a `worse` verdict is a
<failure> (CI shows the regression where it shows failing tests); a segment too small to
compare is <skipped>. Inconclusive and equivalent results pass, with the numbers in
<system-out>, because a gate that fails on noise teaches people to ignore it.
"""

from __future__ import annotations

import time
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from ..errors import ConfigError
from ..report import atomic_writer
from ..report.junit import clean
from ..stats import PairedResult
from .fmt import VERDICT_TEXT, fmt_delta, fmt_interval, fmt_value, headline, p_is
from .model import Comparison

COMPARISON_FORMATS = {".md": "Markdown", ".json": "JSON", ".xml": "JUnit XML", ".html": "HTML"}


def write_comparison(path: Path | str, cmp: Comparison) -> None:
    """Write `cmp` as .md (PR comment), .json, .xml (JUnit) or .html (single file)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext in (".md", ".markdown"):
        from ..report.compare_markdown import comparison_markdown

        text = comparison_markdown(cmp)
    elif ext == ".json":
        text = cmp.model_dump_json(indent=2) + "\n"
    elif ext == ".xml":
        text = comparison_junit(cmp)
    elif ext in (".html", ".htm"):
        from ..report.html import comparison_html

        text = comparison_html(cmp)
    else:
        raise ConfigError(
            f"unknown report format {ext or '(no extension)'!r}; valid extensions: "
            + ", ".join(f"{e} ({n})" for e, n in COMPARISON_FORMATS.items()),
            path=path,
        )
    with atomic_writer(path) as fh:
        fh.write(text)


def _attr(value: object) -> str:
    return quoteattr(clean(value), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _line(cmp: Comparison, r: PairedResult) -> str:
    m = cmp.metric
    return (
        f"{m}: {fmt_value(cmp, m, r.mean_a)} -> {fmt_value(cmp, m, r.mean_b)}, "
        f"delta {fmt_delta(cmp, m, r.delta)} {fmt_interval(cmp, m, r)}, {p_is(r.p_value)}, "
        f"n={r.n}, wins/losses/ties {r.wins}/{r.losses}/{r.ties}"
    )


def comparison_junit(cmp: Comparison) -> str:
    """The comparison as a JUnit XML document (the dialect GitHub, GitLab and Jenkins read)."""
    cases: list[str] = []
    failures = skipped = 0

    def add(name: str, verdict: str | None, r: PairedResult | None, note: str | None) -> None:
        nonlocal failures, skipped
        head = f'    <testcase name={_attr(name)} classname="driftgate.compare" time="0"'
        if r is None or verdict is None:
            skipped += 1
            cases.append(
                f"{head}>\n      <skipped message={_attr(note or 'not compared')}/>\n    </testcase>"
            )
            return
        detail = _line(cmp, r) + (f"\n{note}" if note else "")
        if verdict == "worse":
            failures += 1
            body = f'<failure message={_attr(VERDICT_TEXT[verdict] + ": " + _line(cmp, r))} type="worse">{escape(clean(detail))}</failure>'
        else:
            body = (
                f"<system-out>{escape(clean(VERDICT_TEXT[verdict] + ': ' + detail))}</system-out>"
            )
        cases.append(f"{head}>\n      {body}\n    </testcase>")

    add(f"overall ({cmp.metric})", cmp.verdict, cmp.primary, None)
    for seg in cmp.segments:
        add(f"segment {seg.segment}", seg.verdict, seg.results.get(cmp.metric), seg.note)
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
    prop_xml = "".join(
        f"      <property name={_attr(k)} value={_attr(v)}/>\n"
        for k, v in props.items()
        if v is not None
    )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cmp.created_at))
    name = f"driftgate compare {cmp.a.label} vs {cmp.b.label}"
    n = len(cases)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites name={_attr(name)} tests="{n}" failures="{failures}" errors="0" skipped="{skipped}">\n'
        f'  <testsuite name={_attr(name)} tests="{n}" failures="{failures}" errors="0" '
        f'skipped="{skipped}" time="0" timestamp="{stamp}">\n'
        f"    <properties>\n{prop_xml}    </properties>\n"
        + "\n".join(cases)
        + "\n  </testsuite>\n</testsuites>\n"
    )
