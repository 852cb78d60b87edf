"""promptfoo's `file://` globs in `prompts` and `tests`: every match, in sorted order; a
glob that matches nothing is an error naming the key and the pattern."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_main
from driftgate.compat.promptfoo import translate
from driftgate.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    (tmp_path / "driftgate.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_prompt_and_test_globs_expand_in_sorted_order(ws):
    # written out of order: the translation must not follow the directory listing
    _write(
        ws,
        {
            "p/b.txt": "B {{ name }}",
            "p/a.txt": "A {{ name }}\n---\nA2 {{ name }}",
            "p/skip.md": "not matched",
            "t/2.yaml": "- vars: {name: Cy}\n",
            "t/1.yaml": "- vars: {name: Ann}\n- vars: {name: Bo}\n",
            "more/x.csv": "name\nDee\n",
            "more/deep/y.jsonl": '{"vars": {"name": "Eve"}}\n',
            "promptfooconfig.yaml": "prompts: [file://p/*.txt]\n"
            "tests: [file://t/*.yaml, 'file://more/**/*.csv', file://more/**/*.jsonl]\n",
        },
    )
    tr = translate(ws / "promptfooconfig.yaml", Workspace.find())
    assert [p["name"] for p in tr.prompts] == ["a", "a-2", "b"]
    assert [p["messages"][0]["content"] for p in tr.prompts] == [
        "A {{ name }}",
        "A2 {{ name }}",
        "B {{ name }}",
    ]
    assert [c["vars"]["name"] for c in tr.cases] == ["Ann", "Bo", "Cy", "Dee", "Eve"]


def test_tests_as_one_glob_string(ws):
    _write(
        ws,
        {
            "t/b.jsonl": '{"vars": {"name": "Bo"}}\n',
            "t/a.jsonl": '{"vars": {"name": "Ann"}}\n',
            "promptfooconfig.yaml": "prompts: ['Hi {{ name }}']\ntests: file://t/*.jsonl\n",
        },
    )
    tr = translate(ws / "promptfooconfig.yaml", Workspace.find())
    assert [c["vars"]["name"] for c in tr.cases] == ["Ann", "Bo"]


@pytest.mark.parametrize(
    ("config", "line", "words"),
    [
        (
            "prompts: ['Hi {{ name }}', file://none/*.txt]\ntests: [{vars: {name: A}}]\n",
            1,
            ["prompts[1]", "prompts glob 'file://none/*.txt' matches no file"],
        ),
        (
            "prompts: ['Hi {{ name }}']\ntests: file://none/*.csv\n",
            2,
            ["tests glob 'file://none/*.csv' matches no file"],
        ),
        (
            "prompts: ['Hi {{ name }}']\ntests:\n  - vars: {name: A}\n  - file://t/*.yaml\n",
            4,
            ["tests[1]", "tests glob 'file://t/*.yaml' matches no file"],
        ),
    ],
)
def test_a_glob_matching_nothing_is_an_error(ws, capsys, monkeypatch, config, line, words):
    (ws / "promptfooconfig.yaml").write_text(config)
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "--model", "sim/acme@v1"
    )
    assert code == 2, err
    assert f"promptfooconfig.yaml:{line}" in err, err
    for word in words:
        assert word in err, err


def test_globbed_config_runs(ws, capsys, monkeypatch):
    _write(
        ws,
        {
            "p/one.txt": "Say {{ name }}",
            "p/two.txt": "Shout {{ name }}",
            "t/a.yaml": "- vars: {name: Ann}\n  assert: [{type: icontains, value: '{{ name }}'}]\n",
            "promptfooconfig.yaml": "prompts: file://p/*.txt\ntests: file://t/*.yaml\n",
        },
    )
    code, out, err = run_main(
        capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "--model", "sim/acme@v1"
    )
    assert code in (0, 1), err
    assert "one" in out and "two" in out
