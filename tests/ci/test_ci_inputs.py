"""Bad input, the cost guard and the command line of the CI gate."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ci_repo import CountingSim, commit, edit, git, make_repo

from driftgate import providers
from driftgate.ci import CIOptions
from driftgate.ci.cost import price
from driftgate.cli.ci import run_gate
from driftgate.errors import ConfigError
from driftgate.providers.base import ModelConfig
from driftgate.workspace import Workspace


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("DRIFTGATE_WORKSPACE", raising=False)
    return make_repo(tmp_path / "repo")


def gate(root: Path, lines: list[str] | None = None, **kw: object):
    kw.setdefault("base", "main")
    out = lines if lines is not None else []
    return run_gate(CIOptions(**kw), workspace=Workspace.find(root), echo=out.append)  # type: ignore[arg-type]


def regress(root: Path) -> None:
    edit(root, "prompts/cat.yaml", "model: sim/acme@v1", "model: sim/acme@v2")
    commit(root, "v2")


# ---- refs and checkouts ----------------------------------------------------------------------
def test_unknown_base_ref_is_bad_input_and_says_so_in_the_summary(repo: Path) -> None:
    regress(repo)
    lines: list[str] = []
    with pytest.raises(ConfigError) as err:
        gate(repo, lines, base="origin/release-9", summary=repo / "gate.md")
    assert err.value.exit_code == 2
    assert "base 'origin/release-9' does not exist" in str(err.value)
    assert "git fetch origin release-9" in str(err.value)
    assert "could not run" in (repo / "gate.md").read_text()
    assert lines[-1].startswith("::error title=driftgate ci could not run::")


def test_shallow_clone_without_the_base_says_fetch_depth_0(repo: Path, tmp_path: Path) -> None:
    regress(repo)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "pr", f"file://{repo}", str(clone))
    with pytest.raises(ConfigError) as err:
        gate(clone, base="origin/main")
    assert "not in this shallow clone" in str(err.value) and "fetch-depth: 0" in str(err.value)

    # The base branch fetched, but not the history that joins it to the head.
    both = tmp_path / "both"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-single-branch", f"file://{repo}", str(both))
    git(both, "checkout", "-q", "pr")
    with pytest.raises(ConfigError) as err:
        gate(both, base="origin/main")
    assert "no common ancestor" in str(err.value) and "fetch-depth: 0" in str(err.value)


def test_dirty_work_tree_is_refused_unless_allowed(repo: Path) -> None:
    commit_id = git(repo, "rev-parse", "HEAD")
    edit(repo, "prompts/cat.yaml", "model: sim/acme@v1", "model: sim/acme@v2")
    (repo / "notes.txt").write_text("untracked and unrelated\n")
    with pytest.raises(ConfigError) as err:
        gate(repo)
    assert "uncommitted changes (prompts/cat.yaml)" in str(err.value)
    assert "--allow-dirty" in str(err.value) and "git stash" in str(err.value)

    report = gate(repo, allow_dirty=True)
    assert report.dirty and report.head_commit == commit_id
    assert [c.path for c in report.changed if c.suites] == ["prompts/cat.yaml"]
    assert report.exit_code == 1  # the uncommitted v2 was evaluated


def test_untracked_prompt_counts_as_dirty(repo: Path) -> None:
    (repo / "prompts" / "extra.yaml").write_text(
        "name: extra\nmessages: [{role: user, content: hi}]\n"
    )
    with pytest.raises(ConfigError, match=r"uncommitted changes \(prompts/extra.yaml\)"):
        gate(repo)


def test_changed_file_that_does_not_parse_fails_with_an_annotation(repo: Path) -> None:
    edit(repo, "prompts/cat.yaml", "version: v1\n", "version: v1\nmodle: sim/acme@v2\n")
    lines_ = (repo / "evalsets" / "tx.jsonl").read_text().splitlines()
    lines_[4] = '{"id": "c004", "vars": {'
    (repo / "evalsets" / "tx.jsonl").write_text("\n".join(lines_) + "\n")
    commit(repo, "typos")
    lines: list[str] = []
    report = gate(repo, lines, summary=repo / "gate.md", junit=repo / "gate.xml")
    assert report.exit_code == 1
    assert not (repo / "runs").exists()  # nothing evaluated
    errors = sorted(line for line in lines if line.startswith("::error "))
    assert errors[0].startswith(
        "::error file=evalsets/tx.jsonl,line=5,title=evalsets/tx.jsonl does not parse::"
    )
    assert errors[1].startswith(
        "::error file=prompts/cat.yaml,line=3,title=prompts/cat.yaml does not parse::"
    )
    assert "[modle]" in errors[1] and "unknown field" in errors[1]
    text = (repo / "gate.md").read_text()
    assert "### Files that do not parse" in text and "`prompts/cat.yaml` line 3" in text
    assert 'failures="2"' in (repo / "gate.xml").read_text()


def test_head_that_cannot_be_planned_is_annotated_on_the_suite(repo: Path) -> None:
    edit(repo, "evalsets/main.suite.yaml", "prompts: [cat@v1]", "prompts: [cat@v9]")
    commit(repo, "a version that does not exist")
    lines: list[str] = []
    report = gate(repo, lines)
    assert report.exit_code == 1 and report.suites[0].status == "error"
    assert any(
        line.startswith("::error file=evalsets/main.suite.yaml,") and "cat@v9" in line
        for line in lines
    )


# ---- the cost guard ------------------------------------------------------------------------------
def test_dry_run_counts_calls_cache_and_cost_and_calls_nothing(repo: Path) -> None:
    regress(repo)
    lines: list[str] = []
    report = gate(repo, lines, dry_run=True, summary=repo / "gate.md")
    assert report.exit_code == 0 and report.dry_run
    est = report.estimate
    assert [(i.side, i.arm, i.calls, i.cached) for i in est.items] == [
        ("head", "cat@v1 · sim/acme@v2", 40, 0),
        ("base", "cat@v1 · sim/acme@v1", 40, 0),
    ]
    # 9 words x 1.3 + 4 framing tokens per message = 20 in, max_tokens 8 out; $0.002 / 1k tokens.
    assert est.items[0].input_tokens == 40 * 20 and est.items[0].output_tokens == 40 * 8
    assert est.cost_usd == pytest.approx(2 * 40 * 28 / 1000 * 0.002)
    assert (
        "total: 80 calls, 0 served from the cache (0%), 80 to make, estimated cost $0.0045" in lines
    )
    assert not (repo / "runs").exists() and not (repo / ".driftgate").exists()
    assert "dry run" in (repo / "gate.md").read_text()

    gate(repo)  # fills the cache and stores both sides
    again = gate(repo, dry_run=True)
    assert [(i.side, i.calls, i.cached) for i in again.estimate.items] == [("head", 40, 40)]
    assert again.estimate.reused == ["evalsets/main.suite.yaml · cat@v1 · sim/acme@v1"]
    assert again.estimate.cost_usd == 0.0 and again.estimate.cached_share == 1.0


def test_budget_refuses_an_expensive_run(repo: Path) -> None:
    regress(repo)
    with pytest.raises(ConfigError) as err:
        gate(repo, budget_usd=0.001)
    assert err.value.exit_code == 2
    assert "80 calls estimated at $0.0045, above --budget-usd 0.001; nothing was run" in str(
        err.value
    )
    assert not (repo / "runs").exists()
    assert gate(repo, budget_usd=0.01).exit_code == 1  # within budget: it runs (and fails the gate)


def test_budget_needs_a_price(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(providers._FACTORIES, "count", CountingSim)  # registered for this test only
    edit(repo, "prompts/cat.yaml", "model: sim/acme@v1", "model: count/sim/acme@v1")
    commit(repo, "a plugin model")
    with pytest.raises(ConfigError, match="no price for count/sim/acme@v1"):
        gate(repo, budget_usd=1.0)


def test_price_of_simulated_and_local_models() -> None:
    assert price(ModelConfig(id="sim/acme@v1"), 600, 400) == pytest.approx(0.002)
    assert price(ModelConfig(id="sim/acme@v1?cost_per_1k_tokens=0.01"), 600, 400) == pytest.approx(
        0.01
    )
    assert price(ModelConfig(id="local/smollm2-135m"), 10_000, 10_000) == 0.0


@pytest.mark.slow
def test_price_from_litellms_offline_table() -> None:
    usd = price(ModelConfig(id="gpt-4o-mini"), 1_000_000, 1_000_000)
    assert usd is not None and 0.5 < usd < 1.0  # $0.15 + $0.60 per million tokens
    assert price(ModelConfig(id="no-such-provider/no-such-model"), 10, 10) is None


# ---- the command line ------------------------------------------------------------------------------
def _main(argv: list[str], monkeypatch: pytest.MonkeyPatch, cwd: Path) -> int:
    import driftgate.cli.ci  # noqa: F401 - registers the command (the lead wires it in cli/__init__)
    from driftgate.cli import main

    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["driftgate", *argv])
    with pytest.raises(SystemExit) as exit_:
        main()
    return int(exit_.value.code or 0)


def test_cli_exit_codes(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(["ci", "--base", "main"], monkeypatch, repo) == 0  # nothing changed yet
    assert "Nothing relevant changed" in capsys.readouterr().out
    regress(repo)
    assert _main(["ci", "--base", "nope"], monkeypatch, repo) == 2
    assert "error: [base]: base 'nope' does not exist" in capsys.readouterr().err
    assert _main(["ci", "--base", "main", "--dry-run"], monkeypatch, repo) == 0
    assert "80 to make" in capsys.readouterr().out
    assert (
        _main(
            ["ci", "--base", "main", "--summary", "gate.md", "-c", "evalsets/main.suite.yaml"],
            monkeypatch,
            repo,
        )
        == 1
    )
    out = capsys.readouterr().out
    assert "::error file=prompts/cat.yaml,line=3" in out and "gate FAILED (exit 1)" in out
    assert (repo / "gate.md").is_file()
    assert _main(["ci", "--base", "main", "-c", "evalsets/nope.suite.yaml"], monkeypatch, repo) == 2
