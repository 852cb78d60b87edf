"""Prompt drift on logged inputs, and prompts whose digest no run evaluated."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from drift_helpers import (
    set_provider,
    sim_workspace,
    sklearn_loaded,  # noqa: F401 - a fixture (imports scikit-learn in setup)
)

from driftgate.drift import check_traffic, unreviewed_artifacts
from driftgate.errors import ConfigError
from driftgate.workspace import Workspace

pytestmark = pytest.mark.usefixtures("sklearn_loaded")


def log(
    n: int, seed: int, *, new_share: float = 0.0, confidence: float = 0.9, edits: float = 0.05
) -> list[dict]:
    """Requests like the golden set's (MERCHANT i REFx, two banks), or a new layout/bank."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        i = rng.randrange(200)  # the golden set's merchants
        if rng.random() < new_share:
            text, bank = f"CNP {i % 28 + 1:02d}/03 Shop-{i % 97}*Online GBR REF{i % 9973}", "nova"
        else:
            text, bank = f"MERCHANT {i} REF{i * 7919 % 10007}", rng.choice(["lumen", "northwind"])
        out.append(
            {
                "vars": {"description": text, "bank": bank},
                "confidence": round(rng.gauss(confidence, 0.05), 3),
                "feedback": {"action": "edit" if rng.random() < edits else "accept"},
            }
        )
    return out


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    set_provider("v1")
    return sim_workspace(tmp_path / "ws", n_cases=200)


def by_name(report) -> dict[str, str]:
    return {s.name: s.verdict for s in report.signals}


def test_unshifted_traffic_is_quiet(ws: Path) -> None:
    report = check_traffic(
        log(300, 1), workspace=ws, reference=log(300, 2), vectorizer="tfidf", check_unreviewed=False
    )
    assert report.field == "description"  # the prompt's only text variable
    assert not report.fired and not report.alert
    assert by_name(report)["input_shift"] == "ok" and by_name(report)["far_inputs"] == "ok"
    assert by_name(report)["override_rate"] == "ok"  # feedback logged, never an override
    assert by_name(report)["psi_length"] == "ok"


def test_shift_to_a_new_cohort_alerts_on_several_signals(ws: Path) -> None:
    shifted = log(300, 3, new_share=0.5, confidence=0.8, edits=0.2)
    report = check_traffic(
        shifted, workspace=ws, reference=log(300, 2), vectorizer="tfidf", check_unreviewed=False
    )
    v = by_name(report)
    for name in (
        "input_shift",
        "far_inputs",
        "psi_categorical",
        "input_shift_window",
        "psi_window",
        "confidence_drop",
        "edit_rate",
    ):
        assert v[name] == "drift", name
    far = next(s for s in report.signals if s.name == "far_inputs")
    assert 0.4 < far.value < 0.6 and far.detail["examples"][0].startswith("CNP")
    psi = next(s for s in report.signals if s.name == "psi_categorical")
    assert psi.detail["worst"] == "bank"
    assert report.alert and report.exit_code == 1


def test_window_splits_one_log(ws: Path, tmp_path: Path) -> None:
    path = tmp_path / "logs.jsonl"
    path.write_text(
        "\n".join(json.dumps(r) for r in log(200, 4) + log(200, 5, new_share=0.6)) + "\n"
    )
    report = check_traffic(
        path, workspace=ws, window=200, vectorizer="tfidf", check_unreviewed=False
    )
    assert report.reference == "the 200 records before the last 200" and report.records == 200
    assert by_name(report)["input_shift_window"] == "drift"
    with pytest.raises(ConfigError, match="needs at least 1000 records"):
        check_traffic(path, workspace=ws, window=500, vectorizer="tfidf")


def test_identical_windows_have_auc_one_half(ws: Path, tmp_path: Path) -> None:
    """The same traffic replayed twice: the classifier cannot tell the windows apart
    (identical rows stay in one fold), so the AUC is chance, not below it."""
    path = tmp_path / "replayed.jsonl"
    same = log(200, 4)
    path.write_text("\n".join(json.dumps(r) for r in same + same) + "\n")
    report = check_traffic(
        path, workspace=ws, window=200, vectorizer="tfidf", check_unreviewed=False
    )
    shift = next(s for s in report.signals if s.name == "input_shift_window")
    assert shift.verdict == "ok" and abs(shift.value - 0.5) < 0.05, shift.value


def test_bad_log_lines_and_fields_are_clear_errors(ws: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"description": "a"}\n{oops\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: invalid JSON"):
        check_traffic(path, workspace=ws, vectorizer="tfidf")
    with pytest.raises(ConfigError, match="no log record has a text field 'title'") as exc:
        check_traffic(log(50, 1), workspace=ws, field="title", vectorizer="tfidf")
    assert "bank" in str(exc.value)  # the hint lists the fields that are there


def test_unreviewed_prompt_digest_is_flagged(ws: Path) -> None:
    import driftgate

    driftgate.run(workspace=ws)  # evaluates the current prompt
    w = Workspace(ws)
    assert unreviewed_artifacts(w) == []
    prompt = ws / "prompts" / "cat.yaml"
    data = json.loads(prompt.read_text())
    data["messages"][0]["content"] = "Label this transaction: {{ description }}"
    prompt.write_text(json.dumps(data))
    (flag,) = unreviewed_artifacts(Workspace(ws))
    assert flag.ref == "cat" and flag.source == "prompts/cat.yaml"
    assert len(flag.evaluated_digests) == 1 and flag.evaluated_digests[0] != flag.digest
    report = check_traffic(log(100, 1), workspace=ws, reference=log(100, 2), vectorizer="tfidf")
    assert report.unreviewed[0].digest == flag.digest
    # By default an unreviewed change is a notice: reported, but no alert (exit 0).
    assert not report.fired and not report.alert and report.exit_code == 0
    assert not report.unreviewed_alerts
    # The drift settings can make it an alert on its own.
    from driftgate.drift.config import DriftConfig

    strict = DriftConfig.model_validate({"traffic": {"unreviewed": "alert"}})
    report = check_traffic(
        log(100, 1), workspace=ws, reference=log(100, 2), vectorizer="tfidf", config=strict
    )
    assert report.unreviewed_alerts and report.alert and not report.fired
    assert report.exit_code == 1
    with pytest.raises(ValueError, match="unreviewed"):
        DriftConfig.model_validate({"traffic": {"unreviewed": "page"}})
