"""Which changed files affect which suites, and the small formats of the gate's outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from ci_repo import commit, git

from driftgate.ci.changes import (
    affected_suites,
    changed_files,
    classify,
    discover_suites,
    suite_dependencies,
    validate_changed,
)
from driftgate.ci.git import Repo, blob_id
from driftgate.ci.schema import Annotation, CIReport, SuiteOutcome
from driftgate.report.ci import MARKER, MAX_CHARS, gate_markdown
from driftgate.report.ci_outputs import workflow_command
from driftgate.report.junit import gate_junit
from driftgate.workspace import Workspace

PROMPT = "messages: [{role: user, content: '{{ description }}'}]\nmodel: sim/acme@v1\n"


def _workspace(root: Path) -> Path:
    files = {
        "driftgate.yaml": "suite: evalsets/cat.suite.yaml\n",
        "pyproject.toml": "[project]\nname = 'x'\n",
        "prompts/cat.yaml": "name: cat\nversion: v1\nfewshot: cat-examples\n" + PROMPT,
        "prompts/cat.v2.yaml": "name: cat\nversion: v2\n" + PROMPT,
        "prompts/rag.yaml": "name: rag\nindex: merchants\n" + PROMPT,
        "prompts/fewshot/cat-examples.yaml": "examples: [{input: {description: a}, output: b}]\n",
        "prompts/indexes/merchants.yaml": "corpus: data/merchants.jsonl\n",
        "data/merchants.jsonl": '{"id": "1", "text": "TESCO", "label": "groceries"}\n',
        "evalsets/tx.jsonl": '{"id": "a", "vars": {"description": "x"}}\n',
        "evalsets/tx2.jsonl": '{"id": "a", "vars": {"description": "x"}}\n',
        "evalsets/cat.suite.yaml": "prompts: [cat@v1]\nevalsets: [tx]\nscorers: [{type: equals}]\n",
        "evalsets/rag.suite.yaml": "prompts: [rag]\nevalsets: [tx2]\nscorers: [{type: equals}]\n",
        "routes/cat.yaml": "prompt: cat\narms: [{name: p, prompt: cat@production, weight: 100}]\n",
        "routes/other.yaml": "arms: [{name: p, prompt: other@v1, weight: 100}]\n",
        "gates/default.yaml": "min_cases: 1\n",
        "README.md": "hello\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    commit(root, "base")
    return root


def _affected(root: Path, base: str) -> dict[str, tuple[str, list[str]]]:
    ws = Workspace.find(root)
    repo = Repo.open(root)
    deps = [suite_dependencies(ws, p) for p in discover_suites(ws)]
    out = {}
    for c in changed_files(ws, repo, base, git(root, "rev-parse", "HEAD")):
        c.suites = affected_suites(ws, repo, c, base, deps, None)
        out[c.path] = (c.kind, [s.rsplit("/", 1)[-1] for s in c.suites])
    return out


@pytest.fixture
def ws_repo(tmp_path: Path) -> Path:
    return _workspace(tmp_path / "repo")


def _change(root: Path, files: dict[str, str | None]) -> str:
    base = git(root, "rev-parse", "HEAD")
    for rel, text in files.items():
        if text is None:
            (root / rel).unlink()
        else:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    commit(root, "change")
    return base


CAT, RAG = "cat.suite.yaml", "rag.suite.yaml"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"prompts/fewshot/cat-examples.yaml": "examples: []\n"},
            {"prompts/fewshot/cat-examples.yaml": ("fewshot", [CAT])},
        ),
        (
            {"prompts/indexes/merchants.yaml": "corpus: data/merchants.jsonl\nk: 3\n"},
            {"prompts/indexes/merchants.yaml": ("index", [RAG])},
        ),
        (
            {"data/merchants.jsonl": '{"id": "2", "text": "ALDI", "label": "groceries"}\n'},
            {"data/merchants.jsonl": ("corpus", [RAG])},
        ),
        (
            {"evalsets/tx2.jsonl": '{"id": "b", "vars": {"description": "y"}}\n'},
            {"evalsets/tx2.jsonl": ("golden_set", [RAG])},
        ),
        (
            {
                "routes/cat.yaml": "prompt: cat\narms: [{name: q, prompt: cat@v1, weight: 100}]\n",
                "routes/other.yaml": "arms: [{name: q, prompt: other@v2, weight: 100}]\n",
            },
            {"routes/cat.yaml": ("route", [CAT]), "routes/other.yaml": ("route", [])},
        ),
        (
            {"gates/default.yaml": "min_cases: 2\n", "gates/rag.yaml": "min_cases: 3\n"},
            {"gates/default.yaml": ("policy", [CAT, RAG]), "gates/rag.yaml": ("policy", [RAG])},
        ),
        (
            {
                "prompts/cat.v2.yaml": "name: cat\nversion: v2\ndescription: not used by any suite\n"
                + PROMPT
            },
            {"prompts/cat.v2.yaml": ("prompt", [])},
        ),
        (
            {"prompts/cat.yaml": None},
            {"prompts/cat.yaml": ("prompt", [CAT])},
        ),  # known by its old name
        (
            {"driftgate.yaml": "suite: evalsets/rag.suite.yaml\n"},
            {"driftgate.yaml": ("settings", [CAT, RAG])},
        ),
        ({"pyproject.toml": "[project]\nname = 'y'\n"}, {"pyproject.toml": ("other", [])}),
        (
            {"pyproject.toml": "[project]\nname = 'x'\n[tool.driftgate]\nruns_dir = 'r'\n"},
            {"pyproject.toml": ("settings", [CAT, RAG])},
        ),
        ({"README.md": "bye\n"}, {"README.md": ("other", [])}),
    ],
)
def test_changed_files_map_to_the_suites_that_read_them(
    ws_repo: Path, files: dict[str, str | None], expected: dict[str, tuple[str, list[str]]]
) -> None:
    base = _change(ws_repo, files)
    assert _affected(ws_repo, base) == expected


def test_a_renamed_prompt_is_seen_under_both_names(ws_repo: Path) -> None:
    base = git(ws_repo, "rev-parse", "HEAD")
    git(ws_repo, "mv", "prompts/rag.yaml", "prompts/retrieval.yaml")
    commit(ws_repo, "rename")
    assert _affected(ws_repo, base) == {
        "prompts/rag.yaml": ("prompt", [RAG]),
        "prompts/retrieval.yaml": ("prompt", [RAG]),
    }


def test_a_corpus_beside_the_golden_sets_is_not_parsed_as_one(ws_repo: Path) -> None:
    row = '{"id": "%s", "text": "TESCO", "label": "groceries"}\n'
    _change(
        ws_repo,
        {
            "prompts/indexes/merchants.yaml": "corpus: evalsets/merchants.jsonl\n",
            "evalsets/merchants.jsonl": row % 1,
        },
    )
    base = _change(ws_repo, {"evalsets/merchants.jsonl": row % 1 + row % 2})
    assert _affected(ws_repo, base) == {"evalsets/merchants.jsonl": ("corpus", [RAG])}
    ws, repo = Workspace.find(ws_repo), Repo.open(ws_repo)
    changes = changed_files(ws, repo, base, "HEAD")
    assert validate_changed(ws, repo, changes) == []
    # A row with `vars` holds only case fields (a flat row would load: #18).
    (ws_repo / "evalsets" / "tx2.jsonl").write_text(
        '{"id": "a", "vars": {}, "text": "not a case field"}\n'
    )
    commit(ws_repo, "break a golden set")
    [ann] = validate_changed(ws, repo, changed_files(ws, repo, base, "HEAD"))
    assert (ann.file, ann.line, ann.title) == (
        "evalsets/tx2.jsonl",
        1,
        "evalsets/tx2.jsonl does not parse",
    )
    assert "[text]: unknown field" in ann.message


def test_first_changed_line_and_status(ws_repo: Path) -> None:
    base = _change(
        ws_repo,
        {
            "prompts/rag.yaml": "name: rag\nindex: merchants\nmodel: sim/acme@v2\n"
            "messages: [{role: user, content: '{{ description }}'}]\n",
            "evalsets/new.jsonl": '{"id": "z"}\n',
            "routes/other.yaml": None,
        },
    )
    repo = Repo.open(ws_repo)
    got = {
        c.path: (c.status, c.line)
        for c in changed_files(Workspace.find(ws_repo), repo, base, "HEAD")
    }
    assert got == {
        "prompts/rag.yaml": ("modified", 3),
        "evalsets/new.jsonl": ("added", 1),
        "routes/other.yaml": ("deleted", None),
    }


def test_classify_by_location(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert classify(ws, "prompts/a.yaml") == "prompt"
    assert classify(ws, "prompts/team/a.json") == "prompt"
    assert classify(ws, "prompts/fewshot/a.yaml") == "fewshot"
    assert classify(ws, "prompts/indexes/a.yml") == "index"
    assert classify(ws, "prompts/notes.md") == "other"
    assert classify(ws, "evalsets/a.csv") == "golden_set"
    assert classify(ws, "evalsets/a.suite.yaml") == "suite"
    assert classify(ws, "nightly.suite.yaml") == "suite"
    assert classify(ws, "routes/a.yaml") == "route"
    assert classify(ws, "gates/default.yaml") == "policy"
    assert classify(ws, "driftgate.yaml") == "settings"
    assert classify(ws, "src/app.py") == "other"


def test_blob_id_matches_git(ws_repo: Path) -> None:
    repo = Repo.open(ws_repo)
    path = "prompts/cat.yaml"
    assert repo.blob_ids("HEAD", [path, "missing.yaml"]) == {
        path: blob_id(ws_repo / path),
        "missing.yaml": None,
    }


# ---- output formats ----------------------------------------------------------------------------
def test_workflow_command_escaping() -> None:
    a = Annotation(
        level="error",
        message="50% worse\nsee: c1, c2",
        file="prompts/a,b:c.yaml",
        line=7,
        title="x: y",
    )
    assert (
        workflow_command(a)
        == "::error file=prompts/a%2Cb%3Ac.yaml,line=7,title=x%3A y::50%25 worse%0Asee: c1, c2"
    )
    assert workflow_command(Annotation(level="warning", message="m")) == "::warning::m"


def _report(n_suites: int, error: str) -> CIReport:
    return CIReport(
        base_ref="origin/main",
        base_commit="a" * 40,
        merge_base="b" * 40,
        head_ref="HEAD",
        head_commit="c" * 40,
        exit_code=1,
        suites=[
            SuiteOutcome(suite=f"s{i}.suite.yaml", status="error", error=error)
            for i in range(n_suites)
        ],
    )


def test_summary_fits_a_comment() -> None:
    text = gate_markdown(_report(2000, "x" * 500))
    assert text.startswith(MARKER + "\n## driftgate gate — ❌ failed")
    assert len(text) <= MAX_CHARS and text.rstrip().endswith(
        "_…summary truncated to fit a comment._"
    )


def test_junit_counts_suite_errors() -> None:
    xml = gate_junit(_report(2, "broken"))
    assert (
        '<testsuites name="driftgate ci bbbbbbb..ccccccc" tests="2" failures="0" errors="2" skipped="0">'
        in xml
    )
