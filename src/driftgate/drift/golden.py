"""Golden sets in a drift check: each set's snapshot (per-case content digests), the fixed
stratified sample every check runs, and what changed since the baseline."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .._digest import digest
from ..suite import Suite
from ..workspace import Workspace
from .schema import EvalSetSnapshot, GoldenSetChange


def snapshot_evalsets(ws: Workspace, suite: Suite) -> list[EvalSetSnapshot]:
    """Each golden set's digest and per-case content digests (after the suite's filter)."""
    from ..engine.plan import parse_filter

    keep = parse_filter([suite.filter] if suite.filter else [])
    out = []
    for ref in suite.evalsets:
        es = ws.evalset(ref)
        cases, segments = {}, {}
        for case in es:
            if keep(case):
                cases[case.id] = digest(case.model_dump(mode="json"))
                segments[case.id] = case.segment
        out.append(
            EvalSetSnapshot(
                name=es.name,
                path=str(es.path.relative_to(ws.root)),
                digest=es.digest(),
                cases=cases,
                segments=segments,
            )
        )
    return out


def stratified_sample(snapshot: EvalSetSnapshot, n: int, seed: int) -> list[str]:
    """`n` case ids, allocated to segments in proportion (largest remainder, at least one
    per segment when n allows), each segment's cases taken in hash order."""
    by_seg: dict[str, list[str]] = {}
    for cid, seg in snapshot.segments.items():
        by_seg.setdefault(seg or "", []).append(cid)
    total = len(snapshot.segments)
    if n >= total:
        return list(snapshot.segments)
    exact = {s: n * len(ids) / total for s, ids in by_seg.items()}
    alloc = {s: int(v) for s, v in exact.items()}
    if n >= len(by_seg):
        for s in alloc:
            alloc[s] = max(alloc[s], 1)
    spare = n - sum(alloc.values())
    for s in sorted(by_seg, key=lambda s: (-(exact[s] - int(exact[s])), s)):
        if spare <= 0:
            break
        if alloc[s] < len(by_seg[s]):
            alloc[s] += 1
            spare -= 1
    while sum(alloc.values()) > n:  # the one-per-segment minimum overshot: trim the largest
        alloc[max(alloc, key=lambda s: alloc[s])] -= 1

    def rank(cid: str) -> bytes:
        return hashlib.blake2b(f"{seed}:{snapshot.name}:{cid}".encode(), digest_size=8).digest()

    chosen = []
    for s, ids in by_seg.items():
        chosen += sorted(ids, key=rank)[: alloc[s]]
    return chosen


def golden_set_changes(
    baseline: Sequence[EvalSetSnapshot], current: Sequence[EvalSetSnapshot]
) -> tuple[list[GoldenSetChange], dict[str, set[str]]]:
    """What changed per golden set, and the case ids usable for the comparison."""
    cur = {s.name: s for s in current}
    changes, usable = [], {}
    for b in baseline:
        c = cur.get(b.name)
        if c is None:
            changes.append(
                GoldenSetChange(evalset=b.name, baseline_digest=b.digest, removed=len(b.cases))
            )
            continue
        common = [i for i in b.cases if i in c.cases]
        modified = [i for i in common if b.cases[i] != c.cases[i]]
        usable[b.name] = set(common) - set(modified)
        if b.digest != c.digest or len(common) != len(b.cases) or len(common) != len(c.cases):
            added = [i for i in c.cases if i not in b.cases]
            removed = [i for i in b.cases if i not in c.cases]
            changes.append(
                GoldenSetChange(
                    evalset=b.name,
                    baseline_digest=b.digest,
                    current_digest=c.digest,
                    added=len(added),
                    removed=len(removed),
                    modified=len(modified),
                    common=len(usable[b.name]),
                    examples={
                        k: v[:5]
                        for k, v in (("added", added), ("removed", removed), ("modified", modified))
                        if v
                    },
                )
            )
    for c in current:
        if c.name not in {b.name for b in baseline}:
            changes.append(
                GoldenSetChange(evalset=c.name, current_digest=c.digest, added=len(c.cases))
            )
    return changes, usable
