"""What serving through a route costs on top of the model call itself.

    python bench/router.py [--requests 2000]

A route of two live arms (90/10) and a 10% shadow on the in-process simulator (no latency),
in a scratch copy of the example workspace. `router_ms_per_request` is one
`Router.complete` (assignment, rendering, the call, parsing, the logged decision, the
shadow copy); `provider_ms_per_request` is the bare simulator call on the same machine in
the same run, so `router_overhead_ms` is their difference. `feedback_ms` is one
`Router.feedback` (logged), `canary_check_ms` the first canary verdict (the whole log is
read), `canary_check_next_ms` the next one after 20 more feedback events (only they are read).

Prints one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROUTE = """
arms:
  - {name: production, prompt: categorize@zero-shot, model: sim/perfect@v1, weight: 90}
  - {name: candidate, prompt: categorize@zero-shot, model: sim/perfect@v1, weight: 10}
shadow:
  - {name: next, prompt: categorize@zero-shot, model: sim/perfect@v1, sample: 0.1}
canary: {check_every: 1000000}
"""


async def main(n: int, root: Path) -> None:
    from driftgate.providers import CompletionRequest, ModelConfig, create_provider
    from driftgate.router import Router

    lines = (REPO / "evalsets" / "transactions.jsonl").read_text().splitlines()
    cases = [json.loads(line) for line in lines]
    cases = (cases * (n // len(cases) + 1))[:n]
    router = Router("bench", workspace=root)
    await router.complete(cases[0]["vars"])  # warm: arms built, log files open
    t0 = time.perf_counter()
    ids = [(await router.complete(c["vars"])).id for c in cases]
    routed = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for i, rid in enumerate(ids):
        router.feedback(rid, "accept" if i % 5 else "edit", correction="dining")
    feedback = (time.perf_counter() - t0) / n
    await router.aclose()
    t0 = time.perf_counter()
    verdict = router.check_canary(rollback=False)
    check = time.perf_counter() - t0
    for rid in ids[:20]:  # what a serving router sees between two checks
        router.feedback(rid, "accept")
    t0 = time.perf_counter()
    router.check_canary(rollback=False)
    check_next = time.perf_counter() - t0

    provider = create_provider(ModelConfig(id="sim/perfect@v1"))
    messages = [{"role": "user", "content": "x"}]
    t0 = time.perf_counter()
    for _ in range(n):
        await provider.complete(CompletionRequest(model="sim/perfect@v1", messages=messages))
    bare = (time.perf_counter() - t0) / n
    assert sum(a.requests for a in verdict.arms if not a.shadow) == n + 1
    print(f"router_ms_per_request: {routed * 1000:.3f}")
    print(f"provider_ms_per_request: {bare * 1000:.3f}")
    print(f"router_overhead_ms: {(routed - bare) * 1000:.3f}")
    print(f"feedback_ms: {feedback * 1000:.3f}")
    print(f"canary_check_ms: {check * 1000:.1f}")
    print(f"canary_check_next_ms: {check_next * 1000:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in ("prompts", "evalsets"):
            shutil.copytree(REPO / folder, root / folder)
        (root / "routes").mkdir()
        (root / "routes" / "bench.yaml").write_text(ROUTE)
        (root / "driftgate.yaml").write_text("suite: evalsets/categorize-sim.suite.yaml\n")
        asyncio.run(main(args.requests, root))
