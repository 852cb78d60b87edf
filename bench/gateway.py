"""`driftgate serve` against LiteLLM's proxy, side by side, on one loopback stub (#17).

    .venv/bin/python bench/gateway.py [--requests 2000] [--clients 8,64,256] [--workers 1]
        [--litellm-proxy PATH] [--quick]

The stub is the simulator's OpenAI-compatible server (`driftgate sim serve`) answering every
request after `--latency-ms` (50). Each server runs in its own process, one at a time, and
the load comes from another process (bench/_load.py: `clients` concurrent clients sending
`requests` chat completions back to back, after a warm-up), so no server shares its event
loop with the load generator. Targets, each measured at every client level:

    direct               the stub itself: the floor every figure is compared with
    gateway              `driftgate serve`, model `route/bench` (one arm, on the stub)
    gateway_passthrough  `driftgate serve`, the arm's model id called directly
    litellm_proxy        `litellm --config` (one model on the stub, a master key), from
                         --litellm-proxy PATH or $LITELLM_PROXY_BIN; skipped when absent

Both gateways authenticate a client key on every request. driftgate's workspace names the
model `openai/sim/perfect@v1` with the stub as OPENAI_API_BASE in the server's environment,
so the gateway calls it the way it calls any litellm model id; LiteLLM's config names the
same id with the stub as its `api_base`.

Figures, one `name: value` line each (L: a client level; the lowest level is "unloaded"):

    T_p50_ms_L, T_p99_ms_L, T_rps_L     latency per request and answered requests/s
    direct_p50_ms, direct_p99_ms        the stub at the lowest level
    T_overhead_p50_ms / _p99_ms         T minus direct at the lowest level
    gateway_overhead_p50_ms_L / _p99_ms_L   the gateway minus direct at a loaded level L
    gateway_rps_ratio_to_direct_L       throughput kept through the gateway
    gateway_rps_ratio_to_litellm_L      the gateway's throughput over LiteLLM proxy's
    gateway_p50_ratio_to_litellm_L      the gateway's p50 over LiteLLM proxy's
    overhead_ratio_vs_litellm_proxy     LiteLLM proxy's p50 overhead over the gateway's
    rps_ratio_vs_litellm_proxy          gateway_rps_ratio_to_litellm_64 (the issue's name)
    errors                              requests not answered 200 with choices (all targets)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # _common, when imported by a test rather than run

from _common import free_port, sim_server  # noqa: E402

MODEL = "openai/sim/perfect@v1"  # litellm's OpenAI-compatible id of the stub's profile
CLIENT_KEY = "sk-bench-client-0001"
MASTER_KEY = "sk-bench-master-0001"
PROVIDER_KEY = "sk-bench-provider"  # the stub checks none; litellm wants one set
INSTALL = (
    "python3 -m venv /work/litellm-proxy-venv && "
    "/work/litellm-proxy-venv/bin/pip install 'litellm[proxy]'"
)
ROUTE = f"arms:\n  - {{name: main, prompt: echo@v1, model: {MODEL}, weight: 100}}\n"
PROMPT = "name: echo\nversion: v1\nmessages:\n  - {role: user, content: '{{ text }}'}\n"


def write_workspace(root: Path) -> Path:
    """A workspace with route `bench` (one arm on the stub) and one hashed client key."""
    digest = hashlib.sha256(CLIENT_KEY.encode()).hexdigest()
    (root / "prompts").mkdir(parents=True)
    (root / "routes").mkdir()
    (root / "prompts" / "echo.yaml").write_text(PROMPT)
    (root / "routes" / "bench.yaml").write_text(ROUTE)
    (root / "driftgate.yaml").write_text(
        "gateway:\n  keys:\n"
        f"    - {{name: bench, sha256: {digest}, routes: ['*'], models: ['*']}}\n"
    )
    return root


def _wait_ready(url: str, proc: subprocess.Popen, what: str, log: Path, timeout: float) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"{what} did not become ready at {url}:\n{tail}") from None
            time.sleep(0.1)


@contextlib.contextmanager
def _server(cmd: list[str], env: dict[str, str], cwd: Path, ready: str, what: str,
            timeout: float) -> Iterator[None]:  # fmt: skip
    """`cmd` as a child process, its output in a log file (shown if it fails to start)."""
    log = cwd / f".{what.replace(' ', '-')}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(ready, proc, what, log, timeout)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def driftgate_gateway(root: Path, stub: str, workers: int) -> Iterator[str]:
    """`driftgate serve` over the workspace at `root`; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DRIFTGATE_HOME": str(root / ".home"),
        "OPENAI_API_BASE": stub,
        "OPENAI_API_KEY": PROVIDER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    cmd = [sys.executable, "-m", "driftgate.cli", "serve", "--port", str(port),
           "--workers", str(workers), "--log-level", "warning"]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with _server(cmd, env, root, f"{base}/readyz", "driftgate serve", timeout=60):
        yield f"{base}/v1"


def find_litellm_proxy(path: str | None) -> str | None:
    """The `litellm` command of an install with the proxy extra, if one was named."""
    named = path or os.environ.get("LITELLM_PROXY_BIN")
    if named and Path(named).is_file() and os.access(named, os.X_OK):
        return named
    return None


@contextlib.contextmanager
def litellm_proxy(command: str, root: Path, stub: str) -> Iterator[str]:
    """`litellm --config` with one model on the stub and a master key; yields its base URL."""
    port = free_port()
    config = root / "litellm.yaml"
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "bench",
                        "litellm_params": {
                            "model": MODEL,
                            "api_base": stub,
                            "api_key": PROVIDER_KEY,
                        },
                    }  # fmt: skip
                ],
                "general_settings": {"master_key": MASTER_KEY},
            }
        )
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    cmd = [command, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with _server(cmd, env, root, f"{base}/health/readiness", "litellm proxy", timeout=180):
        yield f"{base}/v1"


def load(base: str, model: str, *, requests: int, clients: int, key: str | None) -> dict:
    """One measurement from the load generator's own process."""
    cmd = [sys.executable, str(BENCH / "_load.py"), f"{base}/chat/completions", model,
           "--requests", str(requests), "--clients", str(clients),
           "--warmup", str(min(requests, 2 * clients))]  # fmt: skip
    if key:
        cmd += ["--key", key]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(base: str, model: str, key: str | None, levels: list[int], requests: int) -> dict:
    return {c: load(base, model, requests=requests, clients=c, key=key) for c in levels}


def figures(results: dict[str, dict[int, dict]], levels: list[int]) -> dict[str, float]:
    """The printed figures from each target's measurements per client level."""
    low = levels[0]
    out: dict[str, float] = {}
    for target, by_level in results.items():
        for c in levels:
            r = by_level[c]
            out.update({f"{target}_p50_ms_{c}": r["p50_ms"], f"{target}_p99_ms_{c}": r["p99_ms"],
                        f"{target}_rps_{c}": r["rps"]})  # fmt: skip
    direct = results["direct"][low]
    out["direct_p50_ms"], out["direct_p99_ms"] = direct["p50_ms"], direct["p99_ms"]
    for target in [t for t in results if t != "direct"]:
        for q in ("p50", "p99"):
            out[f"{target}_overhead_{q}_ms"] = results[target][low][f"{q}_ms"] - direct[f"{q}_ms"]
    gateway, litellm = results["gateway"], results.get("litellm_proxy")
    for c in levels[1:]:
        for q in ("p50", "p99"):  # under load, where the p99 target is set (64)
            out[f"gateway_overhead_{q}_ms_{c}"] = (
                gateway[c][f"{q}_ms"] - results["direct"][c][f"{q}_ms"]
            )
        out[f"gateway_rps_ratio_to_direct_{c}"] = gateway[c]["rps"] / results["direct"][c]["rps"]
        if litellm:
            out[f"gateway_rps_ratio_to_litellm_{c}"] = gateway[c]["rps"] / litellm[c]["rps"]
            out[f"gateway_p50_ratio_to_litellm_{c}"] = gateway[c]["p50_ms"] / litellm[c]["p50_ms"]
    if litellm:
        # Relative to a floor; an overhead at or below zero (noise) would divide by nothing.
        overhead = max(out["gateway_overhead_p50_ms"], 0.01)
        out["overhead_ratio_vs_litellm_proxy"] = out["litellm_proxy_overhead_p50_ms"] / overhead
        if 64 in levels:  # the name for the 64-client throughput ratio
            out["rps_ratio_vs_litellm_proxy"] = out["gateway_rps_ratio_to_litellm_64"]
    out["errors"] = sum(r["errors"] for by_level in results.values() for r in by_level.values())
    return out


def run(*, requests: int, levels: list[int], latency_ms: float, workers: int,
        litellm: str | None, passthrough: bool = True) -> dict[str, float]:  # fmt: skip
    """Every target at every level in one run; returns the figures."""
    results: dict[str, dict[int, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp, sim_server(latency_ms) as stub:
        root = write_workspace(Path(tmp) / "ws")
        results["direct"] = measure(stub, "sim/perfect@v1", None, levels, requests)
        with driftgate_gateway(root, stub, workers) as base:
            results["gateway"] = measure(base, "route/bench", CLIENT_KEY, levels, requests)
            if passthrough:
                results["gateway_passthrough"] = measure(base, MODEL, CLIENT_KEY, levels, requests)
        if litellm:
            with litellm_proxy(litellm, Path(tmp), stub) as base:
                results["litellm_proxy"] = measure(base, "bench", MASTER_KEY, levels, requests)
    return figures(results, levels)


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="Requests per target and level.")
    ap.add_argument("--clients", default="8,64,256", help="Client levels, lowest first.")
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--workers", type=int, default=1, help="`driftgate serve --workers`.")
    ap.add_argument("--litellm-proxy", help="LiteLLM's `litellm` command ($LITELLM_PROXY_BIN).")
    ap.add_argument("--no-litellm", action="store_true", help="Measure driftgate only.")
    ap.add_argument("--no-passthrough", action="store_true", help="Measure the route only.")
    ap.add_argument("--quick", action="store_true", help="300 requests at 8 and 64 clients.")
    args = ap.parse_args(argv)
    requests, clients = (300, "8,64") if args.quick else (args.requests, args.clients)
    levels = sorted({int(c) for c in clients.split(",")})
    litellm = None if args.no_litellm else find_litellm_proxy(args.litellm_proxy)
    print(f"requests: {requests}")
    print(f"clients: {','.join(map(str, levels))}")
    print(f"latency_ms: {args.latency_ms:g}")
    print(f"workers: {args.workers}")
    if litellm is None and not args.no_litellm:
        print("litellm_proxy: skipped (not found: pass --litellm-proxy PATH or set "
              f"LITELLM_PROXY_BIN to the `litellm` command of an install such as: {INSTALL})")  # fmt: skip
    result = run(requests=requests, levels=levels, latency_ms=args.latency_ms,
                 workers=args.workers, litellm=litellm, passthrough=not args.no_passthrough)  # fmt: skip
    for name, value in result.items():
        whole = re.fullmatch(r".*_rps_\d+|errors", name) is not None
        print(f"{name}: {value:.0f}" if whole else f"{name}: {value:.2f}")
    return result


if __name__ == "__main__":
    main()
