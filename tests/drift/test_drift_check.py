"""`check_drift` end to end on the in-process simulator: baselines, samples, changed golden sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from drift_helpers import (
    set_provider,
    sim_workspace,
    sklearn_loaded,  # noqa: F401 - a fixture (imports scikit-learn in setup)
    write_cases,
)

from driftgate.drift import DriftStore, check_drift, stratified_sample
from driftgate.drift.schema import EvalSetSnapshot
from driftgate.errors import ConfigError
from driftgate.store.runs import RunStore

pytestmark = pytest.mark.usefixtures("sklearn_loaded")


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    set_provider("v1")
    return sim_workspace(tmp_path / "ws", n_cases=160)


def test_first_check_records_the_baseline_then_compares(ws: Path) -> None:
    first = check_drift(workspace=ws, vectorizer="tfidf")
    assert first.status == "baseline_recorded" and not first.alert and first.exit_code == 0
    assert "no baseline yet" in first.notes[0]
    store = DriftStore.for_key(__import__("driftgate").Workspace(ws), first.key)
    assert store.load_baseline().run_id == first.run_id
    # Drift detection must hit the provider: no result of the run came from the cache.
    assert not any(r.cached for r in RunStore(ws / "runs").results(first.run_id))

    second = check_drift(workspace=ws, vectorizer="tfidf")
    assert second.status == "checked" and second.baseline_run_id == first.run_id
    assert not second.alert and second.exit_code == 0
    arm = second.arms[0]
    assert arm.arm == "cat · sim/drifttest@prod" and arm.n_common == 160
    assert {s.verdict for s in arm.signals} == {"ok"}
    assert [c.id for c in store.checks()] == [first.id, second.id]


def test_silent_provider_update_alerts_with_the_right_signals(ws: Path) -> None:
    check_drift(workspace=ws, vectorizer="tfidf")
    set_provider("v2", segment_accuracy={"cohort=new-bank-format": 0.6})
    check = check_drift(workspace=ws, vectorizer="tfidf")
    assert check.alert and check.exit_code == 1
    arm = check.arms[0]
    fired = {s.name for s in arm.signals if s.verdict == "drift"}
    assert {"score_change", "fingerprint_change"} <= fired
    assert arm.signal("score_change").detail["worst"] == "cohort=new-bank-format"


def test_rebaseline_resets_and_keeps_the_sample(ws: Path) -> None:
    check_drift(workspace=ws, vectorizer="tfidf", sample=60)
    set_provider("v3-verbose")
    again = check_drift(workspace=ws, vectorizer="tfidf", rebaseline=True)
    assert again.status == "baseline_recorded" and "new baseline" in again.notes[0]
    assert again.cases == 60
    after = check_drift(workspace=ws, vectorizer="tfidf")
    assert not after.alert and after.baseline_run_id == again.run_id


def test_too_few_cases_give_insufficient_data_not_a_verdict(ws: Path) -> None:
    check_drift(workspace=ws, vectorizer="tfidf", sample=10)
    set_provider("v2", fingerprint="fp_acme_v1_0a1b", accuracy=0.3, segment_accuracy={})
    check = check_drift(workspace=ws, vectorizer="tfidf")
    arm = check.arms[0]
    score = arm.signal("score_change")
    assert score.verdict == "insufficient_data" and score.min_n == 30 and score.n == 10
    assert {s.verdict for s in arm.signals if s.name != "fingerprint_change"} <= {
        "insufficient_data",
        "ok",
    }
    assert not check.alert


def test_fixed_stratified_sample(ws: Path) -> None:
    first = check_drift(workspace=ws, vectorizer="tfidf", sample=40)
    assert first.cases == 40
    second = check_drift(workspace=ws, vectorizer="tfidf")  # the baseline's sample is kept
    assert second.sample == 40 and second.arms[0].n_common == 40
    ids = lambda run: sorted(r.case_id for r in RunStore(ws / "runs").results(run))  # noqa: E731
    assert ids(first.run_id) == ids(second.run_id)
    segs = [r.segment for r in RunStore(ws / "runs").results(first.run_id)]
    assert segs.count("cohort=new-bank-format") == 20


def test_stratified_sample_allocation_and_stability() -> None:
    segs = {f"c{i}": ("a" if i < 90 else "b") for i in range(100)}
    snap = EvalSetSnapshot(
        name="tx", path="tx.jsonl", digest="x", cases=dict.fromkeys(segs, "d"), segments=segs
    )
    chosen = stratified_sample(snap, 20, seed=0)
    assert len(chosen) == 20 and sum(segs[c] == "b" for c in chosen) == 2
    assert stratified_sample(snap, 20, seed=0) == chosen
    assert stratified_sample(snap, 20, seed=1) != chosen
    # Adding cases barely moves the sample: ids are ranked by hash, not by position.
    more = dict(segs) | {f"n{i}": "a" for i in range(10)}
    snap2 = snap.model_copy(update={"segments": more, "cases": dict.fromkeys(more, "d")})
    assert len(set(stratified_sample(snap2, 20, seed=0)) & set(chosen)) >= 15
    tiny = stratified_sample(snap, 2, seed=0)
    assert sorted(segs[c] for c in tiny) == ["a", "b"]


def test_changed_golden_set_uses_common_cases_and_reports_it(ws: Path) -> None:
    check_drift(workspace=ws, vectorizer="tfidf")
    # Remove 10 cases, add 20, and relabel 5 of the remaining ones.
    write_cases(
        ws / "evalsets" / "tx.jsonl",
        [*range(10, 160), *range(500, 520)],
        relabel=set(range(10, 15)),
    )
    check = check_drift(workspace=ws, vectorizer="tfidf")
    (change,) = check.golden_set_changes
    assert (change.added, change.removed, change.modified, change.common) == (20, 10, 5, 145)
    assert change.examples["modified"] == ["c0010", "c0011", "c0012", "c0013", "c0014"]
    assert check.arms[0].n_common == 145
    assert any("changed since the baseline" in n and "145 unchanged" in n for n in check.notes)
    assert not check.alert  # relabelled cases are left out, so they cannot look like drift


def test_missing_baseline_run_is_a_clear_error(ws: Path) -> None:
    first = check_drift(workspace=ws, vectorizer="tfidf")
    import shutil

    shutil.rmtree(ws / "runs" / first.run_id)
    with pytest.raises(ConfigError, match="baseline run .* is missing") as exc:
        check_drift(workspace=ws, vectorizer="tfidf")
    assert "--rebaseline" in str(exc.value)


def test_drift_config_file_is_read_and_validated(ws: Path) -> None:
    cfg = ws / "evalsets" / "main.drift.yaml"
    cfg.write_text("drift:\n  triggers:\n    - {min_signals: 1, signals: [answer_mismatch]}\n")
    check_drift(workspace=ws, vectorizer="tfidf")
    set_provider("v1", seed=9)  # fresh draws: ~20% of answers change, nothing else
    check = check_drift(workspace=ws, vectorizer="tfidf")
    assert check.alert and check.arms[0].fired == ["1-of-answer_mismatch"]

    cfg.write_text(
        "drift:\n  signals:\n    answer_mismatch: {threshold: 0.5}\n    score_chnage: {}\n"
    )
    with pytest.raises(ConfigError) as exc:
        check_drift(workspace=ws, vectorizer="tfidf")
    msg = str(exc.value)
    assert (
        "main.drift.yaml:4 [signals.score_chnage]" in msg and "did you mean 'score_change'" in msg
    )

    cfg.write_text("drift:\n  min_segment_cases: one\n")
    with pytest.raises(ConfigError, match=r"main.drift.yaml:2 \[min_segment_cases\]"):
        check_drift(workspace=ws, vectorizer="tfidf")


def test_check_file_is_a_validated_model(ws: Path) -> None:
    check_drift(workspace=ws, vectorizer="tfidf")
    check = check_drift(workspace=ws, vectorizer="tfidf")
    path = next((ws / ".driftgate" / "drift" / check.key / "checks").glob(f"{check.id}.json"))
    data = json.loads(path.read_text())
    assert data["arms"][0]["signals"][0]["name"] == "score_change"
    assert data["baseline_run_id"] == check.baseline_run_id


def test_baseline_model_compares_two_recorded_models_directly(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two models of one replay file, compared in one check (#18): the stored baseline and
    the check history are untouched."""
    monkeypatch.setenv("DRIFTGATE_WORKSPACE", str(ws))
    cases = [json.loads(line) for line in (ws / "evalsets" / "tx.jsonl").read_text().splitlines()]
    rows = []
    for i, c in enumerate(cases):
        rows.append({"id": c["id"], "llm": "A", "output": c["expected"]})
        wrong = c["segment"] == "cohort=new-bank-format" and i % 2 == 0
        rows.append({"id": c["id"], "llm": "B", "output": "rent" if wrong else c["expected"]})
    (ws / "rec.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    check = check_drift(
        workspace=ws,
        models=["replay/rec.jsonl?model_column=llm&model=B"],
        baseline_model="replay/rec.jsonl?model_column=llm&model=A",
        vectorizer="tfidf",
    )
    assert check.status == "checked" and check.alert and "baseline: model" in check.notes[0]
    arm = check.arms[0]
    assert arm.n_common == len(cases)
    fired = {s.name for s in arm.signals if s.verdict == "drift"}
    assert {"score_change", "fingerprint_change"} <= fired
    store = DriftStore.for_key(__import__("driftgate").Workspace(ws), check.key)
    assert store.load_baseline() is None and store.checks() == []
