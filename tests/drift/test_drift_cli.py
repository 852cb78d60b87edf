"""`driftgate drift …` through typer's CliRunner: output, JSON and exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from drift_helpers import (
    set_provider,
    sim_workspace,
    sklearn_loaded,  # noqa: F401 - a fixture (imports scikit-learn in setup)
)
from typer.testing import CliRunner

import driftgate.cli.drift  # noqa: F401 - registers the `drift` sub-app (until cli/__init__ imports it)
from driftgate.cli import app, main

pytestmark = pytest.mark.usefixtures("sklearn_loaded")


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    set_provider("v1")
    return sim_workspace(tmp_path / "ws", n_cases=80)


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, ["drift", *args], catch_exceptions=False)


def test_help_documents_exit_codes() -> None:
    for cmd in ([], ["check"], ["history"], ["traffic"]):
        out = CliRunner().invoke(app, ["drift", *cmd, "--help"]).output
        assert "0 no drift" in out and "1 drift alert" in out and "2 bad input" in out, cmd


def test_check_then_drift_then_history(ws: Path, tmp_path: Path) -> None:
    first = invoke("check", "-w", str(ws), "--vectorizer", "tfidf")
    assert first.exit_code == 0 and "baseline recorded" in first.output

    quiet = invoke("check", "-w", str(ws), "--vectorizer", "tfidf")
    assert quiet.exit_code == 0 and "no drift (exit 0)" in quiet.output
    assert "score_change" in quiet.output and "thresholds: defaults" in quiet.output

    set_provider("v4-jsonbreak", format_error_rate=0.3)
    alert = invoke("check", "-w", str(ws), "--vectorizer", "tfidf", "--json")
    assert alert.exit_code == 1
    data = json.loads(alert.output)
    (arm,) = data["arms"]
    fired = {s["name"] for s in arm["signals"] if s["verdict"] == "drift"}
    assert {"format_validity", "fingerprint_change"} <= fired and data["alert"] is True

    html = tmp_path / "drift.html"
    hist = invoke("history", "-w", str(ws), "--html", str(html))
    assert hist.exit_code == 1  # the latest check alerted
    assert "format_validity" in hist.output and "!" in hist.output
    page = html.read_text()
    assert page.count("<svg") >= 10 and "<script" not in page

    js = invoke("history", "-w", str(ws), "--json")
    series = json.loads(js.output)["series"]["cat · sim/drifttest@prod"]["format_validity"]
    assert [p["verdict"] for p in series] == ["ok", "drift"]


def test_tune_needs_history_and_bad_input_exits_2(
    ws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke("check", "-w", str(ws), "--vectorizer", "tfidf")
    monkeypatch.setattr(sys, "argv", ["driftgate", "drift", "tune", "-w", str(ws)])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert "0 past checks; tuning needs at least 20" in capsys.readouterr().err


def test_tune_saves_thresholds_that_checks_then_use(ws: Path) -> None:
    invoke("check", "-w", str(ws), "--vectorizer", "tfidf")
    for seed in range(5):
        set_provider("v1", seed=100 + seed)
        invoke("check", "-w", str(ws), "--vectorizer", "tfidf")
    dry = invoke("tune", "-w", str(ws), "--min-history", "5", "--dry-run")
    assert "not saved" in dry.output and dry.exit_code in (0, 1)
    res = invoke("tune", "-w", str(ws), "--min-history", "5", "--json")
    report = json.loads(res.output)
    assert report["history"] == 5 and "answer_mismatch" in report["thresholds"]
    assert res.exit_code == (0 if report["met"] else 1)
    out = invoke("check", "-w", str(ws), "--vectorizer", "tfidf", "--json")
    signals = json.loads(out.output)["arms"][0]["signals"]
    mm = next(s for s in signals if s["name"] == "answer_mismatch")
    assert (
        mm["threshold_source"] == "tuned"
        and mm["threshold"] == report["thresholds"]["answer_mismatch"]["threshold"]
    )


def test_traffic_command(ws: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs.jsonl"
    rows = [{"description": f"MERCHANT {i % 80} REF{i % 80 * 7919 % 10007}"} for i in range(60)]
    rows += [{"description": f"CNP 0{i % 9 + 1}/03 ONLINE-SHOP*{i} GBR"} for i in range(60)]
    logs.write_text("\n".join(map(json.dumps, rows)) + "\n")
    res = invoke(
        "traffic",
        "-w",
        str(ws),
        "--inputs",
        str(logs),
        "--window",
        "60",
        "--vectorizer",
        "tfidf",
        "--no-unreviewed",
    )
    assert res.exit_code == 1 and "input_shift_window" in res.output and "DRIFT ALERT" in res.output


def test_traffic_from_a_route_log(ws: Path) -> None:
    """The router's own log is a traffic source: its requests, with their feedback."""
    import asyncio

    from driftgate.router import Router

    (ws / "routes").mkdir()
    (ws / "routes" / "r.yaml").write_text(
        "arms:\n  - {name: main, prompt: cat, model: sim/perfect@v1, weight: 100}\n"
    )
    router = Router("r", workspace=ws)

    async def serve() -> None:
        for i in range(120):
            text = (
                f"MERCHANT {i % 80} REF{i % 80 * 7919 % 10007}"
                if i < 60
                else f"CNP 0{i % 9 + 1}/03 ONLINE-SHOP*{i} GBR"
            )
            d = await router.complete({"description": text})
            router.feedback(d.id, "accept" if i < 60 else "edit", correction="rent")
        await router.aclose()

    asyncio.run(serve())
    args = ["-w", str(ws), "--window", "60", "--vectorizer", "tfidf", "--no-unreviewed"]
    res = invoke("traffic", "--route", "r", *args)
    assert res.exit_code == 1 and "input_shift_window" in res.output and "edit_rate" in res.output
    # The source is named once, without a placeholder: not "((records))".
    assert res.output.splitlines()[0] == (
        "prompt drift on 60 logged inputs (route r), field 'description'; "
        "reference: the 60 records before the last 60"
    )
    both = CliRunner().invoke(
        app, ["drift", "traffic", "--route", "r", "--inputs", "x.jsonl", *args]
    )
    assert "--inputs FILE or --route NAME" in str(both.exception)  # main() exits 2 on it


def test_traffic_unreviewed_prompt_is_a_notice_unless_the_policy_alerts(
    ws: Path, tmp_path: Path
) -> None:
    """A prompt no run evaluated is printed; it exits 1 only with `unreviewed: alert`."""
    logs = tmp_path / "same.jsonl"
    rows = [{"description": f"MERCHANT {i % 80} REF{i % 80 * 7919 % 10007}"} for i in range(120)]
    logs.write_text("\n".join(map(json.dumps, rows)) + "\n")
    args = ["-w", str(ws), "--inputs", str(logs), "--window", "60", "--vectorizer", "tfidf"]
    res = invoke("traffic", *args)  # no run yet: the suite's prompt is unreviewed
    assert res.exit_code == 0, res.output
    assert "notice: prompt cat (prompts/cat.yaml) digest" in res.output
    assert "UNREVIEWED" not in res.output and "no drift (exit 0)" in res.output
    (ws / "evalsets" / "main.drift.yaml").write_text("traffic: {unreviewed: alert}\n")
    res = invoke("traffic", *args)
    assert res.exit_code == 1, res.output
    assert "UNREVIEWED: prompt cat (prompts/cat.yaml) digest" in res.output
    assert "DRIFT ALERT (exit 1)" in res.output


def test_history_names_its_suite_and_points_at_suites_with_checks(ws: Path) -> None:
    # Two checks on the model override: a history of that configuration.
    for _ in range(2):
        invoke("check", "-w", str(ws), "--vectorizer", "tfidf", "--models", "sim/drifttest@prod")
    hist = invoke("history", "-w", str(ws))
    assert hist.exit_code == 0
    assert "drift history of evalsets/main.suite.yaml" in hist.output
    assert "no checks yet" in hist.output
    assert (
        "checks of other suites: -c evalsets/main.suite.yaml --models sim/drifttest@prod (1 check)"
        in hist.output
    )
    other = invoke("history", "-w", str(ws), "--models", "sim/drifttest@prod")
    assert "on sim/drifttest@prod" in other.output and "checks of other" not in other.output


def _recorded(ws: Path) -> None:
    """Two recorded models of one file: A right everywhere, B wrong on half the new format."""
    lines = (ws / "evalsets" / "tx.jsonl").read_text().splitlines()
    rows = []
    for i, c in enumerate(json.loads(line) for line in lines):
        rows.append({"id": c["id"], "llm": "A", "output": c["expected"]})
        wrong = c["segment"] == "cohort=new-bank-format" and i % 2 == 0
        rows.append({"id": c["id"], "llm": "B", "output": "rent" if wrong else c["expected"]})
    (ws / "rec.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_baseline_model_and_baseline_run_from_the_cli(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two recorded models compared directly (`--baseline-model`), and a check against a
    stored run (`--baseline RUN`): exit 1 on drift, 0 without; nothing stored either way."""
    monkeypatch.setenv("DRIFTGATE_WORKSPACE", str(ws))
    _recorded(ws)
    a = "replay/rec.jsonl?model_column=llm&model=A"
    b = "replay/rec.jsonl?model_column=llm&model=B"
    common = ("check", "-w", str(ws), "--vectorizer", "tfidf")
    drifted = invoke(*common, "--models", b, "--baseline-model", a)
    assert drifted.exit_code == 1 and "baseline: model" in drifted.output
    same = invoke(*common, "--models", a, "--baseline-model", a)
    assert same.exit_code == 0, same.output

    # A stored run of model A as the baseline: `driftgate run` first, then --baseline RUN.
    from driftgate.store.runs import RunStore

    before = set(RunStore(ws / "runs").ids())
    ran = CliRunner().invoke(app, ["run", "-w", str(ws), "-m", a, "--quiet"],
                             catch_exceptions=False)  # fmt: skip
    assert ran.exit_code in (0, 1), ran.output
    (run_id,) = set(RunStore(ws / "runs").ids()) - before
    against = invoke(*common, "--models", b, "--baseline", run_id[-6:], "--json")
    assert against.exit_code == 1
    data = json.loads(against.output)
    assert data["baseline_run_id"] == run_id and data["alert"] is True
    assert data["notes"][0].startswith(f"baseline: run {run_id}")
    quiet = invoke(*common, "--models", a, "--baseline", run_id)  # the same model: no drift
    assert quiet.exit_code == 0, quiet.output
    assert not (ws / ".driftgate" / "drift").exists() or not list(
        (ws / ".driftgate" / "drift").glob("*/baseline.json")
    )  # nothing stored
    from driftgate.errors import ConfigError, RunNotFound

    with pytest.raises(RunNotFound, match="'nope' not found"):  # exit 2 from `driftgate`
        invoke(*common, "--models", a, "--baseline", "nope")
    with pytest.raises(ConfigError, match="pick one"):
        invoke(*common, "--models", a, "--baseline", "latest", "--baseline-model", a)
