"""The run page's charts: labels keep the part that tells rows apart."""

import re

from driftgate.report.html import fit_label, interval_chart, run_html
from driftgate.store.records import CaseResult, RunManifest
from driftgate.summary import summarize


def _res(case: str, segment: str, passed: bool) -> CaseResult:
    return CaseResult(
        run_id="r",
        key=f"p@1|m|set|{case}|0",
        evalset="set",
        case_id=case,
        segment=segment,
        prompt="categorize@zero-shot",
        prompt_digest="d",
        model="sim/acme@v1",
        repeat=0,
        passed=passed,
        score=1.0 if passed else 0.0,
        output="x",
        ts=1.0,
    )


def test_fit_label_elides_the_middle_and_keeps_the_end():
    long = "categorize@zero-shot · sim/acme@v1 · merchant-descriptor-with-a-long-name"
    short = fit_label(long, 40)
    assert len(short) == 40 and short.startswith("categ") and short.endswith("long-name")
    assert fit_label("bank-a", 40) == "bank-a"


def test_interval_chart_labels_fit_and_carry_the_full_name():
    rows = [(f"arm · segment-{s}-distinguishing-suffix", 0.5, 0.4, 0.6, "#000") for s in "ab"]
    chart = interval_chart(rows, lo=0, hi=1, origin=0, fmt=str)
    labels = [b["label"] for b in chart.parts["bars"]]
    assert labels[0] != labels[1] and all(lb.endswith("-distinguishing-suffix") for lb in labels)
    assert chart.parts["bars"][0]["full"] == rows[0][0]


def test_run_page_segment_chart_names_whole_segments_for_one_arm():
    segs = ["merchant-descriptor-north-america", "merchant-descriptor-south-america"]
    results = [_res(f"c{i}", segs[i % 2], i % 3 != 0) for i in range(12)]
    m = RunManifest(
        id="r",
        status="finished",
        created_at=0.0,
        driftgate_version="0",
        summary=summarize(results),
    )
    page = run_html(m, results)
    svg = page[page.index("interval chart") :]
    texts = re.findall(r"</title>([^<]+)</text>", svg)
    assert set(segs) <= set(texts), texts


def test_run_page_and_markdown_say_what_the_verdict_was_measured_against():
    from driftgate.report.markdown import run_markdown
    from driftgate.store.records import Summary

    m = RunManifest(
        id="r",
        status="finished",
        created_at=0.0,
        driftgate_version="0",
        verdict="passed",
        pass_threshold=0.05,
        summary=Summary(results=15, passed=2, pass_rate=2 / 15),
    )
    assert "pass rate 13.3% ≥ the suite's threshold 5.0%" in run_markdown(m, []).splitlines()[0]
    assert "pass rate 13.3% ≥ the suite&#39;s threshold 5.0%" in run_html(m, [])
