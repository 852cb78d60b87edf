"""The CI gate end to end on real git repositories and the simulator."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ci_repo import CALLS, NEW, CountingSim, commit, edit, git, make_repo

from driftgate import providers
from driftgate.ci import CIOptions
from driftgate.ci.git import Repo
from driftgate.cli.ci import run_gate
from driftgate.report.ci import MARKER
from driftgate.store.runs import RunStore
from driftgate.workspace import Workspace


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("DRIFTGATE_WORKSPACE", raising=False)
    return make_repo(tmp_path / "repo")


def gate(root: Path, lines: list[str] | None = None, **kw: object):
    opts = CIOptions(base="main", **kw)  # type: ignore[arg-type]
    out = lines if lines is not None else []
    return run_gate(opts, workspace=Workspace.find(root), echo=out.append)


def worktrees(root: Path) -> int:
    return git(root, "worktree", "list", "--porcelain").count("worktree ")


def test_segment_regression_fails_and_names_segment_and_cases(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(repo, "prompts/cat.yaml", "model: sim/acme@v1", "model: sim/acme@v2")
    commit(repo, "move categorize to acme v2")
    step = repo.parent / "step-summary.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    lines: list[str] = []
    report = gate(
        repo, lines, summary=repo / "gate.md", junit=repo / "gate.xml", html=repo / "gate.html"
    )

    assert report.exit_code == 1
    [suite] = report.suites
    assert suite.suite == "evalsets/main.suite.yaml" and suite.status == "failed"
    [arm] = suite.arms
    assert arm.arm == "cat@v1 · sim/acme@v2" and arm.baseline_arm == "cat@v1 · sim/acme@v1"
    assert arm.baseline_source == "worktree"
    failed = [r.name for r in arm.verdict.failed]
    assert f"segment {NEW} (margin 0.05)" in failed
    regressed = sorted(f.case_id for f in arm.comparison.regressed)
    assert regressed == ["c002", "c006", "c036"]  # all in the segment acme@v2 got worse at
    assert all(f.segment == NEW for f in arm.comparison.regressed)

    text = (repo / "gate.md").read_text()
    assert text.startswith(MARKER)
    assert "❌ failed" in text and f"**{NEW}** −15.0 pts" in text
    for case in regressed:
        assert f"`{case}`" in text
    assert "| `prompts/cat.yaml` (line 3) | prompt | modified |" in text
    assert len(text) <= 60_000
    assert step.read_text().startswith("earlier step\n" + MARKER)

    errors = [line for line in lines if line.startswith("::error ")]
    assert len(errors) == 1
    assert errors[0].startswith("::error file=prompts/cat.yaml,line=3,title=prompt gate failed::")
    assert (
        "segment cohort=new-bank-format" in errors[0]
        and "%0Aregressed cases: c002, c006, c036" in errors[0]
    )

    junit = ET.parse(repo / "gate.xml").getroot()
    assert junit.get("failures") == "2"
    failing = [tc.get("name") for tc in junit.iter("testcase") if tc.find("failure") is not None]
    assert f"cat@v1 · sim/acme@v2: segment {NEW} (margin 0.05)" in failing
    html = (repo / "gate.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and NEW in html and "c036" in html
    assert worktrees(repo) == 1  # the temporary base worktree is gone


def test_second_run_on_same_commits_calls_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(providers._FACTORIES, "count", CountingSim)  # registered for this test only
    edit(repo, "prompts/cat.yaml", "model: sim/acme@v1", "model: count/sim/acme@v1")
    commit(repo, "count calls on main")
    git(repo, "branch", "-f", "main", "HEAD")
    edit(repo, "prompts/cat.yaml", "model: count/sim/acme@v1", "model: count/sim/acme@v2")
    commit(repo, "move to v2")
    CALLS.clear()

    first = gate(repo)
    assert first.exit_code == 1
    assert CALLS == {"count/sim/acme@v2": 40, "count/sim/acme@v1": 40}
    assert first.suites[0].arms[0].baseline_source == "worktree"
    assert first.usage.calls == 80 and first.usage.cached == 0

    CALLS.clear()

    def no_worktree(self: Repo, commit: str):  # a second gate must not need the base tree
        raise AssertionError("a worktree was created")

    monkeypatch.setattr(Repo, "worktree", no_worktree)
    second = gate(repo)
    assert sum(CALLS.values()) == 0
    assert second.exit_code == 1
    arm = second.suites[0].arms[0]
    assert (
        arm.baseline_source == "stored" and arm.baseline_run == first.suites[0].arms[0].baseline_run
    )
    head = RunStore(repo / "runs").results(second.suites[0].head_run)
    assert all(r.cached for r in head)
    assert second.usage.calls == 0 and second.usage.cached == 40
    assert second.estimate.calls == 40 and second.estimate.cached == 40
    assert arm.verdict.summary() == first.suites[0].arms[0].verdict.summary()


def test_neutral_change_gates_nothing_and_calls_nothing(repo: Path) -> None:
    edit(
        repo,
        "prompts/cat.yaml",
        "version: v1\n",
        "version: v1\ndescription: clearer wording for reviewers\n",
    )
    commit(repo, "describe the prompt")
    lines: list[str] = []
    report = gate(repo, lines, summary=repo / "gate.md")
    assert report.exit_code == 0
    # The description is not part of the prompt's digest: the arm renders as at the base,
    # so it is not run and not gated (comparing an arm with itself proves nothing).
    [suite] = report.suites
    assert suite.arms == [] and suite.unchanged == ["cat@v1 · sim/acme@v1"]
    assert suite.head_run is None and not (repo / "runs").exists()
    assert any(line.startswith("unchanged in evalsets/main.suite.yaml") for line in lines)
    text = (repo / "gate.md").read_text()
    assert "✅ passed" in text and "Unchanged, not run: cat@v1 · sim/acme@v1" in text


def test_unrelated_change_runs_nothing(repo: Path) -> None:
    (repo / "README.md").write_text("a better readme\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "notes.yaml").write_text("not: a prompt\n")
    commit(repo, "docs")
    lines: list[str] = []
    report = gate(repo, lines, summary=repo / "gate.md")
    assert report.exit_code == 0 and report.suites == []
    assert {c.path for c in report.changed} == {"README.md", "docs/notes.yaml"}
    assert all(c.kind == "other" and not c.suites for c in report.changed)
    assert any(line.startswith("Nothing relevant changed") for line in lines)
    assert not (repo / "runs").exists()
    assert "nothing to evaluate" in (repo / "gate.md").read_text()


def test_new_prompt_version_is_paired_with_the_old_one(repo: Path) -> None:
    (repo / "prompts" / "cat2.yaml").write_text(
        (repo / "prompts" / "cat.yaml")
        .read_text()
        .replace("version: v1", "version: v2")
        .replace("Pick one of", "Choose one of")
    )
    edit(repo, "evalsets/main.suite.yaml", "prompts: [cat@v1]", "prompts: [cat@v2]")
    commit(repo, "categorize v2")
    report = gate(repo)
    [arm] = report.suites[0].arms
    assert arm.prompt == "cat@v2" and arm.baseline_arm == "cat@v1 · sim/acme@v1"
    kinds = {c.path: (c.kind, c.status) for c in report.changed}
    assert kinds == {
        "prompts/cat2.yaml": ("prompt", "added"),
        "evalsets/main.suite.yaml": ("suite", "modified"),
    }
    # The simulator answers by case, not by wording: the same outcomes, a pass.
    assert report.exit_code == 0 and arm.comparison.n_common == 40


def test_head_ref_other_than_checkout(repo: Path) -> None:
    edit(repo, "prompts/cat.yaml", "model: sim/acme@v1", "model: sim/acme@v2")
    head = commit(repo, "v2")
    git(repo, "checkout", "-q", "main")
    report = gate(repo, head="pr")
    assert report.head_commit == head and report.exit_code == 1
    assert report.suites[0].arms[0].model == "sim/acme@v2"
    assert worktrees(repo) == 1


def test_workspace_in_a_subfolder_and_an_explicit_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    root = tmp_path / "mono"
    make_repo(root / "ml")  # a workspace in ml/ ...
    git(root / "ml", "checkout", "-q", "main")
    (root / "ml" / ".git").rename(root / ".git")  # ... of a repository one level up
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "move the repository up")
    git(root, "checkout", "-q", "-B", "pr")
    git(root, "branch", "-f", "main", "HEAD")
    edit(root / "ml", "prompts/cat.yaml", "model: sim/acme@v1", "model: sim/acme@v2")
    (root / "ml" / "loose.yaml").write_text("non_inferiority: {margin: 0.5}\n")
    commit(root, "v2 and a loose policy")

    lines: list[str] = []
    failed = gate(root / "ml", lines)
    assert failed.exit_code == 1
    assert any(line.startswith("::error file=ml/prompts/cat.yaml,line=3,") for line in lines)
    assert {c.repo_path for c in failed.changed} == {"ml/prompts/cat.yaml", "ml/loose.yaml"}

    loose = gate(root / "ml", policy=Path("loose.yaml"))
    [arm] = loose.suites[0].arms
    assert loose.exit_code == 0 and arm.verdict.policy == "loose.yaml"
    assert [r.rule for r in arm.verdict.rules] == ["min_cases", "non_inferiority"]
    assert arm.baseline_source == "stored"


def test_provider_errors_exit_3(repo: Path) -> None:
    edit(
        repo,
        "evalsets/main.suite.yaml",
        "evalsets: [tx]\n",
        "evalsets: [tx]\nmodels: [{id: 'sim/flaky@v1?error_rate=1&latency_ms=0', max_retries: 0}]\n",
    )
    commit(repo, "a provider that always fails")
    lines: list[str] = []
    report = gate(repo, lines, summary=repo / "gate.md")
    assert report.exit_code == 3
    assert report.suites[0].status == "provider_errors" and report.suites[0].arms == []
    assert any(
        line.startswith("::error title=provider errors in evalsets/main.suite.yaml::")
        for line in lines
    )
    assert "⚠️ provider errors" in (repo / "gate.md").read_text()


def test_golden_set_with_no_case_in_common_is_gated_without_a_baseline(repo: Path) -> None:
    tx = repo / "evalsets" / "tx.jsonl"
    tx.write_text(tx.read_text().replace('"id": "c', '"id": "d'))
    commit(repo, "renumber every case")
    lines: list[str] = []
    report = gate(repo, lines)
    [change] = report.changed
    assert (change.path, change.kind, change.suites) == (
        "evalsets/tx.jsonl",
        "golden_set",
        ["evalsets/main.suite.yaml"],
    )
    [arm] = report.suites[0].arms
    assert arm.baseline_source == "none" and arm.comparison is None
    assert any(
        w.startswith("not compared with the base: [case_id]: no case in common")
        for w in arm.verdict.warnings
    )
    assert [r.status for r in arm.verdict.rules if r.rule == "non_inferiority"] == ["skip"]
    assert report.exit_code == 0
    assert any(line.startswith("::warning ") and "no base arm" in line for line in lines)


def test_few_shot_sets_are_covered_by_the_prompt_digest(repo: Path) -> None:
    """A prompt's digest is bound to its few-shot set: editing the set touches the arm
    with no git check of the set's file, rewording the description does not."""
    (repo / "prompts" / "fewshot").mkdir()
    (repo / "prompts" / "fewshot" / "cat.yaml").write_text(
        "examples: [{input: {description: a}, output: groceries}]\n"
    )
    edit(repo, "prompts/cat.yaml", "version: v1\n", "version: v1\nfewshot: cat\n")
    commit(repo, "show an example")
    git(repo, "branch", "-f", "main", "HEAD")  # the base has the few-shot set
    edit(repo, "prompts/cat.yaml", "version: v1\n", "version: v1\ndescription: reworded\n")
    commit(repo, "describe the prompt")
    [suite] = gate(repo).suites
    assert suite.arms == [] and suite.unchanged == ["cat@v1 · sim/acme@v1"]

    edit(repo, "prompts/fewshot/cat.yaml", "description: a", "description: b")
    commit(repo, "another example")
    [suite] = gate(repo).suites
    [arm] = suite.arms
    assert suite.gated == {arm.arm: "prompt changed"} and arm.baseline_source == "worktree"
    assert arm.baseline_run != arm.head_run


def test_only_the_touched_arms_are_gated_each_against_the_same_arm(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two versions of one prompt on two models; a change to one version gates its two
    arms, each against the same version on the same model at the base, and runs nothing
    of the other version."""
    monkeypatch.setitem(providers._FACTORIES, "count", CountingSim)
    (repo / "prompts" / "cat-b.yaml").write_text(
        (repo / "prompts" / "cat.yaml")
        .read_text()
        .replace("version: v1", "version: b")
        .replace("Pick one of", "One of")
    )
    edit(
        repo,
        "evalsets/main.suite.yaml",
        "prompts: [cat@v1]\n",
        "prompts: [cat@v1, cat@b]\nmodels: [count/sim/acme@v1, count/sim/acme@v2]\n",
    )
    commit(repo, "two versions on two models")
    git(repo, "branch", "-f", "main", "HEAD")
    edit(repo, "prompts/cat.yaml", "Pick one of", "Choose one of")
    commit(repo, "reword v1")
    CALLS.clear()

    lines: list[str] = []
    plan = gate(repo, lines, dry_run=True)
    [suite] = plan.suites
    assert suite.gated == {
        "cat@v1 · count/sim/acme@v1": "prompt changed",
        "cat@v1 · count/sim/acme@v2": "prompt changed",
    }
    assert suite.unchanged == ["cat@b · count/sim/acme@v1", "cat@b · count/sim/acme@v2"]
    # Head and base of the two touched arms: 4 × 40 cases, nothing of cat@b.
    assert plan.estimate.calls == 160 and sum(CALLS.values()) == 0
    assert {i.arm for i in plan.estimate.items} == set(suite.gated)

    report = gate(repo, lines, html=repo / "gate.html")
    [suite] = report.suites
    # One self-contained page holds both arms; the output says where it is.
    assert sorted(p.name for p in repo.glob("gate*.html")) == ["gate.html"]
    page = (repo / "gate.html").read_text()
    assert re.findall(r'<section id="(arm-\d+)">', page) == ["arm-1", "arm-2"]
    assert "cat@b · count/sim/acme@v1" in page
    assert f"html report: {repo / 'gate.html'}" in lines
    assert [(a.arm, a.baseline_arm) for a in suite.arms] == [
        ("cat@v1 · count/sim/acme@v1", "cat@v1 · count/sim/acme@v1"),
        ("cat@v1 · count/sim/acme@v2", "cat@v1 · count/sim/acme@v2"),
    ]
    assert all(a.baseline_source == "worktree" for a in suite.arms)
    head = RunStore(repo / "runs").results(suite.head_run)
    assert {r.prompt for r in head} == {"cat@v1"}
    assert sum(CALLS.values()) == 160 and report.exit_code == 0
    assert any(line.startswith("unchanged in evalsets/main.suite.yaml") for line in lines)
