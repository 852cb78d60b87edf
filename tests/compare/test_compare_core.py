"""compare_results on hand-made results: alignment, errors, flips, repeats, usage, arms."""

from __future__ import annotations

import pytest

from driftgate.compare import Comparison, compare_results
from driftgate.compare.align import choose_arms, choose_arms_in_run, pick_arm
from driftgate.errors import ConfigError, UnknownNameError
from driftgate.stats import mcnemar_exact
from driftgate.store.records import CaseResult, ScoreRecord


def res(
    case,
    passed=True,
    *,
    model="m1",
    prompt="p@v1",
    evalset="tx",
    segment="s1",
    repeat=0,
    output=None,
    error=None,
    latency=100.0,
    cost=0.001,
    score=None,
    extra=None,
    tags=(),
):
    value = 1.0 if passed else 0.0
    scores = [] if error else [ScoreRecord(metric="category", value=value, passed=passed)]
    if extra is not None and not error:
        scores.append(ScoreRecord(metric="judge", value=extra, passed=extra >= 0.5, weight=0.0))
    return CaseResult(
        run_id="r",
        key=f"{prompt}|{model}|{evalset}|{case}|{repeat}",
        evalset=evalset,
        case_id=case,
        segment=segment,
        tags=list(tags),
        prompt=prompt,
        prompt_digest="d1",
        model=model,
        repeat=repeat,
        expected="yes",
        output=output if output is not None else (None if error else ("yes" if passed else "no")),
        scores=scores,
        score=None if error else (value if score is None else score),
        passed=passed and error is None,
        error=error,
        error_kind="timeout" if error else None,
        latency_ms=latency,
        cost_usd=cost,
        input_tokens=10,
        output_tokens=3,
        ts=1.0,
    )


def test_identical_sides_are_a_tie_with_p_1():
    a = [res(f"c{i}", i % 3 != 0) for i in range(30)]
    b = [res(f"c{i}", i % 3 != 0, model="m2") for i in range(30)]
    cmp = compare_results(a, b)
    assert cmp.n_common == 30 and cmp.primary.delta == 0.0 and cmp.primary.p_value == 1.0
    assert (cmp.wins, cmp.losses, cmp.ties) == (0, 0, 30)
    assert cmp.flipped == [] and cmp.answer_mismatch_rate == 0.0
    assert cmp.a.arm == "p@v1 · m1" and cmp.b.arm == "p@v1 · m2"
    assert set(cmp.overall) == {"pass", "score", "category"}
    # JSON round trip: what reports and CI store.
    assert Comparison.model_validate_json(cmp.model_dump_json()) == cmp


def test_flips_wins_losses_and_mcnemar():
    a = [res(f"c{i}", True) for i in range(20)]
    # B fails c0..c5 (6 regressions) and A... all pass; B also gets c6 'improved'? A passes all.
    b = [res(f"c{i}", i >= 6, model="m2") for i in range(20)]
    a[10] = res("c10", False)  # A fails c10, B passes it: one improvement
    cmp = compare_results(a, b)
    assert (cmp.wins, cmp.losses, cmp.ties) == (1, 6, 13)
    assert cmp.primary.test == "mcnemar-exact"
    assert cmp.primary.p_value == pytest.approx(mcnemar_exact(1, 6))
    assert cmp.primary.delta == pytest.approx(-5 / 20)
    assert [f.case_id for f in cmp.regressed] == ["c0", "c1", "c2", "c3", "c4", "c5"]
    assert [f.case_id for f in cmp.improved] == ["c10"]
    f = cmp.regressed[0]
    assert (f.output_a, f.output_b, f.expected, f.segment) == ("yes", "no", "yes", "s1")
    assert cmp.flipped[0].direction == "regressed"  # regressions listed first
    assert cmp.answer_mismatches == 7 and cmp.answer_mismatch_rate == pytest.approx(7 / 20)


def test_one_sided_cases_are_reported_not_dropped_silently():
    a = [res(f"c{i}") for i in range(10)]
    b = [res(f"c{i}", model="m2") for i in range(3, 12)]
    cmp = compare_results(a, b)
    assert cmp.n_common == 7
    assert cmp.only_a == ["c0", "c1", "c2"] and cmp.only_b == ["c10", "c11"]
    assert any("3 of 10 cases were answered by A only" in w for w in cmp.warnings)
    assert any("2 of 9 cases were answered by B only" in w for w in cmp.warnings)


def test_different_golden_sets_and_no_common_case_are_clear_errors():
    a = [res(f"c{i}") for i in range(5)]
    with pytest.raises(ConfigError, match="different golden sets: A ran 'tx', B ran 'other'"):
        compare_results(a, [res(f"c{i}", evalset="other") for i in range(5)])
    with pytest.raises(ConfigError, match="no case in common: A answered 5 cases .* B answered 4"):
        compare_results(a, [res(f"d{i}") for i in range(4)])
    with pytest.raises(ConfigError, match="only one case in common"):
        compare_results(a, [res("c0"), res("zz")])
    with pytest.raises(ConfigError, match="more than one arm"):
        compare_results(a + [res("c0", model="other")], a)


def test_provider_errors_count_as_failures_and_outputs_differ():
    a = [res(f"c{i}") for i in range(10)]
    b = [res(f"c{i}", model="m2", error="timeout" if i < 2 else None) for i in range(10)]
    cmp = compare_results(a, b, metric="category")
    assert cmp.overall["category"].mean_b == pytest.approx(0.8)
    assert cmp.overall["pass"].losses == 2
    assert cmp.regressed[0].error_b == "timeout" and cmp.regressed[0].output_b is None
    assert cmp.answer_mismatches == 2


def test_repeats_reducers_and_flaky_cases():
    a, b = [], []
    for i in range(6):
        for r in range(3):
            a.append(res(f"c{i}", True, repeat=r))
            # c0: passes 1 of 3 in B; c1: 2 of 3; others always.
            ok = not ((i == 0 and r > 0) or (i == 1 and r == 2))
            b.append(res(f"c{i}", ok, model="m2", repeat=r))
    mean = compare_results(a, b)
    assert mean.primary.mean_b == pytest.approx((1 / 3 + 2 / 3 + 4) / 6)
    assert mean.flaky_b == ["c0", "c1"] and mean.flaky_a == []
    assert mean.primary.test == "sign-flip"  # fractional per-case values
    majority = compare_results(a, b, reducer="majority")
    assert (
        majority.primary.mean_b == pytest.approx(5 / 6) and majority.primary.test == "mcnemar-exact"
    )
    assert [f.case_id for f in majority.regressed] == ["c0"]
    allk = compare_results(a, b, reducer="all-k")
    assert allk.primary.mean_b == pytest.approx(4 / 6)
    passk = compare_results(a, b, reducer="pass@k", k=1)
    assert passk.primary.mean_b == pytest.approx((1 / 3 + 2 / 3 + 4) / 6)
    assert mean.answer_pairs == 18
    with pytest.raises(UnknownNameError):
        compare_results(a, b, reducer="median")


def test_metrics_segments_clusters_and_histograms():
    a = [res(f"c{i}", segment="old" if i < 10 else "new", extra=0.8) for i in range(20)]
    b = [
        res(
            f"c{i}",
            model="m2",
            passed=i < 10 or i % 2 == 0,
            segment="old" if i < 10 else "new",
            extra=0.6,
        )
        for i in range(20)
    ]
    cmp = compare_results(a, b, metric="judge", margin=0.05)
    assert cmp.metric == "judge" and cmp.primary.delta == pytest.approx(-0.2)
    assert cmp.primary.test == "sign-flip" and cmp.verdict == "worse"
    segs = {s.segment: s for s in cmp.segments}
    assert set(segs) == {"new", "old"} and segs["new"].n == 10
    assert segs["new"].results["pass"].delta == pytest.approx(-0.5)
    assert segs["old"].results["pass"].delta == 0.0
    assert set(segs["new"].results) == {"judge", "pass", "score"}
    h = cmp.histograms["judge"]
    assert sum(h.counts_a) == sum(h.counts_b) == 20 and h.counts_a[8] == 20 and h.counts_b[6] == 20
    assert cmp.scales["judge"] == "rate"
    clustered = compare_results(a, b, cluster_by="segment")
    assert clustered.primary.n_clusters == 2 and clustered.primary.test == "cluster-sign-flip"
    by_map = compare_results(
        a, b, cluster_by="source", clusters={f"c{i}": i // 4 for i in range(20)}
    )
    assert by_map.primary.n_clusters == 5
    with pytest.raises(ConfigError, match="one cluster"):
        compare_results(a, b, cluster_by="evalset")
    with pytest.raises(UnknownNameError, match="unknown metric 'judg'"):
        compare_results(a, b, metric="judg")


def test_usage_deltas_median_and_p95():
    a = [res(f"c{i}", latency=100.0 + i, cost=0.001) for i in range(21)]
    b = [res(f"c{i}", model="m2", latency=200.0 + 2 * i, cost=0.003) for i in range(21)]
    cmp = compare_results(a, b)
    lat = cmp.usage_of("latency_ms")
    assert (lat.median_a, lat.median_b, lat.median_delta) == (110.0, 220.0, 110.0)
    assert lat.p95_a == pytest.approx(119.0) and lat.p95_b == pytest.approx(238.0)
    cost = cmp.usage_of("cost_usd")
    assert cost.total_a == pytest.approx(0.021) and cost.total_b == pytest.approx(0.063)


def test_arm_selection():
    arms = ["cat@v1 · sim/acme@v1", "cat@v1 · sim/acme@v2"]
    assert pick_arm(arms, "acme@v2", where="run", option="arm_b") == arms[1]
    assert pick_arm(arms, None, where="run", option="arm_a") is None
    with pytest.raises(ConfigError, match="matches several arms"):
        pick_arm(arms, "acme", where="run", option="arm_a")
    with pytest.raises(ConfigError, match="no arm of run matches 'gpt'"):
        pick_arm(arms, "gpt", where="run", option="arm_a")
    assert choose_arms_in_run(arms, None, None, where="run") == (arms[0], arms[1])
    assert choose_arms_in_run(arms, "v2", None, where="run") == (arms[1], arms[0])
    with pytest.raises(ConfigError, match="both select"):
        choose_arms_in_run(arms, "v2", "acme@v2", where="run")
    with pytest.raises(ConfigError, match="single arm"):
        choose_arms_in_run(arms[:1], None, None, where="run")
    # Two runs: single arms pair up; several arms match by name or by the other selector.
    assert choose_arms(["x"], ["y"], None, None, where_a="A", where_b="B") == ("x", "y")
    assert choose_arms(arms, arms, "v2", None, where_a="A", where_b="B") == (arms[1], arms[1])
    assert choose_arms(arms, [arms[0]], None, None, where_a="A", where_b="B") == (arms[0], arms[0])
    with pytest.raises(ConfigError, match="choose which to compare"):
        choose_arms(arms, arms, None, None, where_a="A", where_b="B")
