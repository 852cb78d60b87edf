"""`drift check --route`: provider drift on what a route's baseline arm serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from drift_helpers import (
    set_provider,
    sim_workspace,
    sklearn_loaded,  # noqa: F401 - a fixture (imports scikit-learn in setup)
)

from conftest import run_main
from driftgate.drift import check_drift
from driftgate.errors import ConfigError
from driftgate.registry import promote, register_artifacts

pytestmark = pytest.mark.usefixtures("sklearn_loaded")

ROUTE = """
arms:
  - {name: production, prompt: cat@production, model: sim/drifttest@prod, weight: 100}
  - {name: candidate, prompt: cat@candidate, weight: 0}
loop: {suite: evalsets/main.suite.yaml, drift_sample: 40}
"""


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    set_provider("v1")
    root = sim_workspace(tmp_path / "ws", n_cases=120)
    (root / "routes").mkdir()
    (root / "routes" / "cat.yaml").write_text(ROUTE)
    register_artifacts(root)
    promote("prompt/cat@1", to="production", workspace=root)
    return root


def test_route_check_runs_the_baseline_arm_on_the_policy_sample(ws: Path) -> None:
    first = check_drift(workspace=ws, route="cat", vectorizer="tfidf")
    assert first.status == "baseline_recorded" and first.suite == "route/cat"
    assert first.sample == 40 and first.cases == 40  # the loop policy's sample
    assert first.models == ["sim/drifttest@prod"]
    set_provider("v2", segment_accuracy={"cohort=new-bank-format": 0.5})
    second = check_drift(workspace=ws, route="cat", vectorizer="tfidf")
    assert second.baseline_run_id == first.run_id and second.alert
    assert second.arms[0].arm == "cat@production · sim/drifttest@prod"
    # A suite check keeps its own key and baseline: the route's does not replace it.
    other = check_drift(workspace=ws, vectorizer="tfidf")
    assert other.key != first.key and other.status == "baseline_recorded"


def test_route_check_refuses_a_suite_too(ws: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        check_drift("evalsets/main.suite.yaml", workspace=ws, route="cat")


def test_cli_drift_check_route(
    ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_main(capsys, monkeypatch, "drift", "check", "--route", "cat", "-w", str(ws))
    assert code == 0 and "suite route/cat" in out and "baseline" in out
    set_provider("v2", segment_accuracy={"cohort=new-bank-format": 0.5})
    code, out, _ = run_main(capsys, monkeypatch, "drift", "check", "--route", "cat", "-w", str(ws))
    assert code == 1 and "DRIFT" in out.upper()
