"""`drift history`'s data: each signal over time, one point per check, and the exit status.

    checks = DriftStore.for_key(ws, key).checks()
    series(checked(checks))     # arm → signal → [Point(check_id, created_at, value, ...)]
    latest_alerted(checks)      # `drift history` exits 1 when the latest check alerted
    keys_with_checks(ws)        # the monitored configurations that have checks, to point at

Rendering it (sparklines, JSON, the HTML chart) is the report layer's:
`driftgate.report.drift_history`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..workspace import Workspace
from .schema import DriftCheck, DriftKey
from .store import DriftStore


@dataclass(slots=True)
class Point:
    """One signal in one check; `alert` is whether that check's arm alerted."""

    check_id: str
    created_at: float
    value: float | None
    threshold: float | None
    verdict: str
    alert: bool


def checked(checks: Sequence[DriftCheck]) -> list[DriftCheck]:
    """The checks that compared with the baseline (a baseline recording has no signals)."""
    return [c for c in checks if c.status == "checked"]


def series(checks: Sequence[DriftCheck]) -> dict[str, dict[str, list[Point]]]:
    """arm → signal → one point per check (oldest first); baseline checks are skipped."""
    out: dict[str, dict[str, list[Point]]] = {}
    for c in checks:
        for arm in c.arms:
            for s in arm.signals:
                out.setdefault(arm.arm, {}).setdefault(s.name, []).append(
                    Point(c.id, c.created_at, s.value, s.threshold, s.verdict, arm.alert)
                )
    return out


def latest_alerted(checks: Sequence[DriftCheck]) -> bool:
    """Whether the latest check that compared (not a baseline) alerted: `drift history`'s
    exit status, so a pipeline can poll the history instead of running a check."""
    latest = checked(checks)
    return bool(latest and latest[-1].alert)


def keys_with_checks(ws: Workspace, *, besides: str | None = None) -> list[tuple[DriftKey, int]]:
    """Monitored configurations (suite, model override) with at least one check that
    compared, and how many, other than key `besides`: what `drift history` points at when
    the suite it was given has none."""
    out = []
    for key in DriftStore.keys(ws):
        if key.key == besides:
            continue
        n = len(checked(DriftStore.for_key(ws, key.key).checks()))
        if n:
            out.append((key, n))
    return out
