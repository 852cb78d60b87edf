"""The traffic log of a route: one decision per answered request, and the feedback on it.

    .driftgate/traffic/<route>/decisions-<host>-<pid>-<start>.jsonl
    .driftgate/traffic/<route>/feedback-<host>-<pid>-<start>.jsonl

Like run results, each writing process appends to segments of its own, one whole line per
`write(2)`, so many application processes log the same route without a lock and a killed
one leaves at most a torn last line (readers skip it). DuckDB reads the segments through a
glob (`read_json_auto('.driftgate/traffic/categorize/decisions-*.jsonl')`); `read_decisions`
and `read_feedback` read them here.

With a shared store, each segment is also published as immutable parts
(`state/traffic/<route>/<segment>/<part>.jsonl`, store/parts.py) every `flush_rows` lines or
`flush_s` seconds and when the log closes, and readers first copy the other machines' new
parts into the local folder (`pull_traffic`, at most once per `staleness_s`): a canary served
by replicas on several hosts is judged on all of their traffic and feedback.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field

from .._strict import Strict
from ..errors import StorageError
from ..store.mirror import STATE_PREFIX
from ..store.objects import ObjectStore, open_store
from ..store.parts import SegmentPublisher, part_name, pull_segments
from ..workspace import Workspace

Verdict = Literal["accept", "edit", "reject"]
M = TypeVar("M", bound=Strict)


class Decision(Strict):
    """One request answered by a route's arm (or mirrored to a shadow arm)."""

    id: str = Field(description="Request id; a shadow decision shares its live request's id.")
    ts: float
    route: str
    route_digest: str
    arm: str
    shadow: bool = False
    prompt: str = Field(description="Prompt ref as served (NAME@VERSION).")
    prompt_digest: str = Field(
        description="The served version's identity: the prompt's, or a rule arm's rule's "
        "(the evidence of an arm starts afresh when it changes)."
    )
    choice: str | None = Field(
        None, description="A rule arm: the arm (prompt and model) its rule picked."
    )
    model: str = Field(description="Model that answered (a fallback when one was used).")
    fallback: bool = False
    sticky: str | None = Field(None, description="Hash of the sticky key's value, never the value.")
    segment: str | None = Field(None, description="The request's segment (route segment_by).")
    vars: dict[str, Any]
    output: str | None = None
    parsed: Any = None
    parse_error: str | None = None
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 1
    latency_ms: float | None = None
    cost_usd: float | None = None
    confidence: float | None = Field(
        None, description="The answer's probability among the prompt's labels, when known."
    )
    label_probs: dict[str, float] | None = Field(
        None, description="The model's probabilities over the prompt's labels (sum 1)."
    )


class Feedback(Strict):
    """What a user did with an answer: accepted it, edited it (to `correction`), rejected it."""

    request_id: str
    ts: float
    route: str
    verdict: Verdict
    correction: Any = Field(None, description="The right answer, when the user gave one.")
    note: str | None = None
    reviewer: str | None = Field(
        None, description="Who reviewed the answer (the review queue); None: the end user."
    )


class TrafficLog:
    """Append-only decision and feedback segments of one route, for this process."""

    def __init__(self, workspace: Workspace, route: str) -> None:
        self.folder = traffic_dir(workspace, route)
        self.route = route
        stamp = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
        self._paths = {
            "decisions": self.folder / f"decisions-{stamp}.jsonl",
            "feedback": self.folder / f"feedback-{stamp}.jsonl",
        }
        self._fds: dict[str, int] = {}
        self._shared = open_store(workspace.settings.store)
        self._cadence = workspace.settings.shared_store
        self._publishers: dict[str, SegmentPublisher] = {}
        self._lock = threading.Lock()
        # Called with every decision once it is logged (a gateway counts live and shadow
        # answers for its metrics); a listener must be quick and must not raise.
        self.listeners: list[Callable[[Decision], None]] = []

    def _append(self, kind: str, record: Strict) -> None:
        line = (record.model_dump_json() + "\n").encode()
        with self._lock:
            fd = self._fds.get(kind)
            if fd is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                fd = os.open(self._paths[kind], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._fds[kind] = fd
                if self._shared is not None:
                    self._publishers[kind] = self._publisher(self._shared, self._paths[kind])
            os.write(fd, line)  # one write: lines of concurrent writers never interleave
            publisher = self._publishers.get(kind)
        if publisher is not None:
            publisher.note(1)

    def _publisher(self, store: ObjectStore, segment: Path) -> SegmentPublisher:
        prefix = traffic_key(self.route, segment.stem)
        return SegmentPublisher(
            store,
            segment,
            lambda part: f"{prefix}/{part_name(part)}",
            flush_rows=self._cadence.flush_rows,
            flush_s=self._cadence.flush_s,
        )

    def decision(self, decision: Decision) -> None:
        self._append("decisions", decision)
        for listener in self.listeners:
            listener(decision)

    def feedback(self, feedback: Feedback) -> None:
        self._append("feedback", feedback)

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
            publishers, self._publishers = list(self._publishers.values()), {}
        for publisher in publishers:
            try:
                publisher.stop()
            except StorageError as exc:  # the lines are in the local segment
                warnings.warn(
                    f"traffic of route {self.route} not yet on the shared store ({exc}); "
                    "`driftgate store migrate --to` sends it",
                    stacklevel=2,
                )


def traffic_dir(workspace: Workspace, route: str) -> Path:
    return workspace.state_dir / "traffic" / route


def traffic_key(route: str, stem: str | None = None) -> str:
    """Where a route's traffic segments (or one of them) are on the shared store."""
    key = f"{STATE_PREFIX}/traffic/{route}"
    return f"{key}/{stem}" if stem else key


# (workspace root, route) → time.monotonic() of its last pull in this process.
_PULLED: dict[tuple[Path, str], float] = {}


def pull_traffic(workspace: Workspace, route: str, *, force: bool = False) -> int:
    """Copy the parts other machines published of this route's traffic into the local
    folder; segments copied into. At most once per `shared_store.staleness_s` in a process
    (unless `force`); nothing without a shared store."""
    store = open_store(workspace.settings.store)
    if store is None:
        return 0
    key = (workspace.root, route)
    now = time.monotonic()
    if not force and now - _PULLED.get(key, -1e9) < workspace.settings.shared_store.staleness_s:
        return 0
    _PULLED[key] = now
    return pull_segments(store, traffic_key(route), traffic_dir(workspace, route))


def _read(folder: Path, prefix: str, model: type[M]) -> list[M]:
    out = []
    for path in sorted(folder.glob(f"{prefix}-*.jsonl")):
        for raw in path.read_bytes().split(b"\n"):
            if not raw.strip():
                continue
            try:
                out.append(model.model_validate_json(raw))  # parsed and checked in one pass
            except ValueError:
                continue  # a torn last line of a killed writer
    return out


def read_decisions(workspace: Workspace, route: str) -> list[Decision]:
    pull_traffic(workspace, route)
    return _read(traffic_dir(workspace, route), "decisions", Decision)


def read_feedback(workspace: Workspace, route: str) -> list[Feedback]:
    pull_traffic(workspace, route)
    return _read(traffic_dir(workspace, route), "feedback", Feedback)


def latest_feedback(workspace: Workspace, route: str) -> dict[str, Feedback]:
    """The latest word on each request (by time; among equal times, the later line)."""
    latest: dict[str, Feedback] = {}
    for fb in read_feedback(workspace, route):
        known = latest.get(fb.request_id)
        if known is None or fb.ts >= known.ts:
            latest[fb.request_id] = fb
    return latest


def label_of(fb: Feedback, parsed: Any, answered: bool) -> Any:
    """The right answer a feedback event tells, or None: its correction, else the answer it
    accepted (`parsed`, when the request was `answered` without an error)."""
    if fb.correction is not None:
        return fb.correction
    if fb.verdict == "accept" and answered and parsed is not None:
        return parsed
    return None


def labeled_cases(workspace: Workspace, route: str) -> list[dict[str, Any]]:
    """Feedback turned into golden-set cases (JSONL lines of `driftgate.evalset`): the
    request's variables, and as `expected` the correction, or the accepted answer. Rejects
    without a correction teach nothing certain and are left out. One case per request, the
    latest feedback winning; the retraining loop's input."""
    live = {d.id: d for d in read_decisions(workspace, route) if not d.shadow}
    cases = []
    for request_id, fb in latest_feedback(workspace, route).items():
        decision = live.get(request_id)
        if decision is None:
            continue
        expected = label_of(fb, decision.parsed, decision.error is None)
        if expected is None:
            continue
        cases.append(
            {
                "id": request_id,
                "vars": decision.vars,
                "expected": expected,
                "metadata": {
                    "source": f"feedback:{route}",
                    "verdict": fb.verdict,
                    "arm": decision.arm,
                    "prompt": decision.prompt,
                    "ts": fb.ts,
                },
            }
        )
    return cases


def traffic_records(workspace: Workspace, route: str) -> list[dict[str, Any]]:
    """The route's live requests in time order as prompt-drift log records (`drift traffic`):
    the request's variables, the answer's `confidence` when the model gave one (the
    `confidence_drop` signal), and the latest feedback on it as `feedback.action`."""
    latest = latest_feedback(workspace, route)
    records = []
    for d in sorted(read_decisions(workspace, route), key=lambda d: d.ts):
        if d.shadow:
            continue
        record: dict[str, Any] = {"id": d.id, "ts": d.ts, "arm": d.arm, "vars": d.vars}
        if d.confidence is not None:
            record["confidence"] = d.confidence
        fb = latest.get(d.id)
        if fb is not None:
            record["feedback"] = {"action": fb.verdict}
        records.append(record)
    return records
