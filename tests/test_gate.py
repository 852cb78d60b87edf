"""Gate policies and verdicts: pure rules on synthetic results, then end to end on the simulator."""

from pathlib import Path

import pytest

from driftgate.errors import ConfigError, UnknownNameError
from driftgate.gate import GatePolicy, evaluate_gate, find_policy, gate, load_policy
from driftgate.registry import GateFailed, Registry, promote, register_artifacts
from driftgate.report.gate import render_verdict
from driftgate.store.records import CaseResult, ScoreRecord
from driftgate.store.runs import RunStore
from driftgate.workspace import Workspace


def results(
    passes,
    *,
    seg=lambda i: "a" if i % 2 else "b",
    cost=None,
    latency=None,
    evalset="tx",
    digest="d",
):
    return [
        CaseResult(
            run_id="r",
            key=f"p|m|{evalset}|c{i}|0",
            evalset=evalset,
            case_id=f"c{i:03d}",
            segment=seg(i),
            prompt="p",
            prompt_digest=digest,
            model="m",
            passed=bool(p),
            score=float(p),
            scores=[ScoreRecord(metric="category", value=float(p), passed=bool(p))],
            cost_usd=cost,
            latency_ms=latency(i) if callable(latency) else latency,
            ts=0.0,
        )
        for i, p in enumerate(passes)
    ]


def rule(v, kind):
    return [r for r in v.rules if r.rule == kind]


def test_non_inferiority_passes_an_equal_candidate_and_blocks_a_regression():
    base = results([1] * 40)
    same = evaluate_gate(results([1] * 400), results([1] * 400))
    assert same.passed and rule(same, "non_inferiority")[0].status == "pass"
    # 40 cases with no discordant pair cannot rule out a 2-point drop (the lower bound is
    # about -6.6 points): an equal candidate on a small golden set is not yet non-inferior.
    small = rule(evaluate_gate(results([1] * 40), base), "non_inferiority")[0]
    assert small.status == "fail" and -0.07 < small.ci_low < -0.02
    # It says what would settle it: the same interval clears -2 points at 137 cases.
    assert "inconclusive on 40 cases" in small.detail and "137 paired cases" in small.detail
    enough = evaluate_gate(results([1] * 137), results([1] * 137))
    assert rule(enough, "non_inferiority")[0].status == "pass"
    assert (
        rule(evaluate_gate(results([1] * 136), results([1] * 136)), "non_inferiority")[0].status
        == "fail"
    )
    worse = evaluate_gate(
        results([i % 2 for i in range(40)]), base, candidate="c@2", baseline="c@1"
    )
    ni = rule(worse, "non_inferiority")[0]
    assert not worse.passed and ni.status == "fail"
    assert "inconclusive" not in ni.detail  # clearly worse: no number of cases helps
    assert (
        ni.observed == pytest.approx(-0.5)
        and ni.threshold == -0.02
        and ni.ci_low < -0.5 < ni.ci_high < -0.02
    )
    assert worse.summary().startswith("FAIL 1/2 rules: non-inferiority on pass")
    text = render_verdict(worse)
    assert "FAIL" in text and "c@2 vs c@1" in text and "CI [" in text
    better = evaluate_gate(base, results([i % 2 for i in range(40)]))
    assert better.passed and rule(better, "non_inferiority")[0].ci_low > 0


def test_floors_on_all_cases_and_on_a_segment():
    cand = results([0 if i % 2 and i < 20 else 1 for i in range(40)])  # segment a: 10/20 pass
    policy = GatePolicy(
        non_inferiority=None,
        floors=[
            {"metric": "category", "min": 0.7},
            {"metric": "pass", "min": 0.9, "evalset": "tx", "segment": "a"},
        ],
    )
    v = evaluate_gate(cand, None, policy)
    overall, seg = rule(v, "floor")
    assert overall.status == "pass" and overall.observed == pytest.approx(0.75)
    assert 0.59 < overall.ci_low < 0.75 < overall.ci_high < 0.87  # Wilson interval
    assert seg.status == "fail" and seg.observed == pytest.approx(0.5) and seg.threshold == 0.9
    assert not v.passed and "no baseline" in v.warnings[0]


def test_a_segment_regressing_beyond_its_margin_fails_while_small_ones_are_skipped():
    def seg(i):
        return "new" if i < 20 else ("tiny" if i < 23 else "old")

    base = results([1] * 100, seg=seg)
    cand = results([0 if i < 6 else 1 for i in range(100)], seg=seg)  # new: -0.30
    policy = GatePolicy(
        non_inferiority={"margin": 0.1},
        segments={"margin": 0.05, "margins": {"old": 0.01}, "min_cases": 5},
    )
    v = evaluate_gate(cand, base, policy)
    segs = {r.name.split()[1]: r for r in rule(v, "segment")}
    assert segs["new"].status == "fail" and segs["new"].observed == pytest.approx(-0.3)
    assert segs["old"].status == "pass" and segs["old"].threshold == -0.01
    assert segs["tiny"].status == "skip"
    assert not v.passed


def test_cost_and_latency_budgets_absolute_and_relative():
    base = results([1] * 20, cost=0.001, latency=lambda i: 100.0 + i)
    cand = results([1] * 20, cost=0.0013, latency=lambda i: 100.0 + 10 * i)
    policy = GatePolicy(
        cost={"max": 0.002, "max_increase": 0.2}, latency_p95={"max": 500, "max_increase": 0.5}
    )
    v = evaluate_gate(cand, base, policy)
    cost_abs, cost_rel = rule(v, "cost")
    assert cost_abs.status == "pass" and cost_abs.observed == pytest.approx(0.0013)
    assert cost_rel.status == "fail" and cost_rel.observed == pytest.approx(0.3)
    lat_abs, lat_rel = rule(v, "latency_p95")
    assert lat_abs.status == "pass" and lat_abs.observed == pytest.approx(280.5)
    assert lat_rel.status == "fail" and lat_rel.baseline == pytest.approx(118.05)
    assert not v.passed
    # No cost recorded is not a pass.
    v2 = evaluate_gate(results([1] * 20), None, GatePolicy(cost={"max": 1.0}))
    assert rule(v2, "cost")[0].status == "fail" and not v2.passed


def test_min_cases_and_required_golden_sets():
    base = results([1] * 10)
    policy = GatePolicy(min_cases=20, required_evalsets=["tx", "holdout"])
    v = evaluate_gate(results([1] * 10), base, policy)
    assert rule(v, "min_cases")[0].status == "fail" and rule(v, "min_cases")[0].observed == 10
    req = {r.name: r.status for r in rule(v, "required_evalset")}
    assert req == {"golden set tx": "pass", "golden set holdout": "fail"}


def test_a_policy_naming_unknown_things_is_bad_input(tmp_path: Path):
    cand = results([1] * 10)
    with pytest.raises(ConfigError, match="unknown metric 'acuracy'") as e:
        evaluate_gate(cand, None, GatePolicy(floors=[{"metric": "acuracy", "min": 0.5}]))
    assert e.value.field == "floors[0].metric"
    with pytest.raises(ConfigError, match="unknown golden set"):
        evaluate_gate(
            cand, None, GatePolicy(floors=[{"metric": "pass", "min": 0.5, "evalset": "nope"}])
        )
    with pytest.raises(ConfigError, match="unknown segment 'c'"):
        evaluate_gate(cand, cand, GatePolicy(segments={"margins": {"c": 0.1}}))
    path = tmp_path / "p.yaml"
    path.write_text("metric: pass\nfloors:\n  - {metric: pass, minimum: 0.5}\n")
    with pytest.raises(ConfigError) as e:
        load_policy(path)
    assert e.value.path == str(path) and e.value.line == 3 and e.value.field.startswith("floors[0]")
    path.write_text("cost: {}\n")
    with pytest.raises(ConfigError, match="needs `max`"):
        load_policy(path)


# ---- end to end on the simulator ---------------------------------------------------------


def set_model(root: Path, model: str) -> None:
    p = root / "prompts" / "cat.yaml"
    lines = [f"model: {model}" if x.startswith("model:") else x for x in p.read_text().splitlines()]
    p.write_text("\n".join(lines) + "\n")


def test_gate_blocks_a_simulated_regression_and_reuses_stored_runs(ws_root: Path):
    register_artifacts(ws_root)
    promote("prompt/cat@1", workspace=ws_root, force=True, skip_gate=True, reason="bootstrap")
    set_model(ws_root, "sim/acme@v1?accuracy=0.5")
    register_artifacts(ws_root)
    v = gate("prompt/cat@2", workspace=ws_root)
    assert not v.passed and v.baseline == "prompt/cat@1 (production)" and v.n_cases == 40
    ni = rule(v, "non_inferiority")[0]
    assert ni.status == "fail" and ni.baseline == 1.0 and ni.observed < -0.3
    runs = RunStore(ws_root / "runs").ids()
    assert len(runs) == 1
    again = gate("prompt/cat@2", workspace=ws_root)  # answered from the stored run
    assert again.rules == v.rules and RunStore(ws_root / "runs").ids() == runs
    with pytest.raises(GateFailed) as e:
        promote("prompt/cat@2", workspace=ws_root)
    assert e.value.exit_code == 1
    reg = Registry.of(ws_root)
    assert reg.aliases_of("prompt/cat")["production"] == reg.find("cat@1").digest
    assert len(reg.aliases.audit()) == 1
    forced = promote("prompt/cat@2", workspace=ws_root, force=True, reason="hotfix, accepted")
    assert forced.moved and "forced" in forced.message
    last = reg.aliases.audit()[-1]
    assert last.forced and last.gate_passed is False and last.gate.startswith("FAIL")
    assert last.reason == "hotfix, accepted"


def test_gate_passes_an_equal_or_better_candidate(ws_root: Path):
    set_model(ws_root, "sim/acme@v1?accuracy=0.5")
    register_artifacts(ws_root)
    promote("prompt/cat@1", workspace=ws_root, force=True, skip_gate=True, reason="bootstrap")
    set_model(ws_root, "sim/perfect@v1")
    register_artifacts(ws_root)
    result = promote("prompt/cat@2", workspace=ws_root)
    assert result.moved and result.verdict.passed
    assert rule(result.verdict, "non_inferiority")[0].ci_low > 0
    # Equal: the same version against itself (e.g. re-gating what is in production). Its
    # 40 cases rule out a drop of ~7 points, not the default 2: the margin must fit the set.
    same = gate("prompt/cat@2", workspace=ws_root)
    ni = rule(same, "non_inferiority")[0]
    assert not same.passed and ni.observed == 0.0 and ni.ci_low == pytest.approx(-ni.ci_high)
    (ws_root / "gates").mkdir()
    (ws_root / "gates/default.yaml").write_text("non_inferiority: {margin: 0.07}\n")
    same = gate("prompt/cat@2", workspace=ws_root)
    assert same.passed and rule(same, "non_inferiority")[0].observed == 0.0


def test_policy_files_are_found_per_artifact_then_per_workspace(ws_root: Path):
    ws = Workspace(ws_root)
    assert find_policy(ws, "cat").source is None  # built in
    (ws_root / "gates").mkdir()
    (ws_root / "gates/default.yaml").write_text("min_cases: 5\n")
    assert find_policy(ws, "cat").min_cases == 5
    (ws_root / "gates/cat.yaml").write_text("min_cases: 50\nrequired_evalsets: [tx]\n")
    policy = find_policy(ws, "cat")
    assert policy.min_cases == 50 and policy.source == ws_root / "gates/cat.yaml"
    register_artifacts(ws_root)
    v = gate("prompt/cat@1", None, workspace=ws_root)
    assert (
        not v.passed
        and rule(v, "min_cases")[0].observed == 40
        and v.policy.endswith("gates/cat.yaml")
    )
    (ws_root / "gates/cat.yaml").write_text("required_evalsets: [holdout]\n")
    with pytest.raises(UnknownNameError, match="holdout"):
        gate("prompt/cat@1", None, workspace=ws_root)


def test_a_gate_on_a_suite_of_several_models_names_them(ws_root: Path):
    suite = ws_root / "evalsets" / "main.suite.yaml"
    suite.write_text(suite.read_text() + "models: [sim/acme@v1, sim/acme@v2]\n")
    register_artifacts(ws_root)
    promote("prompt/cat@1", workspace=ws_root, force=True, skip_gate=True, reason="bootstrap")
    with pytest.raises(ConfigError, match=r"2 models \(sim/acme@v1, sim/acme@v2\)") as e:
        gate("prompt/cat@1", workspace=ws_root)
    assert "--model sim/acme@v2" in (e.value.hint or "")
    assert gate("prompt/cat@1", workspace=ws_root, model="sim/acme@v2").n_cases == 40
    # The headline names what the gate ran on, so the default suite is never a silent choice.
    v = gate("prompt/cat@1", workspace=ws_root, model="sim/acme@v2")
    assert v.on == "evalsets/main.suite.yaml on sim/acme@v2"
    assert "· evalsets/main.suite.yaml on sim/acme@v2 ·" in render_verdict(v)
