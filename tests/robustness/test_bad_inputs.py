"""A corpus of bad inputs, each through the real CLI entry (issue #16): exit 2, a message that
names the file / line / field (or the flag), no traceback, and nothing written.

Each case starts from a copy of one small simulator workspace, changes files (or links
some out of the workspace) and runs one command. "Nothing written" means the runs folder
and the state folder (`.driftgate/`: registry, routes, cache) hold the same files after
the command as before it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import run_main, write_workspace

SUITE = (
    "prompts: [cat@v1]\n"
    "evalsets: [{evalsets}]\n"
    "scorers:\n"
    "  - {{type: label-match, metric: category}}\n"
    "pass_threshold: 0.5\n"
)
PROMPT = (
    "name: cat\n"
    "version: v1\n"
    "model: sim/perfect@v1\n"
    "messages:\n"
    "  - {{role: user, content: '{content}'}}\n"
    "output: {{type: label, labels: [groceries, dining, transport, rent]}}\n"
)
CASE = '{"id": "%s", "vars": {"description": "x"}, "expected": "groceries"}\n'
ARMS = "arms:\n  - {name: a, prompt: cat@v1, weight: 100}\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256))
RUN = ("run", "-q")


@dataclass
class Bad:
    id: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    argv: tuple[str, ...] = RUN
    expect: tuple[str, ...] = ()  # substrings of stderr: the file:line, [field] or flag
    links: dict[str, str] = field(default_factory=dict)  # workspace path -> outside file


def golden(id_: str, name: str, data: str | bytes, *expect: str) -> Bad:
    """A golden set `evalsets/NAME` run by the default suite."""
    stem = name.rsplit(".", 1)[0]
    return Bad(
        id_,
        {f"evalsets/{name}": data, "evalsets/main.suite.yaml": SUITE.format(evalsets=stem)},
        expect=expect,
    )


def suite(id_: str, text: str, *expect: str) -> Bad:
    return Bad(id_, {"evalsets/main.suite.yaml": text}, expect=("main.suite.yaml", *expect))


def suite_with(id_: str, extra: str, *expect: str) -> Bad:
    return suite(id_, SUITE.format(evalsets="tx") + extra, *expect)


def prompt(id_: str, text: str, *expect: str, argv: tuple[str, ...] = RUN) -> Bad:
    return Bad(id_, {"prompts/cat.yaml": text}, argv=argv, expect=expect)


def template(id_: str, content: str, *expect: str) -> Bad:
    return prompt(id_, PROMPT.format(content=content), *expect)


def settings(id_: str, text: str, *expect: str) -> Bad:
    return Bad(
        id_,
        {"driftgate.yaml": "suite: evalsets/main.suite.yaml\n" + text},
        expect=("driftgate.yaml", *expect),
    )


def route(id_: str, argv: tuple[str, ...], *expect: str, **files: str) -> Bad:
    return Bad(id_, {f"routes/{k}.yaml": v for k, v in files.items()}, argv, expect)


def many_cases(n: int) -> str:
    return "".join(CASE % f"c{i}" for i in range(n))


CORPUS: list[Bad] = [
    # ---- golden sets: JSONL ------------------------------------------------------------
    golden(
        "jsonl-syntax", "bad.jsonl", CASE % "a" + '{"id": "b",\n', "bad.jsonl:2", "invalid JSON"
    ),
    golden("jsonl-not-object", "bad.jsonl", "[1, 2]\n", "bad.jsonl:1", "JSON object"),
    golden("jsonl-string-line", "bad.jsonl", '"just text"\n', "bad.jsonl:1"),
    golden(
        "jsonl-unknown-field", "bad.jsonl", '{"id": "a", "expect": "x"}\n', "bad.jsonl:1 [expect]"
    ),
    golden(
        "jsonl-duplicate-id", "bad.jsonl", CASE % "a" + CASE % "a", "bad.jsonl:2 [id]", "duplicate"
    ),
    golden("jsonl-id-object", "bad.jsonl", '{"id": {"x": 1}}\n', "bad.jsonl:1 [id]"),
    golden("jsonl-id-list", "bad.jsonl", '{"id": [1]}\n', "bad.jsonl:1 [id]"),
    golden("jsonl-id-bool", "bad.jsonl", '{"id": true}\n', "bad.jsonl:1 [id]"),
    golden("jsonl-id-float", "bad.jsonl", '{"id": 1.5}\n', "bad.jsonl:1 [id]"),
    golden("jsonl-id-empty", "bad.jsonl", '{"id": ""}\n', "bad.jsonl:1 [id]"),
    golden("jsonl-vars-list", "bad.jsonl", '{"id": "a", "vars": [1]}\n', "bad.jsonl:1 [vars]"),
    golden("jsonl-tags-string", "bad.jsonl", '{"id": "a", "tags": 3}\n', "bad.jsonl:1 [tags]"),
    golden(
        "jsonl-segment-list", "bad.jsonl", '{"id": "a", "segment": [1]}\n', "bad.jsonl:1 [segment]"
    ),
    golden(
        "jsonl-latin1",
        "bad.jsonl",
        CASE.encode() % b"a" + b'{"id": "caf\xe9"}\n',
        "bad.jsonl:2",
        "not UTF-8",
    ),
    golden("jsonl-elf", "bad.jsonl", ELF, "bad.jsonl:1", "binary file"),
    golden(
        "jsonl-deep",
        "bad.jsonl",
        '{"id": "a", "vars": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}\n",
        "bad.jsonl:1",
        "nested too deeply",
    ),
    golden("jsonl-empty", "bad.jsonl", "\n\n", "bad.jsonl", "no case to run"),
    golden(
        "jsonl-undefined-var",
        "bad.jsonl",
        '{"id": "a", "vars": {"other": 1}}\n',
        "bad.jsonl",
        "'description'",
    ),
    # ---- golden sets: YAML / JSON ----------------------------------------------------------
    golden(
        "yaml-syntax",
        "bad.yaml",
        "- {id: a, vars: {description: x}\n- [\n",
        "bad.yaml:",
        "invalid YAML",
    ),
    golden("yaml-scalar", "bad.yaml", "just text\n", "bad.yaml", "list of cases"),
    golden("yaml-item-scalar", "bad.yaml", "- 3\n", "bad.yaml:1", "mapping"),
    golden(
        "yaml-unknown-field",
        "bad.yaml",
        "- {id: a, vars: {description: x}}\n- {id: b, expectd: x}\n",
        "bad.yaml:2 [expectd]",
    ),
    golden("yaml-id-mapping", "bad.yaml", "- {id: {x: 1}}\n", "bad.yaml:1 [id]"),
    golden("yaml-deep", "bad.yaml", "[" * 100_000 + "]" * 100_000, "bad.yaml"),
    golden(
        "yaml-alias-bomb",
        "bad.yaml",
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{n}: &{n} [" + ", ".join([f"*{p}"] * 9) + "]\n"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + "cases: [{id: '1', vars: {description: *i}}]\n",
        "bad.yaml",
        "alias",
    ),
    golden("yaml-elf", "bad.yaml", ELF, "bad.yaml:1", "binary file"),
    golden("json-syntax", "bad.json", '[{"id": "a"},\n{"id": }]', "bad.json:2", "invalid JSON"),
    golden("json-deep", "bad.json", "[" * 100_000 + "]" * 100_000, "bad.json", "nested too deeply"),
    golden("json-object-not-list", "bad.json", '{"id": "a"}', "bad.json", "list of cases"),
    golden("json-latin1", "bad.json", b'[{"id": "caf\xe9"}]', "bad.json:1", "not UTF-8"),
    # ---- golden sets: CSV ------------------------------------------------------------------
    golden(
        "csv-unclosed-quote",
        "bad.csv",
        'id,description\na,"x\nb,y\n',
        "bad.csv:2",
        "unbalanced quote",
    ),
    golden(
        "csv-merged-rows",
        "bad.csv",
        'id,description,expected\na,"x,groceries\nb,"y",dining,z\n',
        "bad.csv:2",
        "unbalanced quote",
    ),
    golden("csv-text-after-quote", "bad.csv", 'id,description\na,"x"y\n', "bad.csv:2"),
    golden("csv-extra-cells", "bad.csv", "id,description\na,x\nb,y,z\n", "bad.csv:3", "more cells"),
    golden("csv-empty", "bad.csv", "", "bad.csv:1", "no header"),
    golden("csv-latin1", "bad.csv", b"id,description\na,caf\xe9\n", "bad.csv:2", "not UTF-8"),
    golden("csv-elf", "bad.csv", ELF, "bad.csv:1", "binary file"),
    golden("csv-duplicate-id", "bad.csv", "id,description\na,x\na,y\n", "bad.csv:3 [id]"),
    golden("csv-header-only", "bad.csv", "id,description\n", "bad.csv", "no case to run"),
    # ---- golden sets: names and paths ------------------------------------------------------
    suite("evalset-unknown", SUITE.format(evalsets="nope"), "unknown golden set 'nope'"),
    suite(
        "evalset-dotdot",
        SUITE.format(evalsets="'..'"),
        ":2 [evalsets[0]]",
        "invalid golden set name",
    ),
    suite(
        "evalset-path-outside",
        SUITE.format(evalsets="../../x.jsonl"),
        ":2 [evalsets[0]]",
        "outside the workspace",
    ),
    Bad(
        "evalset-missing-file",
        {"evalsets/main.suite.yaml": SUITE.format(evalsets="evalsets/tx.txt")},
        expect=("evalsets/tx.txt", "not found"),
    ),
    Bad(
        "evalset-link-out",
        {"evalsets/main.suite.yaml": SUITE.format(evalsets="leak")},
        links={"evalsets/leak.jsonl": "secret.jsonl"},
        expect=("golden set 'leak'", "leak.jsonl", "secret.jsonl", "outside the workspace"),
    ),
    # ---- suite files -----------------------------------------------------------------------
    suite("suite-syntax", "prompts: [cat@v1\nevalsets: [tx]\n", "invalid YAML"),
    suite("suite-empty", "", "empty"),
    suite("suite-list", "- 1\n", ":1"),
    suite("suite-unknown-field", "promts: [cat@v1]\n" + SUITE.format(evalsets="tx"), "[promts]"),
    suite_with("suite-repeat-high", "repeat: 1000\n", "[repeat]", "100"),
    suite_with("suite-repeat-type", "repeat: many\n", "[repeat]"),
    suite_with("suite-threshold", "max_error_rate: 2\n", "[max_error_rate]"),
    suite_with("suite-concurrency", "max_concurrency: 0\n", "[max_concurrency]"),
    suite_with("suite-metric", "metrics: [acuracy]\n", "[metrics[0]]"),
    suite(
        "suite-no-scorers",
        "prompts: [cat@v1]\nevalsets: [tx]\nscorers: []\n",
        "[scorers]",
    ),
    suite(
        "suite-scorer-unknown",
        "prompts: [cat@v1]\nevalsets: [tx]\nscorers: [{type: label-matc}]\n",
        "label-matc",
    ),
    suite(
        "suite-scorer-no-type", "prompts: [cat@v1]\nevalsets: [tx]\nscorers: [{value: x}]\n", ":3"
    ),
    suite(
        "suite-scorer-regex",
        "prompts: [cat@v1]\nevalsets: [tx]\nscorers: [{type: regex, pattern: '('}]\n",
        ":3",
        "pattern",
    ),
    suite(
        "suite-python-os-system",
        "prompts: [cat@v1]\nevalsets: [tx]\nscorers: [{type: python, function: 'os:system'}]\n",
        ":3",
        "[scorers[0]",
        "os:system",
    ),
    suite(
        "suite-python-exec",
        "prompts: [cat@v1]\nevalsets: [tx]\nscorers: [{type: python, function: 'builtins:exec'}]\n",
        "builtins:exec",
    ),
    suite(
        "suite-python-subprocess",
        "prompts: [cat@v1]\nevalsets: [tx]\nscorers: [{type: python, function: 'subprocess:run'}]\n",
        "subprocess:run",
        "outside the workspace",
    ),
    suite(
        "suite-python-missing",
        "prompts: [cat@v1]\nevalsets: [tx]\nscorers: [{type: python, function: 'nomod_xyz:f'}]\n",
        "nomod_xyz",
    ),
    suite_with(
        "suite-api-base",
        "models: [{id: openai/x, api_base: 'not a url'}]\n",
        "[models[0].api_base]",
    ),
    suite_with(
        "suite-api-base-ftp",
        "models: [{id: openai/x, api_base: 'ftp://h/v1'}]\n",
        "[models[0].api_base]",
    ),
    suite_with(
        "suite-model-concurrency",
        "models: [{id: sim/perfect@v1, concurrency: 0}]\n",
        "[models[0].concurrency]",
    ),
    suite_with("suite-model-unknown-sim", "models: [sim/nope@v1]\n", "sim/nope@v1"),
    suite_with(
        "suite-model-unknown-field", "models: [{id: sim/perfect@v1, temp: 1}]\n", "[models[0].temp]"
    ),
    Bad(
        "suite-prompt-unknown",
        {"evalsets/main.suite.yaml": SUITE.format(evalsets="tx").replace("cat@v1", "dog")},
        expect=("unknown prompt 'dog'",),
    ),
    Bad(
        "suite-prompt-version",
        {"evalsets/main.suite.yaml": SUITE.format(evalsets="tx").replace("cat@v1", "cat@v9")},
        expect=("unknown prompt version 'cat@v9'",),
    ),
    suite("suite-elf", ELF, "binary file"),  # type: ignore[arg-type]
    Bad(
        "suite-missing", argv=(*RUN, "-c", "evalsets/nope.suite.yaml"), expect=("nope.suite.yaml",)
    ),
    # ---- prompts and templates -------------------------------------------------------------
    prompt("prompt-syntax", "name: cat\nmessages: [\n", "cat.yaml", "invalid YAML"),
    prompt(
        "prompt-unknown-field",
        PROMPT.format(content="x") + "temprature: 1\n",
        "cat.yaml:7 [temprature]",
    ),
    prompt("prompt-no-messages", "name: cat\nversion: v1\nmessages: []\n", "cat.yaml:3 [messages]"),
    prompt(
        "prompt-role",
        PROMPT.format(content="x").replace("role: user", "role: robot"),
        "cat.yaml:5 [messages[0].role]",
    ),
    prompt(
        "prompt-temperature",
        PROMPT.format(content="x") + "params: {temperature: 5}\n",
        "[params.temperature]",
    ),
    prompt(
        "prompt-labels-empty",
        PROMPT.format(content="x").replace("[groceries, dining, transport, rent]", "[]"),
        "[output.labels]",
    ),
    prompt(
        "prompt-name-dotdot",
        PROMPT.format(content="x").replace("name: cat", "name: ../cat"),
        "cat.yaml:1 [name]",
    ),
    prompt(
        "prompt-fewshot-path",
        PROMPT.format(content="x") + "fewshot: ../../etc/passwd\n",
        "[fewshot]",
    ),
    prompt(
        "prompt-fewshot-missing",
        PROMPT.format(content="{{ examples }}") + "fewshot: nope\n",
        "few-shot set 'nope'",
    ),
    template("template-syntax", "{{ description ", "cat.yaml", "[messages[0].content", "syntax"),
    template(
        "template-include",
        '{% include "/etc/passwd" %}',
        "cat.yaml",
        "[messages[0].content",
        "not allowed",
    ),
    template("template-extends", '{% extends "base.j2" %}', "cat.yaml", "not allowed"),
    template("template-import", '{% import "m.j2" as m %}x', "cat.yaml", "not allowed"),
    template("template-undefined", "{{ nosuchvar }}", "tx.jsonl", "'nosuchvar'"),
    template("template-range", "{{ range(100000000)|list }}", "tx.jsonl", "Range too big"),
    template("template-repeat", '{{ "x" * 10000000000 }}', "tx.jsonl", "repeating a str"),
    template("template-power", "{{ 10 ** 100000000 }}", "tx.jsonl", "power"),
    template("template-class", '{{ "".__class__.__mro__ }}', "tx.jsonl", "c000"),
    Bad(
        "prompt-link-out",
        links={"prompts/evil.yaml": "evil.yaml"},
        expect=("evil.yaml", "outside the workspace"),
    ),
    # ---- command-line values ---------------------------------------------------------------
    Bad("cli-repeat-huge", argv=(*RUN, "--repeat", "1000000000"), expect=("--repeat", "100")),
    Bad("cli-repeat-zero", argv=(*RUN, "--repeat", "0"), expect=("--repeat",)),
    Bad("cli-repeat-text", argv=(*RUN, "--repeat", "x"), expect=("--repeat",)),
    Bad(
        "cli-concurrency", argv=(*RUN, "--max-concurrency", "100000"), expect=("--max-concurrency",)
    ),
    Bad("cli-limit-zero", argv=(*RUN, "--limit", "0"), expect=("--limit",)),
    Bad("cli-sample-zero", argv=(*RUN, "--sample", "0"), expect=("--sample",)),
    Bad("cli-error-rate", argv=(*RUN, "--max-error-rate", "2"), expect=("--max-error-rate",)),
    Bad("cli-filter-field", argv=(*RUN, "--filter", "bogus:x"), expect=("bogus:x",)),
    Bad("cli-filter-nothing", argv=(*RUN, "--filter", "id:zzz*"), expect=("tx.jsonl", "--filter")),
    Bad("cli-prompt-unknown", argv=(*RUN, "-p", "nope"), expect=("unknown prompt 'nope'",)),
    Bad("cli-model-unknown", argv=(*RUN, "-m", "sim/"), expect=("[--model]",)),
    Bad("cli-resume-unknown", argv=(*RUN, "--resume", "nosuch"), expect=("'nosuch'",)),
    Bad(
        "cli-plan-too-big",
        {"evalsets/tx.jsonl": many_cases(10_001)},
        argv=(*RUN, "--repeat", "100"),
        expect=("1,000,100 calls", "--force"),
    ),
    # ---- routes ----------------------------------------------------------------------------
    route("route-path-name", ("route", "status", "../../outside/r"), "invalid route name"),
    route("route-dotdot", ("route", "status", ".."), "invalid route name '..'"),
    route("route-unknown", ("route", "status", "nope"), "unknown route 'nope'"),
    route(
        "route-name-dotdot",
        ("route", "status", "dots"),
        "dots.yaml:1 [name]",
        dots="name: '..'\n" + ARMS,
    ),
    route(
        "route-weights", ("route", "status", "w"), "w.yaml", "[arms", w=ARMS.replace("100", "90")
    ),
    route("route-syntax", ("route", "status", "s"), "s.yaml", "invalid YAML", s="arms: [\n"),
    Bad(
        "route-link-out",
        links={"routes/r.yaml": "r.yaml"},
        argv=("route", "status", "r"),
        expect=("route 'r'", "outside the workspace"),
    ),
    # ---- workspace settings ----------------------------------------------------------------
    settings(
        "settings-runs-outside", "runs_dir: ../elsewhere\n", "[runs_dir]", "dirs_outside_workspace"
    ),
    settings("settings-cache-outside", "cache_dir: /tmp/dg-cache\n", "[cache_dir]"),
    settings("settings-state-outside", "state_dir: ../../state\n", "[state_dir]"),
    settings("settings-unknown", "run_dir: out\n", "driftgate.yaml:2 [run_dir]"),
    settings("settings-syntax", "runs_dir: [\n", "invalid YAML"),
    settings("settings-stored-chars", "max_stored_chars: 5\n", "[max_stored_chars]"),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_workspace(tmp_path_factory.mktemp("bad") / "ws", n_cases=4)
    (root / "routes").mkdir()
    (root / "runs").mkdir()
    return root


def snapshot_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file of the runs and state folders, with its size and mtime."""
    out = {}
    for folder in (root / "runs", root / ".driftgate"):
        for p in folder.rglob("*") if folder.is_dir() else ():
            if p.is_file():
                st = p.stat()
                out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def prepare_workspace(case: Bad, base: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(base, root, symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    for rel, data in case.files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            target.write_text(data)
    for rel, name in case.links.items():
        # the linked file is a valid one, so only its place outside is wrong
        source = root / ("prompts/cat.yaml" if rel.startswith("prompts/") else "evalsets/tx.jsonl")
        if rel.startswith("routes/"):
            (outside / name).write_text(ARMS)
        else:
            shutil.copy(source, outside / name)
        (root / rel).symlink_to(outside / name)
    return root


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_bad_input_exits_2_naming_where(
    case: Bad, base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    root = prepare_workspace(case, base, tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.delenv("DRIFTGATE_WORKSPACE", raising=False)
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    before = snapshot_state(root)
    code, out, err = run_main(capsys, monkeypatch, *case.argv)
    assert code == 2, f"exit {code}\n{out}\n{err}"
    assert "Traceback" not in err + out
    for words in case.expect:
        assert words in err, f"{words!r} not in:\n{err}"
    assert snapshot_state(root) == before, "the command wrote to runs/ or .driftgate/"


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(CORPUS) >= 70
    assert len({c.id for c in CORPUS}) == len(CORPUS)


def test_the_base_workspace_itself_runs(base: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """The corpus's failures are the changes' doing: unchanged, the workspace passes."""
    root = prepare_workspace(Bad("ok"), base, tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.delenv("DRIFTGATE_WORKSPACE", raising=False)
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    code, _, err = run_main(capsys, monkeypatch, *RUN)
    assert code == 0, err
    assert any((root / "runs").iterdir())
