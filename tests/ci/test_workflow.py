"""The example workflow (.github/workflows/prompt-gate.yml) on the example workspace: its
install, cost-estimate and gate steps, read from the workflow file and run as GitHub's
runner runs them (`bash -e`), in a fresh venv made the way the workflow makes it, on a
temporary git repository holding this project with a prompt pull request."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "prompt-gate.yml"
# What `actions/checkout` would hold: the project and its example workspace.
COPIED = ["pyproject.toml", "README.md", "src", "prompts", "evalsets", "routes", ".github"]

pytestmark = pytest.mark.slow


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.com"}
    env |= {"GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@example.com"}
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def steps() -> dict[str, str]:
    """The workflow's `run` steps by name, with the expressions GitHub would fill in."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    out = {}
    for step in jobs["gate"]["steps"]:
        if "run" in step:
            script = step["run"].replace("${{ github.base_ref }}", "main")
            out[step["name"]] = script.replace("${{ secrets.OPENAI_API_KEY }}", "").replace(
                "${{ secrets.ANTHROPIC_API_KEY }}", ""
            )
    return out


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A repository like the workflow's checkout (`origin/main` fetched), and the workflow's
    install step run in a fresh venv."""
    base = tmp_path_factory.mktemp("workflow")
    repo = base / "repo"
    repo.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "runs", ".driftgate")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=ignore)
        else:
            shutil.copy2(src, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "remote", "add", "origin", str(repo))
    git(repo, "fetch", "-q", "origin")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "HOME": str(base / "home"),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
        "DRIFTGATE_HOME": str(base / "home" / ".driftgate"),
        "GITHUB_OUTPUT": str(base / "github_output"),
    }
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONFIG_FILE"):
        if key in os.environ:
            env[key] = os.environ[key]
    run_step(repo, env, "Install driftgate")
    return {"repo": repo, "env": env}


def run_step(repo: Path, env: dict[str, str], name: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["bash", "-e", "-c", steps()[name]], cwd=repo, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, (
        f"step {name!r} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def pull_request(checkout: dict[str, object], change: str) -> tuple[str, str, Path]:
    """Branch `pr` off main with `change` applied; run the cost-estimate and gate steps.
    Returns the gate's exit code (what the last step would fail the job with), the gate
    step's output and the repository."""
    repo: Path = checkout["repo"]  # type: ignore[assignment]
    env: dict[str, str] = checkout["env"]  # type: ignore[assignment]
    git(repo, "checkout", "-q", "-B", "pr", "main")
    if change == "reword":
        path = repo / "prompts" / "categorize.zero-shot.yaml"
        path.write_text(path.read_text().replace("Answer with one word.", "Reply with one word."))
    else:  # fewer few-shot examples: a real regression on the simulator
        path = repo / "prompts" / "fewshot" / "categorize.yaml"
        data = yaml.safe_load(path.read_text())
        data["examples"] = data["examples"][:2]
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    git(repo, "commit", "-q", "-am", change)
    Path(env["GITHUB_OUTPUT"]).write_text("")
    estimate = run_step(repo, env, "Cost estimate")
    assert "dry run: nothing was called" in estimate.stdout, estimate.stdout
    gate = run_step(repo, env, "Gate")
    code = Path(env["GITHUB_OUTPUT"]).read_text().strip().rsplit("exit_code=", 1)[-1]
    return code, gate.stdout, repo


def test_a_neutral_prompt_change_passes(checkout: dict[str, object]) -> None:
    code, out, repo = pull_request(checkout, "reword")
    assert code == "0", out
    # Only the edited version is gated, on both simulated models; few-shot is unchanged.
    assert out.count("gating evalsets/categorize-sim.suite.yaml · categorize@zero-shot") == 2
    assert "unchanged in evalsets/categorize-sim.suite.yaml" in out and "not installed" not in out
    assert "✅ passed" in (repo / "gate.md").read_text()
    assert (repo / "gate-report.html").is_file() and (repo / "gate-junit.xml").is_file()


def test_a_regression_fails_the_gate(checkout: dict[str, object]) -> None:
    code, out, repo = pull_request(checkout, "fewer examples")
    assert code == "1", out
    assert "::error file=prompts/fewshot/categorize.yaml" in out
    assert "❌ failed" in (repo / "gate.md").read_text()
