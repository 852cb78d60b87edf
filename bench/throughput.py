"""Throughput of the whole engine against the simulator's HTTP server.

N cases, provider latency L, C calls in flight: the ideal wall time is N·L/C. The run is end
to end (rendering, HTTP, parsing, scoring, durable storage, summary). Then the same suite
again, fully served from the response cache.

    python bench/throughput.py [--cases 2000] [--latency-ms 50] [--concurrency 64]

Prints one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import make_workspace, sim_server

import driftgate
import driftgate.engine  # noqa: F401 - import cost is not part of the throughput figure


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp, sim_server(args.latency_ms) as base:
        model = {"id": "openai/sim/perfect@v1", "api_base": base, "concurrency": args.concurrency}
        root = make_workspace(Path(tmp), args.cases, model, concurrency=args.concurrency)
        t0 = time.perf_counter()
        run = driftgate.run(workspace=root)
        wall = time.perf_counter() - t0
        assert run.summary.results == args.cases, run.summary
        assert run.summary.errors == 0, "provider errors in the benchmark"
        t0 = time.perf_counter()
        cached = driftgate.run(workspace=root)
        cached_s = time.perf_counter() - t0
        assert all(r.cached for r in cached.results[:50])

    ideal = args.cases * args.latency_ms / 1000 / args.concurrency
    print(f"cases: {args.cases}")
    print(f"latency_ms: {args.latency_ms}")
    print(f"concurrency: {args.concurrency}")
    print(f"ideal_s: {ideal:.3f}")
    print(f"wall_s: {wall:.3f}")
    print(f"throughput_ratio_to_ideal: {wall / ideal:.2f}")
    print(f"cases_per_s: {args.cases / wall:.0f}")
    print(f"cached_rerun_s: {cached_s:.3f}")


if __name__ == "__main__":
    main()
