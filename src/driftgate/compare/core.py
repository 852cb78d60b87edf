"""The pure core of a comparison: two lists of results in, a `Comparison` out.

No store, no files: the gate and CI code that already hold results call
`compare_results` directly; `compare_runs` loads two arms and calls it.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError, UnknownNameError
from ..stats import (
    PairedResult,
    paired_difference,
    reduce_repeats,
    verdict,
)
from ..store.records import CaseResult, RunManifest
from ..summary import NO_SEGMENT, arm_key
from .align import (
    AlignedCases,
    CaseGroup,
    CaseKey,
    align_cases,
    group_cases,
    metric_value,
    scorer_metrics,
)
from .details import answer_mismatches, flaky, flipped_cases, histogram, in_unit_range, usage_delta
from .schema import (
    USAGE_NAMES,
    Comparison,
    SegmentComparison,
    Side,
)

# Fields of a result that can group cases into clusters without reading the golden set.
RESULT_CLUSTER_FIELDS = ("segment", "tags", "evalset")


def compare_results(
    results_a: Iterable[CaseResult | dict[str, Any]],
    results_b: Iterable[CaseResult | dict[str, Any]],
    *,
    metric: str = "pass",
    reducer: str = "mean",
    k: int | None = None,
    cluster_by: str | None = None,
    clusters: Mapping[str, Hashable] | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    margin: float = 0.0,
    n_boot: int = 10_000,
    manifest_a: RunManifest | None = None,
    manifest_b: RunManifest | None = None,
    warnings: list[str] | None = None,
) -> Comparison:
    """Compare the results of arm B with those of arm A (one prompt × model each).

    `metric` (`pass`, `score` or a scorer metric) decides the verdict against `margin`;
    every metric is compared anyway. `reducer` (mean, majority, pass@k, all-k; `k` for the
    last two) turns repeats into one value per case. `cluster_by` is `segment`, `tags` or
    `evalset`, or any name when `clusters` maps case ids (or `EVALSET:CASE_ID`) to cluster
    labels; cases without a label form their own cluster. The manifests, when given, label
    the sides and name the golden sets' digests in errors.
    """
    al = align_cases(
        group_cases(map(_as_result, results_a), side="a"),
        group_cases(map(_as_result, results_b), side="b"),
        manifest_a,
        manifest_b,
    )
    warns = [*(warnings or []), *al.warnings()]
    a_groups, b_groups = al.a_groups, al.b_groups
    values = _reduced_values(a_groups, b_groups, al.labels, metric, reducer, k, warns)
    cluster_labels = _clusters(
        cluster_by, clusters, al.keys, a_groups, b_groups, al.labels, al.qualified
    )
    pair = functools.partial(_paired, values, confidence=confidence, n_boot=n_boot, seed=seed)

    overall = {m: pair(m, cl=cluster_labels) for m in values}
    primary = overall[metric]
    segments = _segments(al.keys, a_groups, b_groups, values, metric, cluster_labels, pair, margin)
    return Comparison(
        a=_side(a_groups, al.ga, manifest_a),
        b=_side(b_groups, al.gb, manifest_b),
        metric=metric,
        reducer=reducer,
        k=k,
        cluster_by=cluster_by,
        confidence=primary.confidence,
        seed=seed,
        margin=margin,
        evalsets=al.common_sets,
        n_common=len(al.keys),
        only_a=al.only_a,
        only_b=al.only_b,
        overall=overall,
        scales={
            m: "rate" if in_unit_range(xa) and in_unit_range(xb) else "value"
            for m, (xa, xb) in values.items()
        },
        segments=segments,
        wins=primary.wins,
        losses=primary.losses,
        ties=primary.ties,
        **_case_details(al, values),
        verdict=verdict(primary, margin),
        warnings=warns,
        manifest_a=_public(manifest_a),
        manifest_b=_public(manifest_b),
    )


def _paired(
    values: Mapping[str, tuple[np.ndarray, np.ndarray]],
    metric_name: str,
    idx: list[int] | None = None,
    cl: list[Hashable] | None = None,
    *,
    confidence: float,
    n_boot: int,
    seed: int,
) -> PairedResult:
    """The paired difference of one metric, over all common cases or those at `idx`."""
    xa, xb = values[metric_name]
    if idx is not None:
        xa, xb = xa[idx], xb[idx]
    return paired_difference(xa, xb, clusters=cl, confidence=confidence, n_boot=n_boot, seed=seed)


def _case_details(
    al: AlignedCases, values: Mapping[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, Any]:
    """What a reader checks by hand: answers that differ, flipped and flaky cases, usage
    and the distribution of each metric (fields of `Comparison`)."""
    a_groups, b_groups = al.a_groups, al.b_groups
    pairs, mismatches = answer_mismatches(a_groups, b_groups)
    pa, pb = values["pass"]
    return {
        "answer_pairs": pairs,
        "answer_mismatches": mismatches,
        "answer_mismatch_rate": mismatches / pairs if pairs else None,
        "flipped": flipped_cases(a_groups, b_groups, pa, pb, values.get("score")),
        "usage": [usage_delta(name, a_groups, b_groups) for name in USAGE_NAMES],
        "histograms": {m: histogram(*values[m]) for m in values if m != "pass"},
        "flaky_a": flaky(al.ga, al.qualified),
        "flaky_b": flaky(al.gb, al.qualified),
    }


def _as_result(r: CaseResult | dict[str, Any]) -> CaseResult:
    return r if isinstance(r, CaseResult) else CaseResult.model_validate(r)


def _public(manifest: RunManifest | None) -> RunManifest | None:
    if manifest is None:
        return None
    from .._redact import redact_manifest

    return redact_manifest(manifest)


def _reduced_values(
    a_groups: list[CaseGroup],
    b_groups: list[CaseGroup],
    labels: list[str],
    primary: str,
    reducer: str,
    k: int | None,
    warns: list[str],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """metric → (A's, B's) one reduced value per common case, for every comparable metric."""
    names = ["pass", "score", *scorer_metrics(a_groups + b_groups)]
    if primary not in names:
        raise UnknownNameError("metric", primary, names)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in names:
        per_side = []
        missing = None
        for side, groups in (("A", a_groups), ("B", b_groups)):
            by_case: dict[str, list[float]] = {}
            for label, g in zip(labels, groups, strict=True):
                vals = [metric_value(r, name) for r in g.results]
                if any(v is None for v in vals):
                    missing = (side, label)
                    break
                by_case[label] = vals  # type: ignore[assignment]
            if missing:
                break
            reduced = reduce_repeats(by_case, reducer, k)  # type: ignore[arg-type]
            per_side.append(np.array([reduced[label] for label in labels], dtype=np.float64))
        if missing:
            side, label = missing
            what = f"{side} has no {name!r} value for case {label}"
            if name == primary:
                raise ConfigError(
                    f"cannot compare on {name!r}: {what}",
                    field="metric",
                    hint="choose a metric every case of both sides was scored on",
                )
            if name != "score":  # no weighted scorer at all is common: not worth a warning
                warns.append(f"metric {name!r} not compared: {what}")
            continue
        out[name] = (per_side[0], per_side[1])
    return out


def _clusters(
    cluster_by: str | None,
    clusters: Mapping[str, Hashable] | None,
    keys: list[CaseKey],
    a_groups: list[CaseGroup],
    b_groups: list[CaseGroup],
    labels: list[str],
    qualified: bool,
) -> list[Hashable] | None:
    if cluster_by is None:
        if clusters is not None:
            raise ConfigError("clusters given without cluster_by", field="cluster_by")
        return None
    out: list[Hashable] = []
    for key, label, ga, gb in zip(keys, labels, a_groups, b_groups, strict=True):
        r = ga.first
        if clusters is not None:
            value = clusters.get(f"{key[0]}:{key[1]}", clusters.get(key[1]))
        elif cluster_by == "segment":
            value = r.segment if r.segment is not None else gb.first.segment
        elif cluster_by == "tags":
            value = ",".join(sorted(r.tags)) if r.tags else None
        elif cluster_by == "evalset":
            value = key[0]
        else:
            raise ConfigError(
                f"cannot cluster by {cluster_by!r} from results alone; fields: "
                + ", ".join(RESULT_CLUSTER_FIELDS),
                field="cluster_by",
                hint="metadata.KEY and vars.KEY need the golden set: use compare_runs",
            )
        # A case without a label is its own cluster (independent of every other case).
        out.append(("label", value) if value is not None else ("case", label))
    if len(set(out)) < 2:
        raise ConfigError(
            f"cluster_by={cluster_by!r} puts every common case in one cluster; "
            "clustered errors need at least 2 clusters",
            field="cluster_by",
        )
    return out


def _segments(
    keys: list[CaseKey],
    a_groups: list[CaseGroup],
    b_groups: list[CaseGroup],
    values: Mapping[str, tuple[np.ndarray, np.ndarray]],
    primary: str,
    cluster_labels: list[Hashable] | None,
    pair: Any,
    margin: float,
) -> list[SegmentComparison]:
    segs = [
        ga.first.segment if ga.first.segment is not None else gb.first.segment
        for ga, gb in zip(a_groups, b_groups, strict=True)
    ]
    if all(s is None for s in segs):
        return []
    index: dict[str, list[int]] = {}
    for i, s in enumerate(segs):
        index.setdefault(s if s is not None else NO_SEGMENT, []).append(i)
    metrics = [m for m in dict.fromkeys((primary, "pass", "score")) if m in values]
    out = []
    for name in sorted(index):
        idx = index[name]
        if len(idx) < 2:
            out.append(
                SegmentComparison(segment=name, n=len(idx), note="fewer than 2 cases: not compared")
            )
            continue
        cl = [cluster_labels[i] for i in idx] if cluster_labels is not None else None
        note = None
        if cl is not None and len(set(cl)) < 2:
            cl, note = None, "one cluster in this segment: unclustered interval"
        results = {m: pair(m, idx, cl) for m in metrics}
        out.append(
            SegmentComparison(
                segment=name,
                n=len(idx),
                results=results,
                verdict=verdict(results[primary], margin),
                note=note,
            )
        )
    return out


def _side(
    common: list[CaseGroup], groups: Mapping[CaseKey, CaseGroup], manifest: RunManifest | None
) -> Side:
    r = common[0].first
    model_id = None
    prompt_digest = r.prompt_digest
    if manifest is not None:
        for m in manifest.models:
            if r.model in (m.get("label"), m.get("id")):
                model_id = m.get("id")
                break
    fps = dict.fromkeys(
        x.fingerprint for g in groups.values() for x in g.results if x.fingerprint is not None
    )
    return Side(
        run_id=manifest.id if manifest else r.run_id,
        arm=arm_key(r.prompt, r.model),
        prompt=r.prompt,
        prompt_digest=prompt_digest,
        model=r.model,
        model_id=model_id,
        status=manifest.status if manifest else None,
        created_at=manifest.created_at if manifest else None,
        git_revision=manifest.git_revision if manifest else None,
        results=sum(len(g.results) for g in groups.values()),
        cases=len(groups),
        fingerprints=list(fps)[:10],
    )
