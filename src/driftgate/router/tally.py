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

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .log import Decision, Feedback, label_of

Key = tuple[str, bool]  # (arm, shadow)


@dataclass(slots=True)
class _Answer:
    arm: str
    parsed: Any
    error: bool


@dataclass(slots=True)
class _Request:
    live: _Answer | None = None
    shadows: list[_Answer] = field(default_factory=list)
    feedback: Feedback | None = None
    counted: Counter[tuple[Key, str]] = field(default_factory=Counter)  # its contribution


class Tally:
    """Counters per (arm, shadow): requests, errors, feedback, accepted, labeled, agreed."""

    def __init__(self, route_digest: str, folder: Path | None = None) -> None:
        self.route_digest = route_digest
        self.folder = folder
        self.counts: Counter[tuple[Key, str]] = Counter()
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
        key = (d.arm, d.shadow)
        self.counts[(key, "requests")] += 1
        self.counts[(key, "errors")] += d.error is not None
        req = self._requests.setdefault(d.id, _Request())
        answer = _Answer(d.arm, d.parsed, d.error is not None)
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
        self.counts.subtract(req.counted)
        req.counted = _contribution(req)
        self.counts.update(req.counted)

    def add(self, decisions: Iterable[Decision], feedback: Iterable[Feedback]) -> Tally:
        for d in decisions:
            self.add_decision(d)
        for fb in feedback:
            self.add_feedback(fb)
        return self

    def keys(self) -> list[Key]:
        return sorted({key for key, what in self.counts if what == "requests"})

    def get(self, key: Key, what: str) -> int:
        return self.counts[(key, what)]


def _contribution(req: _Request) -> Counter[tuple[Key, str]]:
    """What one request adds to the feedback counters (requests and errors are counted once,
    as their decisions arrive)."""
    out: Counter[tuple[Key, str]] = Counter()
    fb, live = req.feedback, req.live
    if fb is None:
        return out
    if live is not None:
        out[((live.arm, False), "feedback")] += 1
        out[((live.arm, False), "accepted")] += fb.verdict == "accept"
    label = label_of(fb, live.parsed, not live.error) if live is not None else fb.correction
    if label is not None:
        from .canary import same_answer

        for s in req.shadows:
            if not s.error:
                out[((s.arm, True), "labeled")] += 1
                out[((s.arm, True), "agreed")] += same_answer(s.parsed, label)
    return out
