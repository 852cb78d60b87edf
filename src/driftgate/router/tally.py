"""Per-arm counts over a route's traffic log, kept up to date by reading only what is new.

A serving router judges its canaries every few feedback events; re-reading the whole log
each time would grow without bound. `Tally` remembers how far it read each segment (whole
lines only: a line still being written, or torn by a killed writer, waits) and updates
per-arm counters from the new lines alone. Feedback is joined to its request by id in
either order (another process may log the decision later), and a later word on a request
replaces the earlier one: each request's contribution is kept, subtracted and re-added
when anything about it changes, so every update costs O(new lines).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .log import Decision, Feedback, label_of

if TYPE_CHECKING:
    from ..artifacts.route import RouteSpec

Key = tuple[str, bool, str]  # (arm, shadow, prompt digest the arm served)
Quality = Callable[[Any, "str | None", Any], float]  # (parsed, output, label) -> [0, 1]
# Counts and sums of scores side by side (a Counter's values are ints to a type checker).
# Made with `defaultdict(int)`, so counts stay ints; read with .get to not insert zeros.
Counts = defaultdict[tuple[Key, str], float]


def same_answer(parsed: object, label: object) -> bool:
    """Equal answers; text compared without case or surrounding spaces."""
    if isinstance(parsed, str) and isinstance(label, str):
        return parsed.strip().lower() == label.strip().lower()
    return parsed == label


def answer_quality(spec: RouteSpec) -> Quality:
    """How an answer is scored against its label: the route's scorers (every one with a
    weight must pass), else equality of the parsed answer and the label."""
    if not spec.scorers:
        return lambda parsed, _output, label: float(same_answer(parsed, label))
    from ..scoring.base import ScoreContext
    from ..scoring.build import build_scorer

    scorers = [build_scorer(o, source=f"route {spec.name}") for o in spec.scorers]
    weighted = [s for s in scorers if s.config.weight > 0] or scorers

    def quality(parsed: Any, output: str | None, label: Any) -> float:
        ctx = ScoreContext(output=output, parsed=parsed, expected=label)
        return float(all(sc.score(ctx).passed for sc in weighted))

    return quality


@dataclass(slots=True)
class _Answer:
    key: Key
    parsed: Any
    output: str | None
    error: bool
    segment: str | None


@dataclass(slots=True)
class _Request:
    live: _Answer | None = None
    shadows: list[_Answer] = field(default_factory=list)
    feedback: Feedback | None = None
    counted: Counts = field(default_factory=lambda: defaultdict(int))  # its contribution


class Tally:
    """Counters per (arm, shadow, prompt digest): requests, errors, feedback, accepted; the
    quality of labeled answers (`q_n`, `q_sum`); for shadows the paired difference with the
    live answer on the same request (`pairs`, `pair_sum`, `pair_sq`); each also per segment
    as `NAME|SEGMENT` (`requests|bank-b`, `q_n|bank-b`, `pairs|bank-b`, ...). Keyed by the digest the arm served, so a new version on an arm
    starts its evidence afresh."""

    def __init__(
        self, route_digest: str, folder: Path | None = None, *, quality: Quality | None = None
    ) -> None:
        self.route_digest = route_digest
        self.folder = folder
        self.quality = quality or (lambda parsed, _output, label: float(same_answer(parsed, label)))
        self.counts: Counts = defaultdict(int)
        self._requests: dict[str, _Request] = {}
        self._offsets: dict[Path, int] = {}

    # ---- reading the log ---------------------------------------------------------------
    def update(self) -> None:
        """Take in what was appended to the route's segments since the last update."""
        if self.folder is None or not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("decisions-*.jsonl")):
            for raw in self._new_lines(path):
                self._take(raw, Decision)
        for path in sorted(self.folder.glob("feedback-*.jsonl")):
            for raw in self._new_lines(path):
                self._take(raw, Feedback)

    def _new_lines(self, path: Path) -> list[bytes]:
        start = self._offsets.get(path, 0)
        try:
            if path.stat().st_size <= start:
                return []
            with path.open("rb") as fh:
                fh.seek(start)
                data = fh.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # whole lines only
        self._offsets[path] = start + end
        return [line for line in data[:end].split(b"\n") if line.strip()]

    def _take(self, raw: bytes, model: type[Decision] | type[Feedback]) -> None:
        try:
            record = model.model_validate_json(raw)
        except ValueError:
            return  # a damaged line: skipped, as every reader of the log does
        if isinstance(record, Decision):
            self.add_decision(record)
        else:
            self.add_feedback(record)

    # ---- counting ----------------------------------------------------------------------
    def add_decision(self, d: Decision) -> None:
        if d.route_digest != self.route_digest:
            return  # traffic of an earlier version of the route file
        key = (d.arm, d.shadow, d.prompt_digest)
        self.counts[(key, "requests")] += 1
        self.counts[(key, "errors")] += d.error is not None
        if d.segment is not None:
            self.counts[(key, f"requests|{d.segment}")] += 1
        req = self._requests.setdefault(d.id, _Request())
        answer = _Answer(key, d.parsed, d.output, d.error is not None, d.segment)
        if d.shadow:
            req.shadows.append(answer)
        else:
            req.live = answer
        self._recount(req)

    def add_feedback(self, fb: Feedback) -> None:
        req = self._requests.setdefault(fb.request_id, _Request())
        if req.feedback is not None and fb.ts < req.feedback.ts:
            return  # an older word on the request than the one counted
        req.feedback = fb
        self._recount(req)

    def _recount(self, req: _Request) -> None:
        for k, n in req.counted.items():
            self.counts[k] -= n
        req.counted = self._contribution(req)
        for k, n in req.counted.items():
            self.counts[k] += n

    def add(self, decisions: Iterable[Decision], feedback: Iterable[Feedback]) -> Tally:
        for d in decisions:
            self.add_decision(d)
        for fb in feedback:
            self.add_feedback(fb)
        return self

    def keys(self) -> list[Key]:
        return sorted({key for key, what in self.counts if what == "requests"})

    def get(self, key: Key, what: str) -> int | float:
        return self.counts.get((key, what), 0)

    def segments(self, key: Key) -> list[str]:
        """The segments `key` has counts in (requests or labeled answers), sorted."""
        names = {
            what.split("|", 1)[1]
            for (k, what), n in self.counts.items()
            if k == key and n and (what.startswith("requests|") or what.startswith("q_n|"))
        }
        return sorted(names)

    def _contribution(self, req: _Request) -> Counts:
        """What one request adds to the feedback counters (requests and errors are counted
        once, as their decisions arrive)."""
        out: Counts = defaultdict(int)
        fb, live = req.feedback, req.live
        if fb is None:
            return out
        label = label_of(fb, live.parsed, not live.error) if live is not None else fb.correction
        live_q: float | None = None
        if live is not None:
            out[(live.key, "feedback")] += 1
            out[(live.key, "accepted")] += fb.verdict == "accept"
            if label is not None:
                live_q = 0.0 if live.error else self.quality(live.parsed, live.output, label)
            elif fb.verdict == "reject":
                live_q = 0.0  # wrong, though nobody said what is right
            if live_q is not None:
                _add_quality(out, live.key, live.segment, live_q)
        if label is None:
            return out
        for s in req.shadows:
            q = 0.0 if s.error else self.quality(s.parsed, s.output, label)
            out[(s.key, "labeled")] += 1
            out[(s.key, "agreed")] += q
            _add_quality(out, s.key, s.segment, q)
            if live_q is not None:
                _add_pair(out, s.key, s.segment, q - live_q)
        return out


def _add_quality(out: Counts, key: Key, segment: str | None, q: float) -> None:
    for suffix in ("", f"|{segment}") if segment is not None else ("",):
        out[(key, f"q_n{suffix}")] += 1
        out[(key, f"q_sum{suffix}")] += q


def _add_pair(out: Counts, key: Key, segment: str | None, d: float) -> None:
    """A shadow's score minus the live answer's on one request, overall and per segment."""
    for suffix in ("", f"|{segment}") if segment is not None else ("",):
        out[(key, f"pairs{suffix}")] += 1
        out[(key, f"pair_sum{suffix}")] += d
        out[(key, f"pair_sq{suffix}")] += d * d
