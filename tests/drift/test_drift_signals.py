"""Each provider-drift signal fires on its own kind of change and stays quiet otherwise."""

from __future__ import annotations

import pytest
from drift_helpers import (
    results,
    sklearn_loaded,  # noqa: F401 - a fixture (imports scikit-learn in setup)
)

from driftgate.drift import DriftConfig, SignalSettings, TriggerRule, compare_sides
from driftgate.drift.schema import ArmCheck

pytestmark = pytest.mark.usefixtures("sklearn_loaded")


def verdicts(arm: ArmCheck) -> dict[str, str]:
    return {s.name: s.verdict for s in arm.signals}


def drifted(arm: ArmCheck) -> set[str]:
    return {s.name for s in arm.signals if s.verdict == "drift"}


def test_identical_behaviour_is_quiet() -> None:
    base = results(seed=1)
    arm = compare_sides(base, results(seed=1))
    assert drifted(arm) == set()
    assert not arm.alert
    assert arm.n_common == 200
    assert arm.signal("answer_mismatch").value == 0.0


def test_independent_draws_of_the_same_behaviour_fire_no_trigger() -> None:
    arm = compare_sides(results(seed=1), results(seed=2))
    # Fresh draws change ~20% of answers (mismatch fires alone at its default), nothing else.
    assert drifted(arm) <= {"answer_mismatch"}
    assert not arm.alert


def test_segment_drop_is_found_in_its_segment() -> None:
    base = results(n=400, seed=1)
    worse = results(n=400, seed=1, segment_accuracy={"cohort=new": 0.7})
    arm = compare_sides(base, worse)
    s = arm.signal("score_change")
    assert s.verdict == "drift"
    assert s.detail["worst"] == "cohort=new"
    seg = next(g for g in s.detail["groups"] if g["group"] == "cohort=new")
    assert -0.3 < seg["delta"] < -0.12  # 0.9 → 0.7 on 200 cases
    assert seg["ci_high"] < 0
    # One quality signal alone is enough under the default rules.
    assert arm.alert and arm.fired == ["quality"]


def test_verbosity_with_equal_accuracy() -> None:
    arm = compare_sides(results(seed=1), results(seed=1, pad=10))
    assert {"length_shift", "output_shift", "cost_change", "answer_mismatch"} <= drifted(arm)
    assert verdicts(arm)["score_change"] == "ok"
    assert verdicts(arm)["label_shift"] == "ok"
    assert arm.signal("length_shift").value == pytest.approx(1.0)


def test_format_break_on_five_percent() -> None:
    arm = compare_sides(results(n=400, seed=1), results(n=400, seed=1, invalid=0.05))
    s = arm.signal("format_validity")
    assert s.verdict == "drift"
    assert s.detail["rate_a"] == 0.0 and 0.03 < s.detail["rate_b"] < 0.08
    assert s.detail["examples"][0]["output"] == "unsure"
    assert verdicts(arm)["refusal_rate"] == "ok"


def test_refusals_are_not_format_errors() -> None:
    arm = compare_sides(results(n=400, seed=1), results(n=400, seed=1, refusals=0.06))
    assert verdicts(arm)["refusal_rate"] == "drift"
    assert verdicts(arm)["format_validity"] == "ok"


def test_provider_errors() -> None:
    arm = compare_sides(results(n=400, seed=1), results(n=400, seed=1, errors=0.08))
    err = arm.signal("error_rate")
    assert (
        err.verdict == "drift"
        and 0.05 < err.detail["rate_b"] < 0.12
        and err.detail["rate_a"] == 0.0
    )
    assert arm.signal("score_change").verdict == "drift"  # an unanswered case is a failed case
    assert arm.signal("format_validity").verdict == "ok"  # errors are not format breaks
    assert arm.alert and arm.fired == ["two-signals", "quality"]


def test_fingerprint_and_latency() -> None:
    arm = compare_sides(results(seed=1), results(seed=1, fingerprint="fp_b", latency=300.0))
    fp = arm.signal("fingerprint_change")
    assert fp.verdict == "drift" and fp.detail["new"] == ["fp_b"]
    lat = arm.signal("latency_change")
    assert lat.verdict == "drift" and 1.5 < lat.value < 2.6


def test_too_few_cases_is_insufficient_data_never_a_verdict() -> None:
    arm = compare_sides(
        results(n=12, seed=1), results(n=12, seed=1, segment_accuracy={"cohort=new": 0.0})
    )
    v = verdicts(arm)
    for name in (
        "score_change",
        "answer_mismatch",
        "output_shift",
        "label_shift",
        "length_shift",
        "format_validity",
    ):
        assert v[name] == "insufficient_data", name
    s = arm.signal("score_change")
    assert s.min_n == 30 and s.n == 12 and s.value is None
    assert "needs 30" in s.summary
    assert not arm.alert or drifted(arm) <= {"fingerprint_change", "latency_change", "cost_change"}


def test_small_segments_are_tested_only_within_the_total() -> None:
    cfg = DriftConfig(min_segment_cases=150)
    arm = compare_sides(results(n=200, seed=1), results(n=200, seed=1), config=cfg)
    s = arm.signal("score_change")
    assert [g["group"] for g in s.detail["groups"]] == ["overall"]
    assert len(s.detail["skipped_segments"]) == 2


def test_config_thresholds_triggers_and_disabled_signals() -> None:
    cfg = DriftConfig(
        signals={
            "answer_mismatch": SignalSettings(threshold=0.5),
            "latency_change": SignalSettings(enabled=False),
            "output_mmd": SignalSettings(enabled=True),
        },
        triggers=[TriggerRule(min_signals=1, signals=["format_validity"], name="format")],
    )
    arm = compare_sides(results(seed=1), results(seed=2, invalid=0.1), config=cfg)
    names = [s.name for s in arm.signals]
    assert "latency_change" not in names and "output_mmd" in names
    mm = arm.signal("answer_mismatch")
    assert mm.threshold == 0.5 and mm.threshold_source == "config" and mm.verdict == "ok"
    assert arm.fired == ["format"]


def test_vectorizer_is_injectable() -> None:
    calls = []

    def fake(texts):
        import numpy as np

        calls.append(len(texts))
        return np.array([[len(t), t.count(" ")] for t in texts], dtype=float)

    arm = compare_sides(results(seed=1), results(seed=1, pad=5), vectorizer=fake)
    assert calls == [400]
    s = arm.signal("output_shift")
    assert s.verdict == "drift" and s.detail["vectorizer"] == "fake"


@pytest.mark.slow
def test_auto_vectorizer_uses_the_embedder_when_it_loads() -> None:
    arm = compare_sides(results(seed=1), results(seed=1, pad=5), vectorizer="auto")
    s = arm.signal("output_shift")
    assert s.verdict == "drift"
    # With torch and the weights installed the embedder is used; otherwise TF-IDF, and why.
    assert s.detail["vectorizer"] == "embedder" or s.detail.get("embedder_unavailable")


def test_output_shift_of_byte_identical_outputs_is_one_half() -> None:
    arm = compare_sides(results(seed=1), results(seed=1))
    s = arm.signal("output_shift")
    assert s.value == pytest.approx(0.5, abs=0.03) and s.verdict == "ok"


@pytest.mark.parametrize(
    "text, refused",
    [
        ("I'm sorry, but I can't help with that.", True),
        ("Sorry — that is not something I can share.", True),
        ("As an AI language model, I cannot help with that request.", True),
        ("I cannot provide medical advice. Please see a doctor.", True),
        # Mid-answer, the phrase is content: the answer answers (#18).
        ("Paris is the capital. As an AI language model, I cannot browse the web.", False),
        ("The capital of France is Paris, as an AI would tell you.", False),
        ("As an AI language model, I can tell you the capital is Paris.", False),
        ("Step 1: mix. Step 2: I'm sorry to say it burns easily.", False),
        ("", False),
        (None, False),
    ],
)
def test_a_refusal_opens_the_answer(text: str | None, refused: bool) -> None:
    from driftgate.drift.signals import is_refusal

    assert is_refusal(text) is refused
