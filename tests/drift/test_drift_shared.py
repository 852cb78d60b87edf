"""Drift state on the shared store: a check made on one machine is in another's history."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from drift_helpers import set_provider, sim_workspace, sklearn_loaded  # noqa: F401

from driftgate import Workspace
from driftgate.drift import DriftStore, check_drift
from driftgate.store.objects import ObjectStore

pytestmark = pytest.mark.usefixtures("sklearn_loaded")


def test_checks_and_baseline_reach_a_second_machine(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRIFTGATE_STORE", s3_url)
    set_provider("v1")
    a = sim_workspace(tmp_path / "a", n_cases=60)
    b = shutil.copytree(a, tmp_path / "b")  # the same checkout on another machine
    first = check_drift(workspace=a, vectorizer="tfidf")
    second = check_drift(workspace=a, vectorizer="tfidf")

    assert not (b / ".driftgate" / "drift").exists()
    keys = DriftStore.keys(Workspace(b))
    assert [k.key for k in keys] == [first.key]
    there = DriftStore.for_key(Workspace(b), first.key)
    assert [c.id for c in there.checks()] == [first.id, second.id]
    baseline = there.load_baseline()
    assert baseline is not None and baseline.run_id == first.run_id

    # A new baseline made on b replaces a's the next time a reads it.
    store = ObjectStore.from_url(s3_url)
    assert store.get(f"state/drift/{first.key}/baseline.json") is not None
    baseline.run_id = "moved-on-b"
    there.save_baseline(baseline)
    again = DriftStore.for_key(Workspace(a), first.key).load_baseline()
    assert again is not None and again.run_id == "moved-on-b"


def test_without_a_store_nothing_is_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DRIFTGATE_STORE", raising=False)
    set_provider("v1")
    a = sim_workspace(tmp_path / "a", n_cases=30)
    check = check_drift(workspace=a, vectorizer="tfidf")
    assert DriftStore.for_key(Workspace(a), check.key).shared is None
