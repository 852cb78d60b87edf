"""`drift_target`: one monitored target for a check, its tuning and its rendering (the CLI
builds it once); `latest_alerted`: the exit status of `drift history`."""

from __future__ import annotations

from pathlib import Path

import pytest
from drift_helpers import (
    set_provider,
    sim_workspace,
    sklearn_loaded,  # noqa: F401 - a fixture (imports scikit-learn in setup)
)

from driftgate.drift import check_drift
from driftgate.drift.history import latest_alerted
from driftgate.drift.target import Target, drift_target
from driftgate.errors import ConfigError

pytestmark = pytest.mark.usefixtures("sklearn_loaded")


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    set_provider("v1")
    return sim_workspace(tmp_path / "ws", n_cases=40)


def test_a_target_built_once_checks_like_a_suite_path_and_keeps_its_store(ws: Path) -> None:
    target = drift_target(workspace=ws)
    assert isinstance(target, Target) and target.key == Target(None, workspace=ws).key
    first = check_drift(target, vectorizer="tfidf")
    second = check_drift(workspace=ws, vectorizer="tfidf")  # the same key, found again
    assert first.key == second.key == target.key
    assert second.baseline_run_id == first.run_id
    checks = target.store.checks()
    assert [c.id for c in checks] == [first.id, second.id]
    assert latest_alerted(checks) is False
    second.alert = True
    assert latest_alerted(checks[:1]) is False  # a baseline check never alerts
    assert latest_alerted([*checks[:1], second]) is True


def test_a_route_target_takes_no_suite_or_models(ws: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        drift_target("evalsets/x.suite.yaml", workspace=ws, route="cat")
    with pytest.raises(ConfigError, match="not both"):
        drift_target(workspace=ws, models=["sim/a"], route="cat")


def test_traffic_takes_a_log_or_a_route_not_both_nor_neither(ws: Path) -> None:
    from driftgate.drift import check_traffic

    with pytest.raises(ConfigError, match="one of them"):
        check_traffic(workspace=ws)
    with pytest.raises(ConfigError, match="one of them"):
        check_traffic(ws / "inputs.jsonl", route="cat", workspace=ws)
