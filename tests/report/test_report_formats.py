import csv
import json
import xml.etree.ElementTree as ET

import pytest

from driftgate.errors import ConfigError
from driftgate.report import failure_reasons, redact, redact_manifest, write_report
from driftgate.report.junit import write_junit
from driftgate.report.markdown import md, run_markdown
from driftgate.report.tabular import read_json, write_csv, write_json
from driftgate.store.records import CaseResult, RunManifest, ScoreRecord
from driftgate.summary import summarize


def res(
    case,
    *,
    model="m",
    passed=True,
    error=None,
    segment="retail",
    output="ok",
    repeat=0,
    scores=None,
    expected="food",
    latency=120.0,
):
    if scores is None:
        scores = [
            ScoreRecord(
                metric="category",
                value=1.0 if passed else 0.0,
                passed=passed,
                reason="" if passed else "expected 'food'",
            )
        ]
    return CaseResult(
        run_id="run-1",
        key=f"p@1|{model}|set|{case}|{repeat}",
        evalset="set",
        case_id=case,
        segment=segment,
        prompt="p@1",
        prompt_digest="d",
        model=model,
        repeat=repeat,
        passed=passed and error is None,
        error=error,
        error_kind="timeout" if error else None,
        score=None if error else (1.0 if passed else 0.0),
        scores=[] if error else scores,
        output=output,
        expected=expected,
        latency_ms=latency,
        cost_usd=0.001,
        input_tokens=10,
        output_tokens=2,
        ts=1.0,
    )


@pytest.fixture
def results():
    return [
        res("c1"),
        res("c2", passed=False, output="rent | <b>bold</b>\nsecond line"),
        res("c3", error="provider timed out after 60 s", output=None),
        res("c4", output="weird \x1b[31m control \x00 chars \ufffe"),
        res("c1", model="m2", repeat=1),
        res(
            "c5",
            model="m2",
            scores=[
                ScoreRecord(metric="category", value=1.0, passed=True),
                ScoreRecord(metric="judge", value=0.0, passed=False, error="judge unavailable"),
            ],
            passed=False,
        ),
    ]


@pytest.fixture
def manifest(results):
    return RunManifest(
        id="20260101-000000-abc123",
        status="finished",
        suite="evalsets/cat.suite.yaml",
        created_at=1_700_000_000.0,
        finished_at=1_700_000_075.5,
        git_revision="0123456789abcdef0",
        git_dirty=True,
        driftgate_version="0.1.0",
        pass_threshold=0.8,
        verdict="below_threshold",
        models=[
            {
                "id": "gpt-x",
                "params": {"api_key": "sk-abcdefghijklmnop", "max_tokens": 64},
                "api_key_env": "OPENAI_API_KEY",
            }
        ],
        summary=summarize(results),
    )


def test_markdown_has_key_numbers(manifest, results):
    text = run_markdown(manifest, results, max_failures=2)
    assert "## driftgate run `20260101-000000-abc123` — ❌ below threshold" in text
    # overall 3/6 passed
    assert "| **Pass rate** | 50.0% [" in text and "(threshold 80.0%)" in text
    assert "6 (3 passed, 2 failed, 1 errors)" in text
    assert "1 min 16 s" in text  # 75.5 s duration, rounded
    assert "0123456789ab (dirty)" in text
    assert "| p@1 | m | 4 | 50.0% [" in text  # arm m: c1, c4 passed of 4
    assert "| p@1 | m2 | 2 | 50.0% [" in text
    assert "### Segments" in text and "retail" in text
    assert "### Failures (first 2 of 3)" in text
    # a model's markup cannot break the table or inject HTML
    assert "<b>" not in text and "rent \\| \\<b\\>bold\\</b\\> ⏎ second line" in text
    assert "error (timeout): provider timed out" in text
    assert "judge: scorer error" not in text  # third failure (c5) not listed
    for line in text.splitlines():
        if line.startswith("| c2"):
            assert line.count(" | ") == 4  # five cells, no extra column from the output's pipe


def test_markdown_without_results_or_summary():
    m = RunManifest(id="r", created_at=0.0, driftgate_version="0.1.0")
    text = run_markdown(m)
    assert "## driftgate run `r` — running" in text and "Failures" not in text
    assert md("a|b\nc") == "a\\|b ⏎ c"


def test_failure_reasons(results):
    assert failure_reasons(results[1]) == ["category = 0: expected 'food'"]
    assert failure_reasons(results[2]) == ["error (timeout): provider timed out after 60 s"]
    assert failure_reasons(results[5]) == ["judge: scorer error: judge unavailable"]


def test_csv_columns_and_rows(tmp_path, results):
    path = tmp_path / "out.csv"
    assert write_csv(path, iter(results)) == 6
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    cols = list(rows[0])
    assert cols[:10] == [
        "run_id",
        "key",
        "evalset",
        "case_id",
        "prompt",
        "model",
        "segment",
        "repeat",
        "passed",
        "score",
    ]
    assert cols[10:12] == ["score.category", "score.judge"]
    assert {"error", "latency_ms", "cost_usd", "input_tokens", "output_tokens", "output"} <= set(
        cols
    )
    assert rows[1]["output"] == "rent | <b>bold</b>\nsecond line"  # verbatim, newline kept
    assert rows[1]["score.category"] == "0.0" and rows[1]["passed"] == "False"
    assert rows[2]["error"].startswith("provider timed out") and rows[2]["score.category"] == ""
    assert rows[5]["score.judge"] == "" and rows[5]["score.category"] == "1.0"
    assert rows[4]["repeat"] == "1" and rows[0]["score.judge"] == ""


def test_json_round_trips(tmp_path, manifest, results):
    path = tmp_path / "run.json"
    assert write_json(path, manifest, (r.model_dump() for r in results)) == 6
    m2, back = read_json(path)
    assert back == results
    assert m2.summary == manifest.summary and m2.id == manifest.id
    # keys never reach a report; the env var *name* and max_tokens stay
    params = m2.models[0]["params"]
    assert params == {"api_key": "***", "max_tokens": 64}
    assert m2.models[0]["api_key_env"] == "OPENAI_API_KEY"
    assert "sk-abcdef" not in path.read_text()


def test_json_empty_results(tmp_path, manifest):
    path = tmp_path / "empty.json"
    write_json(path, manifest, [])
    assert json.loads(path.read_text())["results"] == []


def test_read_json_bad_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"manifest": {}, "results": []}')
    with pytest.raises(ConfigError, match=r"bad\.json \[manifest\]: id: Field required"):
        read_json(p)


def test_junit_parses_and_counts(tmp_path, manifest, results):
    path = tmp_path / "junit.xml"
    write_junit(path, manifest, results)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "1", "2")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"p@1 · m", "p@1 · m2"}
    m = suites["p@1 · m"]
    assert (m.get("tests"), m.get("failures"), m.get("errors")) == ("4", "1", "1")
    props = {p.get("name"): p.get("value") for p in m.iter("property")}
    assert props["run_id"] == manifest.id and props["model"] == "m"
    cases = {c.get("name"): c for c in m.findall("testcase")}
    assert cases["c1"].find("failure") is None and cases["c1"].get("classname") == "set.retail"
    failure = cases["c2"].find("failure")
    assert failure.get("message") == "category = 0: expected 'food'"
    assert "second line" in failure.text
    err = cases["c3"].find("error")
    assert err.get("type") == "timeout" and "provider timed out" in err.get("message")
    m2 = {c.get("name"): c for c in suites["p@1 · m2"].findall("testcase")}
    assert "c1 [repeat 1]" in m2
    assert m2["c5"].find("error").get("type") == "scorer"


def test_junit_escapes_control_chars(tmp_path, manifest):
    r = res("bad\x01id", passed=False, output="a\x00b\x1bc\ud800d & <x>")
    path = tmp_path / "j.xml"
    write_junit(path, manifest, [r])
    case = ET.parse(path).getroot().find("testsuite/testcase")
    assert case.get("name") == "bad\\x01id"
    assert "a\\x00b\\x1bc\\ud800d & <x>" in case.find("failure").text


def test_redact():
    cfg = {
        "id": "x",
        "api_key_env": "MY_KEY",
        "apiKey": "abc",
        "max_tokens": 10,
        "extra_headers": {"Authorization": "Bearer abc", "X-Trace": "1"},
        "key": "category",
        "access_token": "t",
        "nested": ["sk-0123456789abcdef", "fine"],
        "client_secret": None,
    }
    assert redact(cfg) == {
        "id": "x",
        "api_key_env": "MY_KEY",
        "apiKey": "***",
        "max_tokens": 10,
        "extra_headers": {"Authorization": "***", "X-Trace": "1"},
        "key": "category",
        "access_token": "***",
        "nested": ["***", "fine"],
        "client_secret": None,
    }


def test_redact_manifest_leaves_original(manifest):
    red = redact_manifest(manifest)
    assert red.models[0]["params"]["api_key"] == "***"
    assert manifest.models[0]["params"]["api_key"].startswith("sk-")


@pytest.mark.parametrize("ext", [".json", ".csv", ".md", ".xml"])
def test_write_report_by_extension(tmp_path, manifest, results, ext):
    path = tmp_path / "sub" / f"report{ext}"
    write_report(path, manifest, iter(results))
    text = path.read_text(encoding="utf-8")
    assert text
    if ext == ".md":
        assert text.startswith("## driftgate run")
    if ext == ".xml":
        assert ET.fromstring(text.encode()).get("tests") == "6"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_write_report_unknown_extension(tmp_path, manifest):
    with pytest.raises(ConfigError) as info:
        write_report(tmp_path / "r.txt", manifest, [])
    msg = str(info.value)
    assert "r.txt" in msg and "'.txt'" in msg
    for ext in (".json", ".csv", ".md", ".xml"):
        assert ext in msg
    write_report(tmp_path / "r.html", manifest, [])
    assert "<html" in (tmp_path / "r.html").read_text().lower()


def test_markdown_label_metrics_table(manifest):
    manifest.summary.metrics = {
        "p@1 · m": {"n": 4, "accuracy": 0.75, "macro_f1": None, "per_label": {"food": {}}},
        "p@1 · m2": {"n": 2, "accuracy": 1.0, "macro_f1": 1.0},
    }
    text = run_markdown(manifest)
    assert "| Arm | n | accuracy | macro_f1 |" in text
    assert "| p@1 · m | 4 | 0.750 | — |" in text
    assert "| p@1 · m2 | 2 | 1.000 | 1.000 |" in text
    assert "per_label" not in text
