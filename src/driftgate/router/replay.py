"""Replaying a file of requests through a route, as an application would (demos, tests).

    requests = read_requests(Path("evalsets/transactions.jsonl"), limit=500)
    result = await replay(Router("categorize"), requests, concurrency=8, feedback=True)

Each line's `vars` object (else the line without `id` and `expected`) is the request, its
`id` the request id, and its `expected` goes to simulator models (`sim/...`) so they answer
at their configured accuracy. With `feedback`, an answer equal to `expected` is accepted and
any other edited to it: simulated users, so canary checks and rollbacks run as with real
ones. Provider and template errors are counted per message, never fatal.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .router import Router
from .tally import same_answer

if TYPE_CHECKING:
    from ..artifacts.route import RouteSpec
    from ..workspace import Workspace
    from .canary import CanaryVerdict
    from .state import WeightsState


@dataclass
class ReplayRequest:
    id: str
    vars: dict[str, Any]
    expected: Any
    sticky: str | None
    segment: str | None = None


@dataclass
class ReplayResult:
    requests: list[ReplayRequest]
    started: float = field(default_factory=time.time)
    feedback: Counter[str] = field(default_factory=Counter)  # per live arm
    accepted: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # per distinct message


def read_requests(
    path: Path, *, limit: int | None = None, sticky_field: str | None = None
) -> list[ReplayRequest]:
    """Every request of a JSONL file, checked before anything is served."""
    import uuid

    from .._files import iter_json_objects
    from ..errors import ConfigError

    if not path.is_file():
        raise ConfigError("inputs file not found", path=path)
    out: list[ReplayRequest] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for lineno, rec in iter_json_objects(fh, path, what="a request"):
            # The line itself is the request when it has no `vars`, minus what is not an input.
            vars = (
                rec["vars"]
                if "vars" in rec
                else {k: v for k, v in rec.items() if k not in ("id", "expected")}
            )
            if not isinstance(vars, dict):
                raise ConfigError("`vars` must be an object", path=path, line=lineno, field="vars")
            rid = str(rec["id"]) if rec.get("id") is not None else uuid.uuid4().hex
            if rid in seen:  # feedback joins on the request id
                raise ConfigError(f"duplicate id {rid!r}", path=path, line=lineno, field="id")
            seen.add(rid)
            sticky = None
            if sticky_field:
                value = vars.get(sticky_field, rec.get(sticky_field))
                if value is None:
                    raise ConfigError(
                        f"no {sticky_field!r} in the line's vars or fields (--sticky-field)",
                        path=path, line=lineno, field=sticky_field,
                    )  # fmt: skip
                sticky = str(value)
            segment = rec.get("segment")
            out.append(
                ReplayRequest(
                    rid,
                    vars,
                    rec.get("expected"),
                    sticky,
                    None if segment is None else str(segment),
                )
            )
            if limit is not None and len(out) >= limit:
                break
    if not out:
        raise ConfigError("no requests in the inputs file", path=path)
    return out


def repeated(
    requests: list[ReplayRequest], taken: set[str], *, times: int = 1
) -> list[ReplayRequest]:
    """The requests `times` over, each with an id not in `taken` (ids the route already
    logged): a repeat or a second replay of one file is new traffic, and feedback joins on
    the id. A free id is kept; a taken one gets the first free suffix `~2`, `~3`, …"""
    out: list[ReplayRequest] = []
    used = set(taken)
    for _ in range(times):
        for r in requests:
            rid, k = r.id, 1
            while rid in used:
                k += 1
                rid = f"{r.id}~{k}"
            used.add(rid)
            out.append(ReplayRequest(rid, r.vars, r.expected, r.sticky, r.segment))
    return out


async def replay(
    router: Router, requests: list[ReplayRequest], *, concurrency: int = 8, feedback: bool = False
) -> ReplayResult:
    import asyncio

    from ..errors import TemplateError
    from ..providers.base import ProviderError

    result = ReplayResult(requests)
    pending = iter(requests)

    async def worker() -> None:
        for req in pending:  # one shared iterator: each request is taken by one worker
            try:
                d = await router.complete(
                    req.vars,
                    request_id=req.id,
                    sticky=req.sticky,
                    expected=req.expected,
                    segment=req.segment,
                )
            except (ProviderError, TemplateError) as exc:  # logged by the router; go on
                kind = "template" if isinstance(exc, TemplateError) else "provider"
                result.errors[f"{kind} error: {exc}"] += 1
                continue
            if feedback and req.expected is not None:
                ok = same_answer(d.parsed, req.expected)
                correction = None if ok else req.expected
                router.feedback(d.id, "accept" if ok else "edit", correction=correction)
                result.feedback[d.arm] += 1
                result.accepted[d.arm] += ok
            await asyncio.sleep(0)  # let other requests and the shadow calls run in between

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(requests)))))
    finally:
        await router.aclose()  # waits for the shadow calls
    return result


# ---- what a replay did, per arm ------------------------------------------------------------
@dataclass
class ReplayArmRow:
    """One arm's share of a replay, from the route's log (failed requests included)."""

    arm: str
    shadow: bool
    requests: int = 0
    errors: int = 0
    feedback: int = 0  # live arms only: simulated users answer what they were served
    accepted: int = 0
    labeled: int = 0  # answered requests whose line had an `expected`
    matches: int = 0  # of those, answers equal to `expected`

    @property
    def acceptance(self) -> float | None:
        return None if self.shadow or not self.feedback else self.accepted / self.feedback

    @property
    def match_rate(self) -> float | None:
        return self.matches / self.labeled if self.labeled else None


def replay_rows(ws: Workspace, spec: RouteSpec, result: ReplayResult) -> list[ReplayArmRow]:
    """Per arm (live arms, then shadows): this replay's decisions read back from the log."""
    from .log import read_decisions

    expected = {r.id: r.expected for r in result.requests}
    rows = {
        (a.name, shadow): ReplayArmRow(a.name, shadow)
        for shadow, arms in ((False, spec.arms), (True, spec.shadow))
        for a in arms
    }
    for d in read_decisions(ws, spec.name):
        row = rows.get((d.arm, d.shadow))
        if d.id not in expected or d.ts < result.started or row is None:
            continue  # another replay's or an earlier request's
        row.requests += 1
        row.errors += d.error is not None
        if d.error is None and expected[d.id] is not None:
            row.labeled += 1
            row.matches += same_answer(d.parsed, expected[d.id])
    for row in rows.values():
        row.feedback, row.accepted = result.feedback[row.arm], result.accepted[row.arm]
    return list(rows.values())


@dataclass
class ReplayReport:
    """`replay_file`'s outcome: the replay, per-arm rows, moves it caused, last canary check."""

    result: ReplayResult
    rows: list[ReplayArmRow]
    moves: list[WeightsState]
    last_canary: CanaryVerdict | None


def replay_file(
    ws: Workspace,
    spec: RouteSpec,
    inputs: Path,
    *,
    limit: int | None = None,
    sticky_field: str | None = None,
    repeat: int = 1,
    concurrency: int = 8,
    feedback: bool = False,
) -> ReplayReport:
    """Serve every line of `inputs` (`repeat` times) through the route and log it, as
    `driftgate route replay` does: ids the route already logged get a `~N` suffix."""
    import asyncio

    from .log import read_decisions
    from .operations import moves_since

    requests = read_requests(inputs, limit=limit, sticky_field=sticky_field)
    requests = repeated(requests, {d.id for d in read_decisions(ws, spec.name)}, times=repeat)
    router = Router(spec, workspace=ws)
    result = asyncio.run(replay(router, requests, concurrency=concurrency, feedback=feedback))
    return ReplayReport(
        result, replay_rows(ws, spec, result), moves_since(ws, spec, result.started),
        router.last_canary,
    )  # fmt: skip
