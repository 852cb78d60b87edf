"""The replay provider: recorded outputs scored, compared and gated like any run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import driftgate
from driftgate.compare import compare_suite
from driftgate.errors import ConfigError
from driftgate.providers import create_provider
from driftgate.providers.base import CaseHint, CompletionRequest, ModelConfig, ProviderError
from driftgate.providers.replay import ReplayProvider, parse_model_id, use_workspace
from driftgate.workspace import Workspace

LABELS = ["groceries", "dining", "transport", "rent"]


def make_ws(root: Path, n: int = 12) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "evalsets").mkdir()
    (root / "outputs").mkdir()
    (root / "driftgate.yaml").write_text("suite: evalsets/main.suite.yaml\n")
    (root / "prompts" / "cat.yaml").write_text(
        "name: cat\nversion: v1\nmodel: replay/outputs/rec.jsonl\n"
        "messages:\n  - {role: user, content: '{{ description }}'}\n"
        f"output: {{type: label, labels: [{', '.join(LABELS)}]}}\n"
    )
    with (root / "evalsets" / "tx.jsonl").open("w") as fh:
        for i in range(n):
            fh.write(
                json.dumps(
                    {
                        "id": f"c{i}",
                        "vars": {"description": f"shop {i}"},
                        "expected": LABELS[i % 4],
                        "segment": "even" if i % 2 == 0 else "odd",
                    }
                )
                + "\n"
            )
    (root / "evalsets" / "main.suite.yaml").write_text(
        "prompts: [cat@v1]\nevalsets: [tx]\nscorers:\n  - {type: label-match, metric: category}\n"
        "pass_threshold: 0.5\nmax_error_rate: 0.5\n"
    )
    rows = []
    for i in range(n):
        rows.append(
            {
                "case_id": f"c{i}",
                "model": "good",
                "output": LABELS[i % 4],
                "latency_ms": 100 + i,
                "cost_usd": 0.001,
                "input_tokens": 20,
                "output_tokens": 1,
            }
        )
        if i != 5:  # `bad` has no answer for c5, and gets the odd cases wrong
            rows.append(
                {
                    "case_id": f"c{i}",
                    "model": "bad",
                    "latency_ms": 50,
                    "output": LABELS[i % 4] if i % 2 == 0 else "rent" if i % 4 != 3 else "dining",
                }
            )
    (root / "outputs" / "rec.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_ws(tmp_path / "ws")
    # The engine creates providers without a workspace: replay finds it like the CLI does.
    monkeypatch.setenv("DRIFTGATE_WORKSPACE", str(root))
    return root


def test_replayed_outputs_are_scored_like_any_run(ws: Path):
    run = driftgate.run(workspace=ws, models=["replay/outputs/rec.jsonl?model=good"], no_cache=True)
    assert run.manifest.status == "finished" and run.passed
    assert len(run.results) == 12 and all(r.passed for r in run.results)
    r = next(r for r in run.results if r.case_id == "c3")
    assert (r.output, r.parsed, r.latency_ms, r.cost_usd, r.input_tokens) == (
        "rent",
        "rent",
        103.0,
        0.001,
        20,
    )
    assert r.fingerprint.startswith("replay-") and r.scores[0].metric == "category"


def test_missing_case_is_an_error_not_a_pass(ws: Path):
    run = driftgate.run(
        workspace=ws,
        models=[ModelConfig(id="replay/outputs/rec.jsonl", label="bad")],
        no_cache=True,
    )
    by_id = {r.case_id: r for r in run.results}
    miss = by_id["c5"]
    assert not miss.passed and miss.error_kind == "bad_request" and miss.attempts == 1
    assert "no recorded output for case 'c5' for model 'bad', repeat 0" in miss.error
    assert by_id["c1"].output == "rent" and not by_id["c1"].passed and by_id["c0"].passed
    assert run.manifest.summary.errors == 1


def test_compare_two_recorded_models(ws: Path):
    _, cmp = compare_suite(
        workspace=ws,
        no_cache=True,
        models=["replay/outputs/rec.jsonl?model=good", "replay/outputs/rec.jsonl?model=bad"],
    )
    assert cmp.n_common == 12 and cmp.losses == 6 and cmp.wins == 0
    assert {f.case_id for f in cmp.regressed} == {"c1", "c3", "c5", "c7", "c9", "c11"}
    assert next(f for f in cmp.regressed if f.case_id == "c5").error_b.startswith("bad_request")
    lat = cmp.usage_of("latency_ms")
    assert lat.median_a == pytest.approx(105.5) and lat.median_b == 50.0


def test_csv_file_and_model_choice(ws: Path):
    (ws / "outputs" / "one.csv").write_text(
        "case_id,output,repeat,latency_ms,cost_usd\nc0,groceries,0,12.5,\nc0,dining,1,,\n"
    )
    p = ReplayProvider(ModelConfig(id="replay/outputs/one.csv"))
    assert p.model is None
    req = CompletionRequest(model="x", messages=[], case=CaseHint(id="c0", repeat=1))
    out = asyncio.run(p.complete(req))
    # Not recorded: missing (None), not 0 ms (#18).
    assert out.text == "dining" and out.latency_ms is None and out.cost_usd is None
    with pytest.raises(ProviderError, match="no recorded output for case 'c0', repeat 2") as exc:
        asyncio.run(
            p.complete(CompletionRequest(model="x", messages=[], case=CaseHint(id="c0", repeat=2)))
        )
    assert exc.value.kind == "bad_request" and not exc.value.retryable
    # Several models recorded: the choice is explicit (query, params or label).
    with pytest.raises(ConfigError, match="records several models .'good', 'bad'.; choose one"):
        create_provider(ModelConfig(id="replay/outputs/rec.jsonl"))
    assert (
        create_provider(ModelConfig(id="replay/outputs/rec.jsonl", params={"model": "bad"})).model
        == "bad"
    )
    with pytest.raises(ConfigError, match="model 'gpt' is not recorded"):
        create_provider(ModelConfig(id="replay/outputs/rec.jsonl?model=gpt"))


def test_bad_files_name_file_line_and_field(ws: Path, tmp_path: Path):
    def provider(name: str, text: str) -> ReplayProvider:
        (ws / "outputs" / name).write_text(text)
        return ReplayProvider(ModelConfig(id=f"replay/outputs/{name}"))

    with pytest.raises(ConfigError, match=r"b1.jsonl:2 \[output\]: Field required"):
        provider("b1.jsonl", '{"case_id": "c0", "output": "x"}\n{"case_id": "c1"}\n')
    with pytest.raises(ConfigError, match=r"b2.jsonl:1 \[ouput\]: unknown field"):
        provider("b2.jsonl", '{"case_id": "c0", "ouput": "x"}\n')
    with pytest.raises(
        ConfigError, match=r"b3.csv:3 \[case_id\]: case 'c0' .* recorded twice; first on line 2"
    ):
        provider("b3.csv", "case_id,output\nc0,a\nc0,b\n")
    with pytest.raises(ConfigError, match=r"b4.jsonl:1: invalid JSON"):
        provider("b4.jsonl", "{nope\n")
    with pytest.raises(ConfigError, match="outside the workspace"):
        ReplayProvider(ModelConfig(id="replay/../elsewhere.jsonl"))
    with pytest.raises(ConfigError, match="replay file not found"):
        ReplayProvider(ModelConfig(id="replay/outputs/none.jsonl"))
    with pytest.raises(ConfigError, match="unknown option 'modle'"):
        parse_model_id("replay/x.jsonl?modle=a")
    # An explicit workspace wins over the environment.
    other = make_ws(tmp_path / "other")
    (other / "outputs" / "rec.jsonl").write_text('{"case_id": "z", "output": "o"}\n')
    with use_workspace(Workspace(other)):
        assert ReplayProvider(ModelConfig(id="replay/outputs/rec.jsonl")).index.models == [None]


# ---- published files as they are (#18): `id`, a model column, per-model fingerprints ------


def _published(ws: Path) -> None:
    rows = [
        {"id": f"c{i}", "llm": llm, "output": LABELS[i % 4] if llm == "A" else "rent"}
        for i in range(12)
        for llm in ("A", "B")
    ]
    (ws / "outputs" / "pub.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_id_and_a_model_column_load_as_they_are(ws: Path):
    _published(ws)
    a = ReplayProvider(ModelConfig(id="replay/outputs/pub.jsonl?model_column=llm&model=A"))
    b = ReplayProvider(
        ModelConfig(id="replay/outputs/pub.jsonl", params={"model_column": "llm", "model": "B"})
    )
    assert a.index.models == ["A", "B"] and (a.model, b.model) == ("A", "B")
    req = CompletionRequest(model="x", messages=[], case=CaseHint(id="c1", repeat=0))
    out_a, out_b = asyncio.run(a.complete(req)), asyncio.run(b.complete(req))
    assert (out_a.text, out_b.text) == ("dining", "rent")
    # Each recorded model is its own model version to drift checks.
    assert out_a.fingerprint != out_b.fingerprint
    assert out_a.fingerprint.startswith("replay-") and out_a.latency_ms is None
    with pytest.raises(ConfigError, match="no model column 'model_name'"):
        ReplayProvider(ModelConfig(id="replay/outputs/pub.jsonl?model_column=model_name"))


def test_a_models_fingerprint_changes_only_with_its_own_rows(ws: Path):
    _published(ws)
    before = ReplayProvider(ModelConfig(id="replay/outputs/pub.jsonl?model_column=llm&model=A"))
    path = ws / "outputs" / "pub.jsonl"
    path.write_text(
        path.read_text().replace('"llm": "B", "output": "rent"}', '"llm": "B", "output": "x"}', 1)
    )
    after_a = ReplayProvider(ModelConfig(id="replay/outputs/pub.jsonl?model_column=llm&model=A"))
    after_b = ReplayProvider(ModelConfig(id="replay/outputs/pub.jsonl?model_column=llm&model=B"))
    assert after_a.index.fingerprints["A"] == before.index.fingerprints["A"]
    assert after_b.index.fingerprints["B"] != before.index.fingerprints["B"]


def test_both_id_and_case_id_is_an_error(ws: Path):
    (ws / "outputs" / "both.jsonl").write_text('{"id": "c0", "case_id": "c0", "output": "x"}\n')
    with pytest.raises(ConfigError, match="both `id` and `case_id`") as err:
        ReplayProvider(ModelConfig(id="replay/outputs/both.jsonl"))
    assert "both.jsonl:1" in str(err.value)


def test_run_model_column_option_and_missing_latency(
    ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    from conftest import run_main

    _published(ws)
    code, out, err = run_main(
        capsys, monkeypatch, "run", "--workspace", str(ws), "--no-cache", "--json",
        "--model", "replay/outputs/pub.jsonl?model=A", "--model-column", "llm",
    )  # fmt: skip
    assert code == 0, err
    from driftgate.store.runs import RunStore

    store = RunStore(ws / "runs")
    results = list(store.results(store.resolve_id("latest")))
    assert len(results) == 12 and all(r.passed for r in results)
    assert all(r.latency_ms is None and r.cost_usd is None for r in results)
    code, _, err = run_main(
        capsys, monkeypatch, "run", "--workspace", str(ws), "--model-column", "llm"
    )
    assert code == 2 and "--model-column" in err
