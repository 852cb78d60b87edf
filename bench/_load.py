"""A load generator in its own process, so its event loop never shares a core's time slice
with the server it measures (bench/gateway.py runs it once per target and level).

    python bench/_load.py URL MODEL --requests N --clients C [--key KEY] [--warmup W]

`clients` coroutines each send chat completions back to back over one shared connection
pool (one connection per client), until `requests` have been answered. The client is
aiohttp's: httpx's pool measured 104 requests/s with p99 3 s against the bare 50 ms stub at
64 clients on these machines, where aiohttp's measured ~1,070/s and p99 83 ms, so httpx would
have measured itself. Prints a JSON line:
{"p50_ms", "p99_ms", "rps", "errors", "requests", "clients"}; latencies are per request,
from send to the whole body read; `rps` is answered requests over the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_ms:
        return float("nan")
    rank = max(1, round(q / 100 * len(sorted_ms) + 0.5 - 1e-9))
    return sorted_ms[min(rank, len(sorted_ms)) - 1]


async def _drive(
    client: aiohttp.ClientSession, url: str, body: bytes, n: int, clients: int
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    left = n

    async def one_client() -> None:
        nonlocal left, errors
        while left > 0:
            left -= 1
            t0 = time.perf_counter()
            try:
                async with client.post(url, data=body) as response:
                    ok = response.status == 200 and b'"choices"' in await response.read()
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            if ok:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies, errors, time.perf_counter() - t0


async def run(
    url: str, model: str, *, requests: int, clients: int, key: str | None, warmup: int
) -> dict[str, float]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "UBER *TRIP 4411"}]}
    ).encode()
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=120.0)
    async with aiohttp.ClientSession(
        headers=headers, connector=connector, timeout=timeout
    ) as client:
        if warmup:  # connections opened, the server's lazy paths (providers, routes) built
            await _drive(client, url, body, warmup, clients)
        latencies, errors, wall = await _drive(client, url, body, requests, clients)
    latencies.sort()
    return {
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "rps": len(latencies) / wall,
        "errors": errors,
        "requests": requests,
        "clients": clients,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("model")
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--key")
    ap.add_argument("--warmup", type=int, default=0)
    args = ap.parse_args()
    result = asyncio.run(
        run(args.url, args.model, requests=args.requests, clients=args.clients, key=args.key,
            warmup=args.warmup)
    )  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
