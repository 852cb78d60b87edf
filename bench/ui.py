"""What `driftgate ui` costs the server: the runs list over many runs, and the first page of
a very large run's cases.

    python bench/ui.py [--runs 1000] [--cases 100000] [--repeat 7]

A scratch workspace gets `--runs` finished runs (manifest, summary and a few results each)
and one run of `--cases` results (one JSONL segment, as a run writes it). Requests go
through the app in-process (Starlette's test client), so the figures are server time:
routing, the library's reads, rendering. Each figure is the median of `--repeat` requests
after a first one; the first requests (cold: manifests parsed, the big run's Parquet copy
built, as `driftgate query` builds it) are printed apart.

Prints one `name: value` line per figure:
    runs_page_ms              the runs list, newest 50 of --runs (target ≤ 300)
    runs_page_filtered_ms     the same, filtered by model
    run_page_100k_ms          the big run's page: summary and its first 50 cases (target ≤ 300)
    run_page_100k_failed_ms   its first 50 failed cases (a filter over every row)
    runs_page_first_ms        the first runs list (every manifest parsed)
    run_page_100k_first_ms    the big run's first page (its Parquet copy built)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

LABELS = ["groceries", "dining", "transport", "rent"]


def write_runs(root: Path, n_runs: int, n_cases: int) -> str:
    """`n_runs` small finished runs and one of `n_cases` results; returns the big run's id."""
    from driftgate.store.records import PromptInfo, RunManifest, Summary
    from driftgate.store.runs import RunStore

    (root / "prompts").mkdir(parents=True)
    store = RunStore(root / "runs")
    t0 = 1.7e9
    for i in range(n_runs):
        model = ["sim/acme@v1", "sim/acme@v2"][i % 2]
        m = RunManifest(
            id=f"20240101-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-{i:06x}",
            status="finished", suite="evalsets/main.suite.yaml", created_at=t0 + i,
            finished_at=t0 + i + 5, driftgate_version="bench",
            prompts=[PromptInfo(ref="cat@v1", name="cat", version="v1", digest="d1")],
            models=[{"id": model, "label": model}],
            summary=Summary(results=20, passed=18, failed=2, pass_rate=0.9, cost_usd=0.01),
        )  # fmt: skip
        store.create(m)
        with store.writer(m.id) as w:
            w.write_many([_result(m.id, c, model) for c in range(20)])
    big = RunManifest(
        id="20250101-000000-b16b16", status="finished", suite="evalsets/big.suite.yaml",
        created_at=t0 - 1, finished_at=t0, driftgate_version="bench",
        prompts=[PromptInfo(ref="cat@v1", name="cat", version="v1", digest="d1")],
        models=[{"id": "sim/acme@v1", "label": "sim/acme@v1"}],
        summary=Summary(results=n_cases, passed=n_cases * 9 // 10, pass_rate=0.9),
    )  # fmt: skip
    store.create(big)
    with store.writer(big.id) as w:
        for start in range(0, n_cases, 10_000):
            w.write_many(
                [
                    _result(big.id, c, "sim/acme@v1")
                    for c in range(start, min(n_cases, start + 10_000))
                ]
            )
    return big.id


def _result(run_id: str, case: int, model: str) -> dict:
    passed = case % 10 != 0
    return {
        "run_id": run_id, "key": f"cat@v1|{model}|tx|c{case:06d}|0", "evalset": "tx",
        "case_id": f"c{case:06d}", "segment": "cohort=new" if case % 4 == 0 else "cohort=old",
        "tags": [], "prompt": "cat@v1", "prompt_digest": "d1", "model": model, "repeat": 0,
        "messages": [{"role": "user", "content": f"merchant {case}"}],
        "expected": LABELS[case % 4], "output": LABELS[(case + (0 if passed else 1)) % 4],
        "parsed": None, "scores": [{"metric": "category", "value": float(passed),
                                    "passed": passed}],
        "score": float(passed), "passed": passed, "attempts": 1, "latency_ms": 12.5,
        "cost_usd": 0.0001, "cached": False, "ts": 1.7e9 + case * 1e-3,
    }  # fmt: skip


def timed(client: object, url: str, repeat: int) -> tuple[float, float]:
    """(first request's ms, median ms of the next `repeat`)."""
    times = []
    for _ in range(repeat + 1):
        t = time.perf_counter()
        response = client.get(url)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:500])
    return times[0], statistics.median(times[1:])


def main(n_runs: int, n_cases: int, repeat: int) -> dict[str, float]:
    from starlette.testclient import TestClient

    from driftgate.ui import create_app

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        big = write_runs(root, n_runs, n_cases)
        client = TestClient(create_app(root))
        figures: dict[str, float] = {}
        figures["runs_page_first_ms"], figures["runs_page_ms"] = timed(client, "/runs", repeat)
        _, figures["runs_page_filtered_ms"] = timed(client, "/runs?model=sim/acme@v2", repeat)
        first, figures["run_page_100k_ms"] = timed(client, f"/runs/{big}", repeat)
        figures["run_page_100k_first_ms"] = first
        _, figures["run_page_100k_failed_ms"] = timed(client, f"/runs/{big}?status=failed", repeat)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for name, value in main(args.runs, args.cases, args.repeat).items():
        print(f"{name}: {value:.1f}")
