"""A route's rule, end to end through the real code: traffic served on a strong model with
a cheap one mirrored, feedback as labels, `retrain route/NAME` training and gating the rule,
the `candidate` alias, a rule arm serving it (cheap where the cheap model is good, strong
where it is not), `route status`, promotion and rollback of the rule, and the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import run_main
from driftgate.errors import ConfigError
from driftgate.providers.simulator import SimProfile, register_profile
from driftgate.router import Router
from driftgate.workspace import Workspace

LABELS = ["groceries", "rent", "transport"]
BANKS = ["northwind", "harbor", "lumen"]  # the cheap model is weak on lumen
register_profile(
    "spend-cheap@v1",
    SimProfile(accuracy=0.97, segment_accuracy={"lumen": 0.45}, latency_ms=0,
               cost_per_1k_tokens=0.0002, fingerprint="fp_cheap"),
)  # fmt: skip
register_profile(
    "spend-strong@v1",
    SimProfile(accuracy=0.97, latency_ms=0, cost_per_1k_tokens=0.004, fingerprint="fp_strong"),
)
ROUTE = """\
prompt: cat
segment_by: bank
arms:
  - {name: strong, prompt: cat@v1, model: sim/spend-strong@v1, weight: 100}
  - {name: learned, rule: candidate, choices: [strong, cheap], weight: 0}
shadow:
  - {name: cheap, prompt: cat@v1, model: sim/spend-cheap@v1, sample: 1.0}
learn:
  arm: learned
  objective: {min_quality_vs_best: 0.97}
  features: {segment: true}
  min_labeled: 100
"""


def write(root: Path, body: str = ROUTE) -> None:
    (root / "routes").mkdir(exist_ok=True)
    (root / "routes" / "spend.yaml").write_text(body)


def traffic(root: Path, n: int, *, start: int = 0, weights: dict | None = None) -> list:
    """`n` requests with feedback: accepted when right, else corrected."""
    router = Router("spend", workspace=root)

    async def go() -> list:
        out = []
        for i in range(start, start + n):
            expected = LABELS[i % 3]
            vars_ = {"description": f"merchant {i}", "bank": BANKS[i % 3]}
            d = await router.complete(vars_, request_id=f"r{i:05d}", expected=expected)
            await asyncio.gather(*router._shadow_tasks)  # the cheap answer is logged too
            ok = d.parsed == expected
            router.feedback(d.id, "accept" if ok else "edit", correction=None if ok else expected)
            out.append(d)
        await router.aclose()
        return out

    return asyncio.run(go())


@pytest.fixture
def trained(ws_root: Path) -> Path:
    write(ws_root)
    traffic(ws_root, 600)
    return ws_root


def test_retrain_trains_gates_and_points_candidate(trained: Path) -> None:
    from driftgate.retraining.route_rule import retrain_route

    result = retrain_route("spend", workspace=Workspace(trained))
    assert result.passed and result.applied, result.verdict.summary()
    assert result.candidate == "rule/spend@1" and result.paired == 600
    assert result.train_size + result.test_size == 600 and result.test_size >= 150
    ev = result.evaluation
    # Learned: lumen goes to the strong model, the rest to the cheap one.
    assert ev["per_segment"]["lumen"]["choice_share"].get("strong", 0) > 0.9
    assert ev["per_segment"]["harbor"]["choice_share"].get("cheap", 0) > 0.9
    assert ev["cost_vs_best"] < 0.5 and ev["quality_vs_best"] > 0.95
    names = {r.name for r in result.verdict.rules}
    assert {"quality vs strong", "quality vs cheap", "USD per 1k requests"} <= names
    # A dry run registers nothing more and moves nothing.
    again = retrain_route("spend", workspace=Workspace(trained), dry_run=True)
    assert again.passed and not again.applied and again.candidate is None


def test_the_rule_arm_serves_the_trained_rule(trained: Path) -> None:
    from driftgate.retraining.route_rule import retrain_route
    from driftgate.router.operations import route_status

    retrain_route("spend", workspace=Workspace(trained))
    write(trained, ROUTE.replace("weight: 100}", "weight: 0}").replace(
        "choices: [strong, cheap], weight: 0}", "choices: [strong, cheap], weight: 100}"
    ))  # fmt: skip
    served = traffic(trained, 90, start=10_000)
    assert {d.arm for d in served} == {"learned"}
    by_bank = {b: {d.choice for d in served if d.segment == b} for b in BANKS}
    assert by_bank["lumen"] == {"strong"} and by_bank["northwind"] == {"cheap"}
    answered = {d.model for d in served}
    assert answered == {"sim/spend-strong@v1", "sim/spend-cheap@v1"}
    ws = Workspace(trained)
    from driftgate.router.router import load_route_ref

    status = route_status(ws, load_route_ref(ws, "spend"))
    use = status.rules["learned"]
    assert use.rule == "rule/spend@1" and use.picks["lumen"] == {"strong": 30}
    assert "quality_vs_best" in use.metrics
    # The UI's route page shows the same: the rule served and its picks per segment.
    from starlette.testclient import TestClient

    from driftgate.ui import create_app

    page = TestClient(create_app(trained)).get("/routes", params={"route": "spend"}).text
    assert "Rule arm learned" in page and "serves rule/spend@1" in page
    assert "picks, lumen: strong 100% (30 requests)" in page
    assert "quality and cost, held out: rule " in page and "; cheap " in page


def test_promotion_and_rollback_move_the_rule(trained: Path) -> None:
    from driftgate.registry.moves import promote, rollback
    from driftgate.registry.serving import resolve
    from driftgate.retraining.route_rule import retrain_route

    ws = Workspace(trained)
    first = retrain_route("spend", workspace=ws)
    promote(f"{first.candidate}", to="production", workspace=ws, force=True, reason="first",
            skip_gate=True)  # fmt: skip
    traffic(trained, 300, start=20_000)  # more traffic: a second rule
    second = retrain_route("spend", workspace=ws)
    assert second.current == "rule/spend@1"  # gated against the rule serving now too
    assert any(r.name == "quality vs current rule" for r in second.verdict.rules)
    assert second.candidate == "rule/spend@2"  # trained on more data: a new version
    promote(second.candidate, to="production", workspace=ws, force=True, reason="second",
            skip_gate=True)  # fmt: skip
    assert resolve("rule/spend", workspace=ws).ref == "rule/spend@2"
    rollback("rule/spend", workspace=ws, reason="bad rule")
    assert resolve("rule/spend", workspace=ws).ref == "rule/spend@1"  # the previous rule


def test_cli_retrain_route(trained: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(trained)
    code, out, err = run_main(capsys, monkeypatch, "retrain", "route/spend", "--dry-run")
    assert code == 0, err
    assert "retrain route/spend" in out and "lumen" in out and "dry run" in out
    code, out, err = run_main(capsys, monkeypatch, "retrain", "route/spend")
    assert code == 0 and "candidate of rule/spend → rule/spend@1" in out
    code, out, err = run_main(capsys, monkeypatch, "route", "status", "spend")
    assert code == 0 and "rule arm learned" in out


def test_bad_inputs_are_named(ws_root: Path) -> None:
    from driftgate.artifacts.route import load_route
    from driftgate.retraining.route_rule import retrain_route

    write(ws_root)
    with pytest.raises(ConfigError, match="min_labeled"):  # no traffic yet
        retrain_route("spend", workspace=Workspace(ws_root))
    write(ws_root, ROUTE.split("learn:")[0])
    with pytest.raises(ConfigError, match="no `learn:` block"):
        retrain_route("spend", workspace=Workspace(ws_root))
    bad = {
        "choices: [strong, nowhere]": "not a prompt arm or shadow",
        "choices: [strong]": "two or more",
    }
    for choices, message in bad.items():
        write(ws_root, ROUTE.replace("choices: [strong, cheap]", choices))
        with pytest.raises(ConfigError, match=message):
            load_route(ws_root / "routes" / "spend.yaml")
    write(ws_root, ROUTE.replace("arm: learned", "arm: strong"))
    with pytest.raises(ConfigError, match="not a rule arm"):
        load_route(ws_root / "routes" / "spend.yaml")
    write(ws_root, ROUTE.replace("min_quality_vs_best: 0.97", "max_quality: 2"))
    with pytest.raises(ConfigError, match="objective"):
        load_route(ws_root / "routes" / "spend.yaml")


def test_promoting_a_rule_is_gated_by_its_canary(trained: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    """`promote rule/NAME@candidate` asks the canary of the arm serving that rule: refused
    before it served, through once its answers are shown not worse than the baseline's."""
    from driftgate.registry import GateFailed
    from driftgate.registry.serving import resolve
    from driftgate.retraining.route_rule import retrain_route
    from driftgate.router.operations import promote_rule

    ws = Workspace(trained)
    retrain_route("spend", workspace=ws)
    with pytest.raises(GateFailed, match="canary"):
        promote_rule("rule/spend@candidate", workspace=ws)  # weight 0: no evidence
    write(trained, ROUTE.replace("weight: 100}", "weight: 50}").replace(
        "choices: [strong, cheap], weight: 0}", "choices: [strong, cheap], weight: 50}"
    ) + "canary: {margin: 0.15, min_feedback: 30, check_every: 1000}\n")  # fmt: skip
    traffic(trained, 600, start=30_000)
    moved = promote_rule("rule/spend@candidate", workspace=ws)
    assert moved.moved and moved.verdict is not None and moved.verdict.passed
    assert resolve("rule/spend", workspace=ws).ref == "rule/spend@1"
    # The CLI takes the same path.
    monkeypatch.chdir(trained)
    code, out, _ = run_main(capsys, monkeypatch, "promote", "rule/spend@1", "--to", "stable")
    assert code == 0 and "canary against strong" in out
