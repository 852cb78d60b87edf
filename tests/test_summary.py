import math
import sys
import types

import pytest

from driftgate.errors import DriftgateError
from driftgate.store.records import CaseResult, ScoreRecord
from driftgate.summary import SummaryBuilder, arm_key, segment_key, summarize, wilson


def res(
    case: str,
    *,
    prompt="p@1",
    model="m",
    passed=True,
    error=None,
    score=None,
    segment=None,
    latency=None,
    cost=None,
    tokens=(0, 0),
    scores=(),
    expected=None,
    parsed=None,
    repeat=0,
):
    if score is None and error is None:
        score = 1.0 if passed else 0.0
    return CaseResult(
        run_id="r1",
        key=f"{prompt}|{model}|set|{case}|{repeat}",
        evalset="set",
        case_id=case,
        segment=segment,
        prompt=prompt,
        prompt_digest="d",
        model=model,
        repeat=repeat,
        passed=passed and error is None,
        error=error,
        score=score,
        latency_ms=latency,
        cost_usd=cost,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        scores=[ScoreRecord(metric=m, value=v, passed=v >= 0.5, error=e) for m, v, e in scores],
        expected=expected,
        parsed=parsed,
        ts=0.0,
    )


def test_wilson_known_values():
    lo, hi = wilson(8, 10)
    # Reference values for the Wilson 95% interval of 8/10.
    assert lo == pytest.approx(0.4902, abs=1e-4)
    assert hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 0) is None
    lo, hi = wilson(0, 5)
    assert lo == 0.0 and 0.4 < hi < 0.5
    lo, hi = wilson(5, 5)
    assert hi == 1.0 and 0.5 < lo < 0.6


def test_totals_and_errors_are_not_passes():
    results = [
        res("a", latency=100, cost=0.01, tokens=(10, 2)),
        res("b", latency=200, cost=0.02, tokens=(20, 3)),
        res("c", passed=False, latency=300, cost=0.03, tokens=(30, 4)),
        res("d", error="timeout", latency=5000),
    ]
    s = summarize(results)
    assert (s.results, s.passed, s.failed, s.errors) == (4, 2, 1, 1)
    assert s.pass_rate == 0.5  # the errored case is in the denominator
    assert s.error_rate == 0.25
    # mean over scored results only: (1 + 1 + 0) / 3
    assert s.mean_score == pytest.approx(2 / 3)
    assert s.cost_usd == pytest.approx(0.06)
    assert (s.input_tokens, s.output_tokens) == (60, 9)
    assert s.latency_p50_ms == pytest.approx(250.0)
    # numpy linear interpolation on [100, 200, 300, 5000]
    assert s.latency_p95_ms == pytest.approx(300 + 0.85 * 4700)


def test_dict_passed_true_with_error_still_not_a_pass():
    d = res("a").model_dump()
    d["error"] = "boom"
    d["passed"] = True  # inconsistent input: an error is never a pass
    s = summarize([d])
    assert (s.passed, s.errors, s.failed) == (0, 1, 0)


def test_by_arm_and_segment():
    results = [
        res("a", segment="retail", latency=10),
        res("b", segment="retail", passed=False, latency=20),
        res("c", segment=None, latency=30),
        res("a", model="m2", segment="retail", passed=False, latency=40),
        res("b", model="m2", segment="retail", error="rate limit"),
    ]
    s = summarize(results)
    assert set(s.by_arm) == {"p@1 · m", "p@1 · m2"}
    a = s.by_arm[arm_key("p@1", "m")]
    assert (a["results"], a["passed"], a["errors"], a["prompt"], a["model"]) == (
        3,
        2,
        0,
        "p@1",
        "m",
    )
    assert a["pass_rate"] == pytest.approx(2 / 3)
    assert a["pass_rate_ci"] == pytest.approx(list(wilson(2, 3)))
    assert a["latency_p50_ms"] == pytest.approx(20)
    b = s.by_arm["p@1 · m2"]
    assert (b["results"], b["passed"], b["errors"], b["failed"]) == (2, 0, 1, 1)
    assert b["latency_p95_ms"] == pytest.approx(40)  # the errored one had no latency
    assert set(s.by_segment) == {"p@1 · m · retail", "p@1 · m · (none)", "p@1 · m2 · retail"}
    seg = s.by_segment[segment_key("p@1", "m", "retail")]
    assert (seg["results"], seg["passed"], seg["segment"]) == (2, 1, "retail")
    assert s.by_segment["p@1 · m · (none)"]["segment"] is None
    assert s.latency_p50_ms == pytest.approx(25)  # overall: [10, 20, 30, 40]


def test_metric_means_skip_scorer_errors():
    results = [
        res("a", scores=[("category", 1.0, None), ("latency", 0.5, None)]),
        res("b", scores=[("category", 0.0, None), ("latency", 0.0, "judge down")]),
    ]
    s = summarize(results)
    means = s.by_arm["p@1 · m"]["metric_means"]
    assert means == {"category": 0.5, "latency": 0.5}


def test_empty_input():
    s = summarize([])
    assert s.results == 0 and s.pass_rate is None and s.latency_p95_ms is None
    assert s.by_arm == {} and s.metrics == {}


def test_bad_input_names_the_result():
    with pytest.raises(DriftgateError, match="result #2 has no 'model'"):
        summarize([res("a").model_dump(), {"prompt": "p"}])


def test_label_metrics_per_arm_use_parsed_strings(monkeypatch):
    calls = []

    def label_metrics(expected, predicted, names, labels=None):
        calls.append((expected, predicted, names, labels))
        hits = sum(e == p for e, p in zip(expected, predicted, strict=True))
        return {"accuracy": hits / len(expected)}

    fake = types.ModuleType("driftgate.scoring.metrics")
    fake.label_metrics = label_metrics
    monkeypatch.setitem(sys.modules, "driftgate.scoring.metrics", fake)
    results = [
        res("a", expected="food", parsed="food"),
        res(
            "b", expected="rent", parsed={"label": "rent"}, passed=False
        ),  # not a str: no prediction
        res("c", expected="rent", parsed="rent", error="timeout"),  # errored: no prediction
        res("a", model="m2", expected="food", parsed="rent", passed=False),
    ]
    s = summarize(results, metrics=["accuracy"], labels={"p@1": ("food", "rent", "travel")})
    assert s.metrics["p@1 · m"] == {"accuracy": pytest.approx(1 / 3)}
    assert s.metrics["p@1 · m2"] == {"accuracy": 0.0}
    assert calls[0] == (
        ["food", "rent", "rent"],
        ["food", None, None],
        ["accuracy"],
        ["food", "rent", "travel"],
    )


def test_no_metrics_means_no_metrics_import(monkeypatch):
    monkeypatch.setitem(sys.modules, "driftgate.scoring.metrics", None)  # import would fail
    s = summarize([res("a", expected="x", parsed="x")])
    assert s.metrics == {}


def test_builder_streams_and_repeats_count_separately():
    b = SummaryBuilder()
    for i in range(1000):
        b.add(res("c", repeat=i, passed=i % 4 != 0, latency=float(i)))
    s = b.build()
    assert s.results == 1000 and s.passed == 750
    assert s.latency_p50_ms == pytest.approx(499.5)
    lo, hi = s.by_arm["p@1 · m"]["pass_rate_ci"]
    assert lo < 0.75 < hi and hi - lo < 0.06
    assert not any(math.isnan(x) for x in (lo, hi))


@pytest.mark.slow  # imports scikit-learn (~3 s here)
def test_label_metrics_with_the_real_module():
    pytest.importorskip("sklearn")
    results = [
        res("a", expected="food", parsed="food"),
        res("b", expected="rent", parsed="food", passed=False),
        res("c", expected="rent", parsed="Rent"),
        res("d", expected="food", error="timeout"),
    ]
    s = summarize(results, metrics=["accuracy", "macro_f1"], labels={"p@1": ["food", "rent"]})
    m = s.metrics["p@1 · m"]
    # "Rent" normalizes to rent; the errored case is a None prediction, so wrong.
    assert m["n"] == 4 and m["accuracy"] == pytest.approx(0.5)
    # food: P=1/2 R=1/2 F1=0.5; rent: P=1 R=1/2 F1=2/3
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_latency_percentiles_match_numpy():
    import random
    from array import array

    import numpy as np

    from driftgate.summary import _percentiles

    rng = random.Random(1)
    parts = [array("d", [rng.expovariate(0.01) for _ in range(n)]) for n in (7, 0, 300, 1)]
    p50, p95 = _percentiles(parts)
    ref = np.percentile(np.concatenate([np.frombuffer(a) for a in parts if len(a)]), [50, 95])
    assert abs(p50 - ref[0]) < 1e-9 and abs(p95 - ref[1]) < 1e-9
    assert _percentiles([array("d")]) == (None, None)


def test_mean_confidence_per_arm_and_segment_only_when_reported():
    a = res("a", model="knn", segment="old").model_copy(update={"confidence": 0.9})
    b = res("b", model="knn", segment="new").model_copy(update={"confidence": 0.5})
    c = res("c", model="knn", segment="new", error="boom")  # no answer, no confidence
    llm = res("d", model="llm", segment="old")
    s = summarize([a, b, c, llm])
    knn = s.by_arm[arm_key("p@1", "knn")]
    assert knn["mean_confidence"] == pytest.approx(0.7) and knn["confidence_n"] == 2
    assert "mean_confidence" not in s.by_arm[arm_key("p@1", "llm")]
    assert s.by_segment[segment_key("p@1", "knn", "new")]["mean_confidence"] == 0.5
    # The dict form of a result (a stored line) counts the same.
    same = summarize([r.model_dump() for r in (a, b, c, llm)])
    assert same.by_arm == s.by_arm


def test_result_lines_written_before_confidences_still_load():
    line = res("a").model_dump()
    del line["confidence"], line["label_probs"]
    old = CaseResult.model_validate(line)
    assert old.confidence is None and old.label_probs is None
    assert "mean_confidence" not in summarize([line]).by_arm[arm_key("p@1", "m")]
