"""Shared pieces of the benchmarks: a simulator server in its own process, a workspace."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

LABELS = ["groceries", "dining", "transport", "rent", "fuel", "health"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def child_server(argv: list[str], probe: str, what: str) -> Iterator[None]:
    """A server in a child process (`argv`), ready once `probe` (a URL) answers."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(probe, timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{what} did not start") from None
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def sim_server(latency_ms: float) -> Iterator[str]:
    """`driftgate sim serve` in a child process; yields its base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "driftgate.cli", "sim", "serve", "--port", str(port)]
    base = f"http://127.0.0.1:{port}/v1"
    with child_server(
        [*argv, "--latency-ms", str(latency_ms)], f"{base}/models", "the simulator server"
    ):
        yield base


def make_workspace(root: Path, n_cases: int, model: dict, *, concurrency: int) -> Path:
    """A one-prompt workspace with `n_cases` labeled cases, run against `model`."""
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "evalsets").mkdir(parents=True, exist_ok=True)
    (root / "driftgate.yaml").write_text("suite: evalsets/bench.suite.yaml\n")
    (root / "prompts" / "cat.yaml").write_text(
        json.dumps(
            {
                "name": "cat",
                "params": {"temperature": 0, "max_tokens": 8},
                "messages": [
                    {"role": "system", "content": "Answer with one of: " + ", ".join(LABELS)},
                    {"role": "user", "content": "{{ description }}"},
                ],
                "output": {"type": "label", "labels": LABELS},
            }
        )
    )
    with (root / "evalsets" / "bench.jsonl").open("w") as fh:
        for i in range(n_cases):
            fh.write(
                json.dumps(
                    {
                        "id": f"c{i}",
                        "vars": {"description": f"MERCHANT {i} REF{i * 7919 % 10007}"},
                        "expected": LABELS[i % len(LABELS)],
                        "segment": f"cohort={'new' if i % 3 == 0 else 'old'}",
                    }
                )
                + "\n"
            )
    (root / "evalsets" / "bench.suite.yaml").write_text(
        json.dumps(
            {
                "prompts": ["cat"],
                "models": [model],
                "evalsets": ["bench"],
                "scorers": [{"type": "label-match", "metric": "category"}],
                "max_concurrency": concurrency,
                "pass_threshold": 0.0,
            }
        )
    )
    os.environ["DRIFTGATE_HOME"] = str(root / ".home")
    return root
