"""`driftgate route ...` end to end on simulator models: replay with feedback rolls a bad
canary back, status and check report it, weights move by hand, labels make a golden set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_main
from driftgate.evalset import iter_cases
from driftgate.router import current_weights, history, load_route_ref, read_decisions, read_feedback
from driftgate.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
FAST = "latency_ms=0&latency_jitter_ms=0"
ROUTE = f"""\
arms:
  - {{name: production, prompt: categorize@zero-shot, model: "sim/acme@v1?{FAST}", weight: 80}}
  - {{name: candidate, prompt: categorize@zero-shot, model: "sim/acme@v1?accuracy=0.3&{FAST}",
     weight: 20}}
shadow:
  - {{name: next, prompt: categorize@zero-shot, model: "sim/acme@v2?{FAST}"}}
canary: {{min_feedback: 20, check_every: 20}}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    shutil.copytree(REPO / "evalsets", tmp_path / "evalsets")
    (tmp_path / "driftgate.yaml").write_text("suite: evalsets/categorize-sim.suite.yaml\n")
    (tmp_path / "routes").mkdir()
    (tmp_path / "routes" / "cat.yaml").write_text(ROUTE)
    return tmp_path


def route(
    ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    """`driftgate route ARGS -w WS` through main(): exit code, stdout, stderr."""
    return run_main(capsys, monkeypatch, "route", *args, "-w", str(ws))


def golden(ws: Path) -> dict[str, dict]:
    lines = (ws / "evalsets" / "transactions.jsonl").read_text().splitlines()
    return {c["id"]: c for c in map(json.loads, lines)}


def row(out: str, arm: str) -> str:
    """The table row of an arm (the first line starting with it)."""
    return next(line for line in out.splitlines() if line.lstrip("│┃ ").startswith(arm + " "))


def test_replay_with_feedback_rolls_the_bad_candidate_back(ws, capsys, monkeypatch):
    inputs = str(ws / "evalsets" / "transactions.jsonl")
    code, out, err = route(ws, capsys, monkeypatch, "replay", "cat", inputs, "-n", "300",
                           "--feedback")  # fmt: skip
    assert code == 0, err
    assert "weights moved: canary rollback: worse: quality" in out
    assert "now: production=100, candidate=0" in out
    assert "last canary check:" in out and "ROLLBACK" in out
    decisions = read_decisions(Workspace.find(ws), "cat")
    assert sum(not d.shadow for d in decisions) == 300 and sum(d.shadow for d in decisions) == 300

    code, out, err = route(ws, capsys, monkeypatch, "status", "cat")
    assert code == 0, err
    assert "0% (moved)" in row(out, "candidate") and "100% (moved)" in row(out, "production")
    assert "sample 100%" in row(out, "next")
    assert "canary rollback: worse" in out and "before: production=80, candidate=20" in out
    assert "canary verdict: rollback" in out
    # Per arm and per segment (the golden set's `segment` travels with each request):
    # quality with always-valid bounds, and the shadow's paired difference per segment.
    assert "per segment" in out and "quality [always-valid]" in out
    shadow_rows = [
        line for line in out.splitlines() if line.lstrip("│ ").startswith("next (shadow)")
    ]
    assert any("cohort=new-bank-format" in line for line in shadow_rows)

    code, out, _ = route(ws, capsys, monkeypatch, "status", "cat", "--json")
    verdict = json.loads(out)
    assert verdict["action"] == "rollback" and verdict["findings"][0]["arm"] == "candidate"
    arms = {(a["arm"], a["shadow"]): a for a in verdict["arms"]}
    assert arms[("production", False)]["requests"] + arms[("candidate", False)]["requests"] == 300
    assert (
        arms[("candidate", False)]["acceptance"] < 0.5 < arms[("production", False)]["acceptance"]
    )
    assert arms[("next", True)]["labeled"] == 300 and arms[("next", True)]["quality"] > 0.7
    low, high = arms[("next", True)]["quality_bounds"]
    assert low < arms[("next", True)]["quality"] < high
    shadow = next(f for f in verdict["findings"] if f["shadow"])
    assert {g["segment"] for g in shadow["segments"]} == {
        s["segment"] for s in arms[("next", True)]["segments"]
    }
    assert sum(g["labeled"] for g in shadow["segments"]) == shadow["labeled"] == 300
    assert all(
        g["bounds"]["lower"] <= g["delta"] <= g["bounds"]["upper"] for g in shadow["segments"]
    )

    code, out, _ = route(ws, capsys, monkeypatch, "check", "cat")
    assert code == 0  # still worse, but already at weight 0: nothing left to act on
    assert "candidate already has weight 0" in out
    w = Workspace.find(ws)
    assert current_weights(w, load_route_ref(w, "cat")) == {"production": 100, "candidate": 0}
    assert [h.reason.split(":")[0] for h in history(w, "cat")] == ["canary rollback"]


def test_check_follows_the_policy_unless_told(ws, capsys, monkeypatch):
    (ws / "routes" / "cat.yaml").write_text(
        ROUTE.replace("check_every: 20", "check_every: 1000, auto_rollback: false")
    )
    inputs = str(ws / "evalsets" / "transactions.jsonl")
    code, out, _ = route(ws, capsys, monkeypatch, "replay", "cat", inputs, "-n", "200",
                         "--feedback")  # fmt: skip
    assert code == 0 and "no canary check ran (one runs every 1000 feedback events)" in out
    w = Workspace.find(ws)
    spec = load_route_ref(w, "cat")
    assert current_weights(w, spec) == {"production": 80, "candidate": 20}

    code, out, _ = route(ws, capsys, monkeypatch, "check", "cat")  # auto_rollback: false
    assert code == 1 and "candidate not rolled back" in out
    code, out, _ = route(ws, capsys, monkeypatch, "check", "cat", "--rollback", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["rolled_back"] == ["candidate"] and data["verdict"]["action"] == "rollback"
    assert current_weights(w, spec) == {"production": 100, "candidate": 0}
    assert history(w, "cat")[-1].reason.startswith("canary rollback: worse: quality")


def test_check_exits_0_while_waiting_for_feedback(ws, capsys, monkeypatch):
    code, out, _ = route(ws, capsys, monkeypatch, "check", "cat")
    assert code == 0
    assert "no traffic logged" in out and "each are needed" in out
    assert "canary verdict: wait" in out


def test_check_steps_an_equal_canary_then_reports_it_ready_to_promote(ws, capsys, monkeypatch):
    (ws / "routes" / "cat.yaml").write_text(
        ROUTE.replace("accuracy=0.3&", "").replace(
            "min_feedback: 20, check_every: 20",
            "min_feedback: 20, check_every: 1000, margin: 0.25, ramp: [50]",
        )
    )
    inputs = str(ws / "evalsets" / "transactions.jsonl")
    code, *_ = route(ws, capsys, monkeypatch, "replay", "cat", inputs, "-n", "300", "--feedback")
    assert code == 0
    code, out, _ = route(ws, capsys, monkeypatch, "check", "cat", "--json")
    data = json.loads(out)
    assert code == 0 and data["moves"] == ["ramped candidate to 50%"]
    assert data["verdict"]["findings"][0]["action"] == "step"
    # No answers since at 50%: it waits for them; with them, it is ready for promotion.
    code, out, _ = route(ws, capsys, monkeypatch, "check", "cat")
    assert code == 0 and "wait" in out and "new labeled answers at 50%" in out
    code, *_ = route(ws, capsys, monkeypatch, "replay", "cat", inputs, "-n", "200", "--feedback")
    code, out, _ = route(ws, capsys, monkeypatch, "check", "cat")
    assert code == 0 and "candidate is not worse at 50% on fresh evidence: ready to promote" in out


def test_set_and_rollback_errors_and_moves(ws, capsys, monkeypatch):
    def run(*args: str) -> tuple[int, str, str]:
        return route(ws, capsys, monkeypatch, *args)

    code, _, err = run("set", "cat", "production=50")
    assert code == 2 and "must sum to 100, got 70 (production=50, candidate=20)" in err
    code, _, err = run("set", "cat", "production=70", "candidat=30")
    assert code == 2 and "unknown route arm 'candidat'" in err and "'candidate'" in err
    code, _, err = run("set", "cat", "next=10")
    assert code == 2 and "'next' is a shadow arm" in err
    for bad in ("production", "production=lots", "=10", "production=nan"):
        code, _, err = run("set", "cat", bad)
        assert code == 2 and "expected ARM=WEIGHT" in err, bad
    code, _, err = run("set", "cat", "production=60", "production=40")
    assert code == 2 and "given twice" in err
    w = Workspace.find(ws)
    assert history(w, "cat") == []  # nothing moved by a bad command

    code, out, _ = run("set", "cat", "production=60", "candidate=40", "--reason", "ramp up")
    assert code == 0 and "production=80, candidate=20 → production=60, candidate=40" in out
    assert history(w, "cat")[-1].reason == "ramp up"

    code, _, err = run("rollback", "cat", "production")
    assert code == 2 and "is the baseline arm" in err
    code, _, err = run("rollback", "cat", "nope")
    assert code == 2 and "unknown route arm 'nope'" in err
    code, _, err = run("rollback", "cat", "next")
    assert code == 2 and "shadow arm" in err
    code, out, _ = run("rollback", "cat", "candidate")
    assert code == 0 and "→ production=100, candidate=0" in out
    code, out, _ = run("rollback", "cat", "candidate")
    assert code == 0 and "nothing moved" in out
    assert [h.reason for h in history(w, "cat")] == ["ramp up", "rolled back by hand"]

    code, _, err = run("status", "nope")
    assert code == 2 and "unknown route 'nope'; valid: cat" in err
    (ws / "routes" / "bad.yaml").write_text(ROUTE.replace("weight: 80", "weight: 90"))
    code, _, err = run("status", "bad")
    assert code == 2 and "bad.yaml" in err and "must sum to 100, got 110" in err


def test_labels_are_a_valid_golden_set(ws, capsys, monkeypatch):
    inputs = str(ws / "evalsets" / "transactions.jsonl")
    code, _, _ = route(ws, capsys, monkeypatch, "replay", "cat", inputs, "-n", "60", "--feedback")
    assert code == 0
    code, _, _ = route(ws, capsys, monkeypatch, "feedback", "cat", "txn-0002", "reject")
    assert code == 0  # a reject without a correction teaches nothing: left out

    out_file = ws / "labels" / "cat.jsonl"
    code, out, _ = route(ws, capsys, monkeypatch, "labels", "cat", "-o", str(out_file))
    assert code == 0 and f"wrote 59 labeled cases to {out_file}" in out
    cases = list(iter_cases(out_file))
    truth = golden(ws)
    assert len(cases) == 59 and "txn-0002" not in {c.id for c in cases}
    for case in cases:
        assert case.vars == truth[case.id]["vars"]
        assert case.expected.lower() == truth[case.id]["expected"]  # accepted or corrected
        assert case.metadata["source"] == "feedback:cat"
        assert case.metadata["verdict"] in ("accept", "edit")

    code, _, err = route(ws, capsys, monkeypatch, "labels", "cat", "-o", str(ws / "l.csv"))
    assert code == 2 and "l.csv" in err and "JSONL" in err


def test_feedback_stores_json_corrections_and_runs_the_due_check(ws, capsys, monkeypatch):
    (ws / "routes" / "cat.yaml").write_text(
        ROUTE.replace("accuracy=0.3", "accuracy=0").replace(
            "min_feedback: 20, check_every: 20", "min_feedback: 5, check_every: 120"
        )
    )
    inputs = str(ws / "evalsets" / "transactions.jsonl")
    code, out, _ = route(
        ws, capsys, monkeypatch, "replay", "cat", inputs, "-n", "119", "--feedback"
    )
    assert code == 0 and "no canary check ran" in out
    w = Workspace.find(ws)
    live = [d for d in read_decisions(w, "cat") if not d.shadow]
    assert sum(d.arm == "candidate" for d in live) >= 5  # enough for min_feedback

    # The 120th feedback event on the route: the command judges the canaries, like a server.
    code, out, err = route(ws, capsys, monkeypatch, "feedback", "cat", "txn-0001", "edit",
                           "--correction", '{"category": "fuel"}', "--note", "typo")  # fmt: skip
    assert code == 0, err
    assert 'recorded edit on request txn-0001 (correction: {"category": "fuel"})' in out
    assert "canary check ran:" in out and "ROLLBACK" in out
    assert "rolled back candidate: production=80, candidate=20 → production=100, candidate=0" in out
    last = read_feedback(w, "cat")[-1]
    assert last.correction == {"category": "fuel"} and last.note == "typo"

    code, out, err = route(ws, capsys, monkeypatch, "feedback", "cat", "txn-0003", "edit",
                           "--correction", "groceries")  # fmt: skip
    assert code == 0 and "canary check ran" not in out and err == ""
    assert read_feedback(w, "cat")[-1].correction == "groceries"

    code, _, err = route(ws, capsys, monkeypatch, "feedback", "cat", "no-such-id", "accept")
    assert code == 0 and "has logged no request 'no-such-id'" in err
    code, _, err = route(ws, capsys, monkeypatch, "feedback", "cat", "txn-0001", "maybe")
    assert code == 2 and "'maybe' is not one of" in err


def test_replay_counts_errors_and_pins_arms_by_a_field(ws, capsys, monkeypatch):
    (ws / "routes" / "err.yaml").write_text(
        "arms:\n"
        f'  - {{name: ok, prompt: categorize@zero-shot, model: "sim/acme@v1?{FAST}", weight: 50}}\n'
        "  - {name: down, prompt: categorize@zero-shot, weight: 50,\n"
        '     model: "sim/flaky@v1?error_rate=1&rate_limit_share=1&retry_after_s=0&latency_ms=0"}\n'
    )
    inputs = ws / "inputs.jsonl"
    truth = list(golden(ws).values())[:40]
    lines = [{"description": c["vars"]["description"], "bank": c["vars"]["bank"]} for c in truth]
    lines.append({"bank": "lumen"})  # no description: the template cannot render
    inputs.write_text("".join(json.dumps(line) + "\n" for line in lines))

    code, out, err = route(ws, capsys, monkeypatch, "replay", "err", str(inputs),
                           "--sticky-field", "bank")  # fmt: skip
    assert code == 0, err
    w = Workspace.find(ws)
    decisions = read_decisions(w, "err")
    assert len(decisions) == 41  # every request logged, failed ones included
    arm_of_bank: dict[str, set[str]] = {}
    for d in decisions:
        arm_of_bank.setdefault(d.vars["bank"], set()).add(d.arm)
    assert all(len(arms) == 1 for arms in arm_of_bank.values())  # sticky by bank
    failed = sum(d.error is not None for d in decisions)
    down = sum(d.arm == "down" for d in decisions if d.error_kind != "template")
    assert f"{failed} requests failed" in out
    assert out.count("template error: ") == 1 and out.count("provider error: rate_limit") == 1
    assert f"{down}× provider error: rate_limit 429" in out and down > 0

    bad = ws / "bad.jsonl"
    bad.write_text('{"id": "a", "vars": {"description": "x"}}\n{"id": "a"}\n')
    code, _, err = route(ws, capsys, monkeypatch, "replay", "err", str(bad))
    assert code == 2 and "bad.jsonl:2" in err and "duplicate id 'a'" in err
    bad.write_text('{"vars": {"description": "x"}}\nnot json\n')
    code, _, err = route(ws, capsys, monkeypatch, "replay", "err", str(bad))
    assert code == 2 and "bad.jsonl:2" in err and "invalid JSON" in err
    code, _, err = route(ws, capsys, monkeypatch, "replay", "err", str(inputs),
                         "--sticky-field", "user")  # fmt: skip
    assert code == 2 and "inputs.jsonl:1" in err and "'user'" in err
    assert len(read_decisions(w, "err")) == 41  # bad input serves nothing
