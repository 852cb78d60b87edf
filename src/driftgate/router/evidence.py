"""What a route's traffic log says about each arm: counts, quality, and per segment.

    stats = stats_of(tally, digests, alpha=0.05, r=tuned_for(0.03, 0.05))
    stats[("candidate", False)].quality, .quality_bounds, .segments[0].requests

Built from a `Tally` (counts kept up to date incrementally), for the version each arm serves
now. Quality intervals are always-valid (`stats.sequential`): `route status` is looked at
again and again, and its intervals should mean the same thing as the guard's.
"""

from __future__ import annotations

from pydantic import Field

from .._strict import Strict
from ..stats import wilson_interval
from ..stats.sequential import Bound, Sums, mean_bound
from .log import Decision, Feedback
from .tally import Key, Tally


class QualityCounts(Strict):
    """Requests, labeled answers and their quality (with bounds), and for shadows the paired
    difference with the live answer: what an arm, or one segment of it, has shown."""

    requests: int = 0
    labeled: int = Field(0, description="Answers scored against a label from feedback.")
    quality: float | None = Field(None, description="Mean score of the labeled answers.")
    quality_bounds: tuple[float, float] | None = Field(
        None, description="Always-valid bounds of `quality` at the route's canary alpha."
    )
    quality_sum: float = 0.0
    pairs: int = Field(0, description="Shadow arms: labeled requests the live arm also answered.")
    pair_sum: float = 0.0
    pair_sq: float = 0.0


class SegmentStats(QualityCounts):
    segment: str


class ArmStats(QualityCounts):
    arm: str
    shadow: bool = False
    prompt_digest: str | None = Field(None, description="The version the counts are of.")
    errors: int = 0
    feedback: int = 0
    accepted: int = 0
    acceptance: float | None = None
    acceptance_ci: tuple[float, float] | None = None
    segments: list[SegmentStats] = Field(default_factory=list)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def agreement(self) -> float | None:  # the name shadow reports used before
        return self.quality if self.shadow else None

    def segment(self, name: str) -> SegmentStats | None:
        return next((s for s in self.segments if s.segment == name), None)


def scores(s: QualityCounts) -> Sums:
    """The labeled answers' scores as running sums (scores are 0 or 1, so x² = x)."""
    return Sums(s.labeled, s.quality_sum, s.quality_sum)


def pair_sums(s: QualityCounts) -> Sums:
    return Sums(s.pairs, s.pair_sum, s.pair_sq)


def arm_stats(
    decisions: list[Decision], feedback: list[Feedback], route_digest: str | None = None
) -> dict[tuple[str, bool], ArmStats]:
    """Per (arm, shadow): requests, errors, feedback and quality joined on request id
    (records of one route version: `route_digest`, by default the first decision's)."""
    digest = route_digest or (decisions[0].route_digest if decisions else "")
    return stats_of(Tally(digest).add(decisions, feedback))


def stats_of(
    tally: Tally,
    digests: dict[str, str | None] | None = None,
    *,
    alpha: float = 0.05,
    r: float | None = None,
) -> dict[tuple[str, bool], ArmStats]:
    """Per (arm, shadow), the counts of the version each arm serves now (`digests`: arm →
    prompt digest; None, or an arm missing from it: every version the log holds). With `r`
    (the mixture parameter, `tuned_for(margin, alpha)`), quality gets always-valid bounds."""
    stats: dict[tuple[str, bool], ArmStats] = {}
    for arm, shadow, digest in tally.keys():
        if digests is not None and arm in digests and digests[arm] != digest:
            continue
        s = stats.setdefault((arm, shadow), ArmStats(arm=arm, shadow=shadow, prompt_digest=digest))
        key = (arm, shadow, digest)
        for name in ("requests", "errors", "feedback", "accepted", "labeled"):
            setattr(s, name, getattr(s, name) + int(tally.get(key, name)))
        s.labeled = s.labeled if shadow else s.labeled + int(tally.get(key, "q_n"))
        s.quality_sum += tally.get(key, "q_sum")
        s.pairs += int(tally.get(key, "pairs"))
        s.pair_sum += tally.get(key, "pair_sum")
        s.pair_sq += tally.get(key, "pair_sq")
        _add_segments(s, tally, key)
    for s in stats.values():
        if s.feedback:
            s.acceptance = s.accepted / s.feedback
            s.acceptance_ci = wilson_interval(s.accepted, s.feedback)
        for part in (s, *s.segments):
            if part.labeled:
                part.quality = part.quality_sum / part.labeled
                if r is not None:
                    part.quality_bounds = _pair(mean_bound(scores(part), alpha=alpha, r=r))
    return stats


def _pair(b: Bound | None) -> tuple[float, float] | None:
    return None if b is None else (b.lower, b.upper)


def _add_segments(s: ArmStats, tally: Tally, key: Key) -> None:
    """Add one version's per-segment counts to the arm's (an arm may hold several versions
    when no current digest is known)."""
    for name in tally.segments(key):
        seg = s.segment(name)
        if seg is None:
            seg = SegmentStats(segment=name)
            s.segments.append(seg)
        seg.requests += int(tally.get(key, f"requests|{name}"))
        seg.labeled += int(tally.get(key, f"q_n|{name}"))
        seg.quality_sum += tally.get(key, f"q_sum|{name}")
        seg.pairs += int(tally.get(key, f"pairs|{name}"))
        seg.pair_sum += tally.get(key, f"pair_sum|{name}")
        seg.pair_sq += tally.get(key, f"pair_sq|{name}")
    s.segments.sort(key=lambda seg: seg.segment)
