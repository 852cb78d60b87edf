"""promptfoo configs in promptfoo's documented format, run through the CLI on the simulator
(`--model sim/acme@v1`), and imported as driftgate files that run to the same results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_main

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    root = tmp_path / "ws"
    root.mkdir()
    (root / "driftgate.yaml").write_text("{}\n")
    shutil.copytree(FIXTURES, root / "pf")
    monkeypatch.chdir(root)
    return root


def results(root: Path) -> list[dict]:
    rows = []
    for run in sorted((root / "runs").iterdir()):
        for seg in (run / "results").glob("*.jsonl"):
            rows += [json.loads(line) for line in seg.read_text().splitlines()]
    return rows


def items(row: dict) -> dict[str, bool]:
    (score,) = row["scores"]
    return {f"{i}:{a['metric']}": a["passed"] for i, a in enumerate(score["data"]["asserts"])}


def test_run_c_runs_a_promptfoo_config(ws, capsys, monkeypatch):
    code, out, err = run_main(
        capsys, monkeypatch, "run", "-c", "pf/promptfooconfig.yaml", "--model", "sim/acme@v1"
    )
    assert code == 1, err  # some assertions fail on the simulator's answers, as written
    rows = results(ws)
    # 3 prompts from text (one inline, two in a `---` file) + 1 chat prompt; 4 tests
    assert sorted({r["prompt"] for r in rows}) == ["chat", "prompt1", "prompts", "prompts-2"]
    assert len(rows) == 16 and {r["model"] for r in rows} == {"sim/acme@v1"}
    by = {(r["prompt"], r["case_id"]): r for r in rows}
    # the chat prompt's messages, rendered; the `---` file's second prompt uses defaultTest vars
    assert by[("chat", "1")]["messages"] == [
        {"role": "system", "content": "You translate."},
        {"role": "user", "content": "Hello"},
    ]
    assert by[("prompts-2", "1")]["messages"][0]["content"] == (
        "Say Hello politely, in a friendly way."
    )
    first = items(by[("prompt1", "1")])
    assert first == {
        "0:not-icontains": True,  # defaultTest
        "1:icontains": False,  # "{{ text }}" rendered: Hello is not in "simulated answer …"
        "2:javascript": True,
        "3:python-assert": True,  # inline expression
        "4:python-assert": True,  # inline function body
        "5:python-assert": True,  # file://checks.py get_assert, reading context['vars']
        "6:assert-set": True,  # 1 of 2 passes, threshold 0.5
        "7:levenshtein": True,
        "8:rouge-n": True,
        "9:bleu": True,
        "10:not-json-valid": True,
        "11:not-is-xml": True,
        "12:not-is-sql": True,
        "13:not-is-refusal": True,
        "14:latency": True,
        "15:greeting": False,  # contains-any "Hello,Bonjour", named by `metric`
    }
    assert by[("prompt1", "1")]["passed"] is False
    # CSV: __expected / __expected2 in promptfoo's syntax, and a javascript cell
    assert items(by[("prompt1", "2")]) == {
        "0:not-icontains": True,
        "1:icontains": False,
        "2:not-contains": True,
    }
    assert items(by[("prompt1", "3")]) == {"0:not-icontains": True, "1:javascript": True}
    assert by[("prompt1", "3")]["passed"] is True
    # YAML tests file
    assert items(by[("prompt1", "4")]) == {
        "0:not-icontains": True,
        "1:icontains-all": False,
        "2:not-starts-with": True,
    }


def test_import_then_run_gives_the_same_results(ws, capsys, monkeypatch):
    code, out, err = run_main(capsys, monkeypatch, "import", "promptfoo", "pf/promptfooconfig.yaml")
    assert code == 0, err
    assert "4 prompt(s), 4 case(s), 1 model(s)" in out
    suite = ws / "pf.suite.yaml"
    assert suite.exists() and (ws / "evalsets" / "pf.jsonl").exists()
    assert sorted(p.name for p in (ws / "prompts").iterdir()) == [
        "chat.yaml",
        "prompt1.yaml",
        "prompts-2.yaml",
        "prompts.yaml",
    ]
    # a second import refuses to overwrite what changed
    (ws / "prompts" / "chat.yaml").write_text("edited\n")
    code, _, err = run_main(capsys, monkeypatch, "import", "promptfoo", "pf/promptfooconfig.yaml")
    assert code == 2 and "--force" in err
    code, _, err = run_main(
        capsys, monkeypatch, "import", "promptfoo", "pf/promptfooconfig.yaml", "--force"
    )
    assert code == 0, err

    run_main(capsys, monkeypatch, "run", "-c", "pf.suite.yaml", "--model", "sim/acme@v1")
    imported = results(ws)
    shutil.rmtree(ws / "runs")
    run_main(capsys, monkeypatch, "run", "-c", "pf/promptfooconfig.yaml", "--model", "sim/acme@v1")
    direct = results(ws)

    def key(r):
        return (r["prompt"], r["case_id"], r["output"], r["passed"], json.dumps(r["scores"]))

    assert sorted(map(key, imported)) == sorted(map(key, direct))
    assert len(direct) == 16


def test_providers_translate_to_litellm_ids(ws):
    from driftgate.compat.promptfoo import translate
    from driftgate.workspace import Workspace

    (ws / "promptfooconfig.yaml").write_text(
        "prompts: ['Hi {{ name }}']\n"
        "providers:\n"
        "  - openai:gpt-4.1\n"
        "  - openai:chat:gpt-4o-mini\n"
        "  - id: anthropic:messages:claude-sonnet-4-5\n"
        "    label: claude\n"
        "    config: {temperature: 0.2, max_tokens: 100, apiKeyEnvar: MY_KEY}\n"
        "  - ollama:chat:llama3\n"
        "  - ollama:llama3\n"
        "  - sim/acme@v1\n"
        "  - local/smollm2-135m\n"
        "  - {'openai:gpt-4o': {config: {top_p: 0.5, apiBaseUrl: 'http://localhost:8000/v1'}}}\n"
        "tests: [{vars: {name: Ann}}]\n"
    )
    tr = translate(ws / "promptfooconfig.yaml", Workspace.find())
    assert tr.models == [
        {"id": "openai/gpt-4.1"},
        {"id": "openai/gpt-4o-mini"},
        {
            "id": "anthropic/claude-sonnet-4-5",
            "label": "claude",
            "api_key_env": "MY_KEY",
            "params": {"temperature": 0.2, "max_tokens": 100},
        },
        {"id": "ollama_chat/llama3"},
        {"id": "ollama/llama3"},
        {"id": "sim/acme@v1"},
        {"id": "local/smollm2-135m"},
        {"id": "openai/gpt-4o", "api_base": "http://localhost:8000/v1", "params": {"top_p": 0.5}},
    ]
    assert tr.name == "ws" and tr.cases == [{"id": "1", "vars": {"name": "Ann"}, "metadata": {}}]


def test_model_graded_and_similarity_translate_to_judge_and_embedding_scorers(ws):
    from driftgate.compat.promptfoo import translate
    from driftgate.workspace import Workspace

    (ws / "promptfooconfig.yaml").write_text(
        "prompts: ['Answer: {{ q }}']\n"
        "defaultTest:\n"
        "  options: {provider: openai:gpt-4o-mini}\n"
        "tests:\n"
        "  - vars: {q: 'capital of France?', language: [French, German]}\n"
        "    threshold: 0.5\n"
        "    options: {transform: output.toLowerCase()}\n"
        "    assert:\n"
        "      - {type: llm-rubric, value: 'Names {{ q }} correctly', threshold: 0.7}\n"
        "      - {type: model-graded-closedqa, value: 'mentions Paris'}\n"
        "      - {type: factuality, value: 'Paris is the capital', provider: sim/judge@v1}\n"
        "      - {type: answer-relevance}\n"
        "      - {type: similar, value: Paris, threshold: 0.8}\n"
        "      - {type: not-similar, value: London}\n"
        "      - {type: is-json, value: {type: object, required: [city]}, transform: JSON.parse(output)}\n"
        "      - {type: contains-json}\n"
        "      - {type: cost, threshold: 0.01}\n"
        "      - {type: finish-reason, value: stop}\n"
        "      - {type: is-xml, value: {requiredElements: [a.b]}}\n"
    )
    tr = translate(ws / "promptfooconfig.yaml", Workspace.find())
    assert len(tr.cases) == 2  # one test per value of the list var
    assert [c["vars"]["language"] for c in tr.cases] == ["French", "German"]
    meta = tr.cases[0]["metadata"]
    assert meta["threshold"] == 0.5 and meta["transform"] == "output.toLowerCase()"
    got = meta["assert"]
    assert got[0] == {
        "type": "llm-judge",
        "rubric": "Names {{ q }} correctly",
        "model": "openai/gpt-4o-mini",
        "pass_score": 0.7,
    }
    assert got[1]["rubric"].endswith("mentions Paris") and got[1]["model"] == "openai/gpt-4o-mini"
    assert got[2]["model"] == "sim/judge@v1" and "Paris is the capital" in got[2]["rubric"]
    assert got[3]["type"] == "llm-judge" and "relevant" in got[3]["rubric"]
    assert got[4] == {"type": "semantic-similarity", "threshold": 0.8, "value": "Paris"}
    assert got[5] == {"type": "not-semantic-similarity", "threshold": 0.75, "value": "London"}
    assert got[6] == {
        "type": "json-valid",
        "strict": True,
        "schema": {"type": "object", "required": ["city"]},
        "transform": "JSON.parse(output)",
    }
    assert got[7] == {"type": "json-valid", "strict": False}
    assert got[8] == {"type": "cost", "max_usd": 0.01}
    assert got[9] == {"type": "finish-reason", "value": "stop"}
    assert got[10] == {"type": "is-xml", "required_elements": ["a.b"]}
    assert tr.scorer["sync"] is False  # judges await a model: not scored inline


def test_transforms_and_thresholds_run(ws, capsys, monkeypatch):
    (ws / "promptfooconfig.yaml").write_text(
        "prompts: ['{{ q }}']\n"
        "tests:\n"
        "  - vars: {q: one}\n"
        "    options: {transform: output.toUpperCase()}\n"
        "    assert:\n"
        "      - {type: starts-with, value: SIMULATED}\n"
        "      - {type: equals, value: '25', transform: 'String(output.length)'}\n"
        "  - vars: {q: two}\n"
        "    threshold: 0.5\n"
        "    assert:\n"
        "      - {type: icontains, value: simulated, weight: 3}\n"
        "      - {type: icontains, value: nowhere}\n"
        "  - vars: {q: three}\n"
        "    assert:\n"
        "      - {type: python, value: file://pf/checks.py}\n"
        "      - {type: javascript, value: 'output.includes(context.vars.q) ? 1 : 0.25', threshold: 0.2}\n"
    )
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "--model", "sim/acme@v1"
    )
    assert code == 0, err
    rows = {r["case_id"]: r for r in results(ws)}
    assert all(r["passed"] for r in rows.values())
    assert rows["2"]["scores"][0]["value"] == pytest.approx(0.75)  # weighted mean ≥ threshold
    assert rows["3"]["scores"][0]["data"]["asserts"][1]["value"] == pytest.approx(0.25)


def test_nunjucks_load_and_dump_filters(ws, capsys, monkeypatch):
    (ws / "promptfooconfig.yaml").write_text(
        "prompts:\n"
        "  - '{% for m in turns | load %}{{ m.who }}: {{ m.text }}\n{% endfor %}{{ meta | dump }}'\n"
        "tests:\n"
        "  - vars:\n"
        '      turns: \'[{"who": "ann", "text": "hi"}, {"who": "bob", "text": "yo"}]\'\n'
        "      meta: {k: 1}\n"
    )
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "--model", "sim/acme@v1"
    )
    assert code == 0, err
    (row,) = results(ws)
    # (YAML folds the quoted line breaks into spaces)
    assert row["messages"][0]["content"] == 'ann: hi bob: yo {"k": 1}'
