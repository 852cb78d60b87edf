"""The rules of a gate policy, evaluated on two lists of results, and the verdict they make."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ..store.records import CaseResult
from .policy import GatePolicy
from .verdict import GateVerdict, RuleResult

if TYPE_CHECKING:
    from ..compare.schema import Comparison
    from ..stats.paired import PairedResult
    from .policy import Budget


def evaluate_gate(
    candidate_results: Iterable[CaseResult | dict[str, Any]],
    baseline_results: Iterable[CaseResult | dict[str, Any]] | None,
    policy: GatePolicy | None = None,
    *,
    candidate: str = "candidate",
    baseline: str = "baseline",
    candidate_digest: str | None = None,
    baseline_digest: str | None = None,
) -> GateVerdict:
    """Apply `policy` to a candidate's results and (None = no baseline) the baseline's.

    Pure: no files, no runs. Raises ConfigError when the policy names a metric, golden
    set or segment the results do not have (bad input: exit 2, nothing decided).
    """
    policy = policy or GatePolicy()
    rules, n_cases, warnings = evaluate_rules(candidate_results, baseline_results, policy)
    return GateVerdict(
        passed=all(r.status != "fail" for r in rules),
        candidate=candidate,
        candidate_digest=candidate_digest,
        baseline=baseline if baseline_results is not None else None,
        baseline_digest=baseline_digest if baseline_results is not None else None,
        policy=str(policy.source) if policy.source else "built-in default",
        metric=policy.metric,
        confidence=policy.confidence,
        n_cases=n_cases,
        rules=rules,
        warnings=warnings,
    )


def evaluate_rules(
    candidate_results: Iterable[CaseResult | dict[str, Any]],
    baseline_results: Iterable[CaseResult | dict[str, Any]] | None,
    policy: GatePolicy,
) -> tuple[list[RuleResult], int, list[str]]:
    """(rule results, cases judged, warnings)."""
    cand = [_as_result(r) for r in candidate_results]
    base = [_as_result(r) for r in baseline_results] if baseline_results is not None else None
    where = str(policy.source) if policy.source else "gate policy"
    if not cand:
        raise ConfigError("the candidate has no results to gate", path=where)
    if base is not None and not base:
        raise ConfigError("the baseline has no results to compare with", path=where)
    _validate(policy, cand, base, where)
    warnings: list[str] = []
    comparison = None
    if base is not None and (policy.non_inferiority is not None or policy.segments is not None):
        from ..compare import compare_results

        margin = policy.non_inferiority.margin if policy.non_inferiority else 0.0
        comparison = compare_results(
            base,
            cand,
            metric=policy.metric,
            margin=margin,
            confidence=policy.confidence,
            seed=policy.seed,
        )
        warnings += comparison.warnings
    elif base is None:
        warnings.append("no baseline: the rules that compare against it are skipped")
    n_cases = comparison.n_common if comparison else len({(r.evalset, r.case_id) for r in cand})

    rules = [_min_cases(policy, n_cases, base is not None)]
    rules += _required(policy, cand, base)
    rules += [_floor(f, cand, policy.confidence) for f in policy.floors]
    rules += _paired(policy, comparison)
    for name, field, stat in (("cost", "cost_usd", "mean"), ("latency_p95", "latency_ms", "p95")):
        budget = getattr(policy, name)
        if budget is not None:
            rules += _budget(
                name, budget, _stat(cand, field, stat), _stat(base, field, stat) if base else None
            )
    return rules, n_cases, warnings


def _as_result(r: CaseResult | dict[str, Any]) -> CaseResult:
    return r if isinstance(r, CaseResult) else CaseResult.model_validate(r)


def _rule(**kw: Any) -> RuleResult:
    return RuleResult(**kw)


def _validate(
    policy: GatePolicy, cand: list[CaseResult], base: list[CaseResult] | None, where: str
) -> None:
    metrics = ["pass", "score", *dict.fromkeys(s.metric for r in cand for s in r.scores)]
    evalsets = sorted({r.evalset for r in cand})
    segments = {r.segment for r in [*cand, *(base or [])] if r.segment is not None}

    def unknown(what: str, name: str, valid: list[str], field: str) -> ConfigError:
        close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
        return ConfigError(
            f"unknown {what} {name!r}; the results have: {', '.join(valid) or 'none'}",
            path=where,
            field=field,
            hint=f"did you mean {', '.join(map(repr, close))}?" if close else None,
        )

    if policy.metric not in metrics:
        raise unknown("metric", policy.metric, metrics, "metric")
    for i, f in enumerate(policy.floors):
        if f.metric not in metrics:
            raise unknown("metric", f.metric, metrics, f"floors[{i}].metric")
        if f.evalset is not None and f.evalset not in evalsets:
            raise unknown("golden set", f.evalset, evalsets, f"floors[{i}].evalset")
        if f.segment is not None:
            segs = sorted({r.segment for r in cand if r.segment and f.evalset in (None, r.evalset)})
            if f.segment not in segs:
                raise unknown("segment", f.segment, segs, f"floors[{i}].segment")
    if policy.segments is not None:
        for seg in policy.segments.margins:
            if seg not in segments:
                raise unknown("segment", seg, sorted(segments), f"segments.margins.{seg}")


def _min_cases(policy: GatePolicy, n: int, paired: bool) -> RuleResult:
    return _rule(
        rule="min_cases",
        name="minimum cases",
        status="pass" if n >= policy.min_cases else "fail",
        observed=float(n),
        threshold=float(policy.min_cases),
        detail="paired cases" if paired else "candidate cases",
    )


def _required(
    policy: GatePolicy, cand: list[CaseResult], base: list[CaseResult] | None
) -> list[RuleResult]:
    out = []
    for name in policy.required_evalsets:
        nc = len({r.case_id for r in cand if r.evalset == name})
        nb = len({r.case_id for r in base if r.evalset == name}) if base is not None else None
        ok = nc > 0 and (nb is None or nb > 0)
        detail = (
            ""
            if ok
            else ("the candidate has no results for it" if nc == 0 else "the baseline has none")
        )
        out.append(
            _rule(
                rule="required_evalset",
                name=f"golden set {name}",
                status="pass" if ok else "fail",
                observed=float(nc),
                baseline=float(nb) if nb is not None else None,
                detail=detail,
            )
        )
    return out


def _floor(f: Any, cand: list[CaseResult], confidence: float) -> RuleResult:
    from ..compare.align import metric_value
    from ..stats import wilson_interval, z_two_sided

    chosen = [r for r in cand if f.evalset in (None, r.evalset) and f.segment in (None, r.segment)]
    values = np.array(
        [v for r in chosen if (v := metric_value(r, f.metric)) is not None], dtype=float
    )
    scope = " on ".join(x for x in (f.evalset, f.segment) if x)
    name = f"floor {f.metric} ≥ {f.min:g}" + (f" on {scope}" if scope else "")
    if values.size == 0:
        return _rule(
            rule="floor",
            name=name,
            status="fail",
            threshold=f.min,
            detail=f"no result has metric {f.metric!r} here",
        )
    mean = float(values.mean())
    if np.isin(values, (0.0, 1.0)).all():
        lo, hi = wilson_interval(int(values.sum()), int(values.size), confidence)
    else:
        half = (
            z_two_sided(confidence) * float(values.std(ddof=1)) / np.sqrt(values.size)
            if values.size > 1
            else 0.0
        )
        lo, hi = mean - half, mean + half
    return _rule(
        rule="floor",
        name=name,
        status="pass" if mean + 1e-12 >= f.min else "fail",
        observed=mean,
        threshold=f.min,
        ci_low=lo,
        ci_high=hi,
        detail=f"{values.size} results",
    )


def _cases_needed(p: PairedResult, margin: float, confidence: float) -> str:
    """For a pass/fail comparison that fails only for want of cases (its interval reaches
    above the threshold), how many paired cases, with the wins and losses in the shares
    seen, would put the same interval's lower bound above it."""
    from ..stats.intervals import paired_proportion_interval

    if p.ci_low > -margin or p.ci_high <= -margin or p.interval != "bonett-price":
        return ""
    if margin <= 0 or (p.wins - p.losses) / p.n <= -margin:
        return ""  # more cases cannot settle it: the observed drop is the margin or more

    def settles(n: int) -> bool:
        wins, losses = round(p.wins * n / p.n), round(p.losses * n / p.n)
        return paired_proportion_interval(wins, losses, n, confidence)[0] > -margin

    high = p.n
    while not settles(high):
        if high > 10_000_000:
            return ""
        high *= 2
    low = high // 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if settles(mid) else (mid, high)
    return (
        f"; inconclusive on {p.n} cases: with wins and losses in the same shares, "
        f"{high} paired cases would settle a margin of {margin:g} (or widen the margin)"
    )


def _paired(policy: GatePolicy, cmp: Comparison | None) -> list[RuleResult]:
    out = []
    ni, seg = policy.non_inferiority, policy.segments
    if ni is not None:
        name = f"non-inferiority on {policy.metric} (margin {ni.margin:g})"
        if cmp is None:
            out.append(
                _rule(rule="non_inferiority", name=name, status="skip", detail="no baseline")
            )
        else:
            p = cmp.overall[policy.metric]
            out.append(
                _rule(
                    rule="non_inferiority",
                    name=name,
                    status="pass" if p.ci_low > -ni.margin else "fail",
                    observed=p.delta,
                    threshold=-ni.margin,
                    baseline=p.mean_a,
                    ci_low=p.ci_low,
                    ci_high=p.ci_high,
                    detail=f"candidate {p.mean_b:.3f} vs baseline {p.mean_a:.3f}, lower bound "
                    "must exceed the threshold" + _cases_needed(p, ni.margin, policy.confidence),
                )
            )
    if seg is None:
        return out
    if cmp is None:
        return out + [_rule(rule="segment", name="segments", status="skip", detail="no baseline")]
    if not cmp.segments:
        return out + [
            _rule(
                rule="segment", name="segments", status="skip", detail="the cases have no segments"
            )
        ]
    for s in cmp.segments:
        margin = seg.margins.get(s.segment, seg.margin)
        name = f"segment {s.segment} (margin {margin:g})"
        if not s.results or s.n < seg.min_cases:
            out.append(
                _rule(
                    rule="segment",
                    name=name,
                    status="skip",
                    observed=None,
                    detail=f"{s.n} paired cases < {seg.min_cases}",
                )
            )
            continue
        p = s.results[policy.metric]
        value = p.delta if seg.decide_on == "delta" else p.ci_low
        ok = value >= -margin if seg.decide_on == "delta" else value > -margin
        out.append(
            _rule(
                rule="segment",
                name=name,
                status="pass" if ok else "fail",
                observed=p.delta,
                threshold=-margin,
                baseline=p.mean_a,
                ci_low=p.ci_low,
                ci_high=p.ci_high,
                detail=f"{s.n} cases, decided on {seg.decide_on}",
            )
        )
    return out


def _stat(results: list[CaseResult] | None, field: str, stat: str) -> float | None:
    if results is None:
        return None
    vals = np.array([v for r in results if (v := getattr(r, field)) is not None], dtype=float)
    if vals.size == 0:
        return None
    return float(vals.mean()) if stat == "mean" else float(np.percentile(vals, 95))


def _budget(name: str, budget: Budget, cand: float | None, base: float | None) -> list[RuleResult]:
    label = "mean cost per result (USD)" if name == "cost" else "p95 latency (ms)"
    out = []
    if budget.max is not None:
        if cand is None:
            out.append(
                _rule(
                    rule=name,
                    name=f"{label} ≤ {budget.max:g}",
                    status="fail",
                    threshold=budget.max,
                    detail="the candidate's results record none",
                )
            )
        else:
            out.append(
                _rule(
                    rule=name,
                    name=f"{label} ≤ {budget.max:g}",
                    status="pass" if cand <= budget.max + 1e-12 else "fail",
                    observed=cand,
                    threshold=budget.max,
                    baseline=base,
                )
            )
    if budget.max_increase is not None:
        rname = f"{label} at most +{budget.max_increase:.0%} vs baseline"
        if base is None:
            out.append(
                _rule(
                    rule=name, name=rname, status="skip", observed=cand, detail="no baseline value"
                )
            )
        elif cand is None:
            out.append(
                _rule(
                    rule=name,
                    name=rname,
                    status="fail",
                    baseline=base,
                    detail="the candidate's results record none",
                )
            )
        else:
            increase = (cand - base) / base if base > 0 else (0.0 if cand <= 0 else float("inf"))
            out.append(
                _rule(
                    rule=name,
                    name=rname,
                    status="pass" if increase <= budget.max_increase + 1e-12 else "fail",
                    observed=increase,
                    threshold=budget.max_increase,
                    baseline=base,
                    detail=f"candidate {cand:.4g} vs baseline {base:.4g}",
                )
            )
    return out
