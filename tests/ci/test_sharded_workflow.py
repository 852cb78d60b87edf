"""The sharded example workflow (.github/workflows/eval-sharded.yml): its four shard jobs run
as four processes in four checkouts (four runners, nothing shared but the bucket), then its
report job in a fifth, against an S3-compatible server on loopback, each step's script read
from the workflow file and run as GitHub's runner runs it (`bash -e`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "eval-sharded.yml"
COPIED = ["prompts", "evalsets", "routes"]

pytestmark = pytest.mark.slow


def job_steps(job: str, matrix: dict[str, Any] | None = None) -> dict[str, str]:
    """A job's `run` steps by name, with the matrix value GitHub would fill in."""
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"][job]["steps"]
    out = {}
    for step in steps:
        if "run" in step:
            script = step["run"].replace("${{ secrets.OPENAI_API_KEY }}", "")
            for key, value in (matrix or {}).items():
                script = script.replace(f"${{{{ matrix.{key} }}}}", str(value))
            assert "${{" not in script, script
            out[step["name"]] = script
    return out


def checkout(base: Path, name: str) -> Path:
    repo = base / name
    for folder in COPIED:
        shutil.copytree(ROOT / folder, repo / folder)
    return repo


def test_four_shard_jobs_make_one_run_the_report_job_reads(
    tmp_path: Path, s3_url: str, s3_server: Any
) -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    assert workflow["jobs"]["report"]["needs"] == "shard"
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        **s3_server.env(),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DRIFTGATE_STORE": s3_url,  # the workflow's env: s3://$DRIFTGATE_BUCKET/driftgate
        "RUN_ID": "ci-4242",
        "DRIFTGATE_HOME": str(tmp_path / "home"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    shards = [
        subprocess.Popen(
            ["bash", "-e", "-c", job_steps("shard", {"shard": i})["Run this shard"]],
            cwd=checkout(tmp_path, f"runner{i}"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2, 3, 4)
    ]
    outs = [p.communicate(timeout=300) for p in shards]
    assert all(p.returncode == 0 for p in shards), outs
    # Each shard says its part is done; the one that ends last (or after the run finished)
    # shows the whole run.
    assert any("status     finished" in out for out, _ in outs), outs

    reporter = checkout(tmp_path, "report")
    for name, script in job_steps("report").items():
        if name == "Install driftgate":
            continue  # this test's own environment has driftgate
        proc = subprocess.run(
            ["bash", "-e", "-c", script], cwd=reporter, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"step {name!r}:\n{proc.stdout}\n{proc.stderr}"
        if name == "History of this suite":
            assert "ci-4242" in proc.stdout and "1920" in proc.stdout  # every case, once
    report = (reporter / "run.md").read_text()
    assert "ci-4242" in report
    assert (tmp_path / "summary.md").read_text() == report
    assert (reporter / "run-junit.xml").exists()
