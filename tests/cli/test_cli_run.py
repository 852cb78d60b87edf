"""The CLI end to end: exit codes, error messages, reports, read commands with --json."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from driftgate.cli import app

runner = CliRunner()


def dg(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRIFTGATE_HOME": str(root / ".home")}
    return subprocess.run(
        [sys.executable, "-m", "driftgate.cli", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
    )


def test_init_then_run_passes_and_writes_reports(tmp_path: Path):
    assert dg(tmp_path, "init", ".").returncode == 0
    out = dg(
        tmp_path, "run", "-o", "r.md", "-o", "r.xml", "-o", "r.csv", "-o", "r.json", "--no-progress"
    )
    assert out.returncode == 0, out.stderr
    assert "PASSED" in out.stdout
    assert "| " in (tmp_path / "r.md").read_text()
    suites = ET.parse(tmp_path / "r.xml").getroot()
    assert suites.tag in ("testsuites", "testsuite")
    assert (tmp_path / "r.csv").read_text().count("\n") == 6  # header + 5 cases
    data = json.loads((tmp_path / "r.json").read_text())
    assert len(data["results"]) == 5


def test_bad_input_exits_2_naming_file_line_field(tmp_path: Path):
    dg(tmp_path, "init", ".")
    suite = tmp_path / "evalsets" / "example.suite.yaml"
    suite.write_text(suite.read_text() + "pass_treshold: 0.5\n")
    out = dg(tmp_path, "run")
    assert out.returncode == 2
    assert "example.suite.yaml:10" in out.stderr and "pass_treshold" in out.stderr
    assert not any((tmp_path / "runs").glob("2*"))  # nothing written


def test_below_threshold_exits_1_and_errors_exit_3(tmp_path: Path):
    dg(tmp_path, "init", ".")
    assert dg(tmp_path, "run", "-m", "sim/acme@v1?accuracy=0", "--no-progress").returncode == 1
    flaky = dg(
        tmp_path,
        "run",
        "-m",
        "sim/flaky@v1?error_rate=1&retry_after_s=0",
        "--max-error-rate",
        "0",
        "--no-progress",
    )
    assert flaky.returncode == 3


def test_read_commands_take_json(tmp_path: Path, monkeypatch):
    dg(tmp_path, "init", ".")
    dg(tmp_path, "run", "--no-progress")
    monkeypatch.chdir(tmp_path)
    listed = runner.invoke(app, ["runs", "list", "--json"])
    assert listed.exit_code == 0
    runs = json.loads(listed.stdout)
    assert len(runs) == 1 and runs[0]["verdict"] == "passed"
    shown = runner.invoke(app, ["show", runs[0]["id"][:15], "--json"])
    data = json.loads(shown.stdout)
    assert data["id"] == runs[0]["id"] and len(data["results"]) == 5


def test_schema_writes_json_schemas(tmp_path: Path):
    out = runner.invoke(app, ["schema", "--out", str(tmp_path)])
    assert out.exit_code == 0
    suite = json.loads((tmp_path / "driftgate.suite.schema.json").read_text())
    scorer_types = {s["title"] for s in suite["properties"]["scorers"]["items"]["anyOf"]}
    assert {"contains", "label-match", "regex"} <= scorer_types
    assert suite["additionalProperties"] is False


def test_unknown_names_say_file_line_field_and_where_searched(tmp_path: Path):
    assert dg(tmp_path, "init", ".").returncode == 0
    suite = tmp_path / "evalsets" / "example.suite.yaml"
    good = suite.read_text()
    suite.write_text(good.replace("type: label-match", "type: lable-match"))
    out = dg(tmp_path, "run", "--no-progress")
    assert out.returncode == 2
    assert "example.suite.yaml:6 [scorers[0].type]: unknown scorer 'lable-match'" in out.stderr
    assert "did you mean 'label-match'" in out.stderr
    suite.write_text(good.replace("evalsets: [example]", "evalsets: [gold]"))
    out = dg(tmp_path, "run", "--no-progress")
    assert out.returncode == 2 and "example.suite.yaml:4 [evalsets[0]]" in out.stderr
    assert "searched evalsets/gold.{jsonl," in out.stderr
    suite.write_text(good)
    out = dg(tmp_path, "run", "-m", "opnai/gpt-4o", "--no-progress")
    assert out.returncode == 2 and "[--model]: unknown provider 'opnai'" in out.stderr
    assert "closest of" in out.stderr and "openai" in out.stderr
    assert len(out.stderr) < 600  # not the ~200 provider names


def test_exit_3_says_why_and_runs_list_outside_a_workspace_exits_2(
    tmp_path: Path, tmp_path_factory
):
    assert dg(tmp_path, "init", ".").returncode == 0
    out = dg(tmp_path, "run", "-m", "sim/flaky@v1?error_rate=1&retry_after_s=0", "--no-progress")
    assert out.returncode == 3
    assert "error: 5 provider error(s); the first" in out.stderr
    assert "simulated" in out.stderr and "driftgate show" in out.stderr
    outside = tmp_path_factory.mktemp("not-a-workspace")
    listed = dg(outside, "runs", "list")
    assert listed.returncode == 2 and "not in a driftgate workspace" in listed.stderr
    assert dg(tmp_path, "runs", "list").returncode == 0


def test_show_output_names_the_report_it_wrote(tmp_path: Path):
    assert dg(tmp_path, "init", ".").returncode == 0
    assert dg(tmp_path, "run", "-q").returncode == 0
    out = dg(tmp_path, "show", "latest", "-o", "show.html", "-o", "show.md")
    assert out.returncode == 0, out.stderr
    assert "report: show.html" in out.stdout and "report: show.md" in out.stdout
    assert (tmp_path / "show.html").is_file() and (tmp_path / "show.md").is_file()
