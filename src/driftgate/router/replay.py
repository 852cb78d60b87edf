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
from typing import Any

from .router import Router
from .tally import same_answer


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
