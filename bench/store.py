"""The shared store on an S3-compatible server on loopback (moto in server mode, its own
process) against the local folder, measured in one run.

    python bench/store.py [--cases 10000] [--history-runs 100] [--shard-latency-ms 50]

- `s3_run_ratio_to_local`: the same suite of `--cases` cases on the in-process simulator,
  once with the local runs folder and once with `DRIFTGATE_STORE` on the S3 server (results
  uploaded as parts while the run goes, the manifest and the Parquet export at its end);
  wall time of the second over the first (target ≤ 1.5); both without the response cache.
- `s3_query_1m_s`: `--history-runs` runs of `--cases` results (1,000,000 by default) made
  locally and migrated to the bucket (`driftgate store migrate`), then a history query
  (pass rate by run and segment) from an empty workspace copy on the shared store: the
  Parquet exports fetched and read by DuckDB; wall time of `driftgate query` (target ≤ 3 s),
  and again warm (`s3_query_1m_warm_s`).
- `obstore_vs_s3fs_small_ops`: why obstore: 300 puts and 300 gets of 1 KB objects through
  each library, time of s3fs over obstore's (printed when s3fs is installed:
  `pip install s3fs`).
- `shard4_ratio_to_ideal`: the suite on a simulator that answers after
  `--shard-latency-ms`, as one process and as four `driftgate run --shard I/4` processes
  writing one run in the bucket; the four's wall time over a quarter of the one's.

Prints one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _common import child_server, free_port, make_workspace

import driftgate
import driftgate.engine  # noqa: F401 - import cost is not part of the figures

FAST_SIM = "sim/perfect@v1?latency_ms=0&latency_jitter_ms=0"
S3_ENV = {
    "AWS_ALLOW_HTTP": "true",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server in its own process (as a real server would be); its endpoint."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with child_server(argv, f"{endpoint}/moto-api/", "the S3 server"):
        yield endpoint


def new_bucket(endpoint: str, name: str) -> str:
    import boto3

    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
    ).create_bucket(Bucket=name)
    return f"s3://{name}/team"


@contextlib.contextmanager
def shared(url: str | None) -> Iterator[None]:
    """This process on the shared store at `url` (None: the local folders) for the block."""
    before = os.environ.get("DRIFTGATE_STORE")
    if url:
        os.environ["DRIFTGATE_STORE"] = url
    else:
        os.environ.pop("DRIFTGATE_STORE", None)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DRIFTGATE_STORE", None)
        else:
            os.environ["DRIFTGATE_STORE"] = before


def small_ops(endpoint: str, bucket: str) -> tuple[float, float | None]:
    """Seconds for 300 puts + 300 gets of 1 KB through obstore, and through s3fs if present."""
    import obstore
    from obstore.store import from_url

    store = from_url(f"s3://{bucket}")
    t0 = time.perf_counter()
    for i in range(300):
        obstore.put(store, f"o/{i}", b"x" * 1000)
    for i in range(300):
        obstore.get(store, f"o/{i}").bytes()
    ob = time.perf_counter() - t0
    try:
        import s3fs
    except ImportError:
        return ob, None
    fs = s3fs.S3FileSystem(key="bench", secret="bench", endpoint_url=endpoint)
    t0 = time.perf_counter()
    for i in range(300):
        fs.pipe_file(f"{bucket}/s/{i}", b"x" * 1000)
    for i in range(300):
        fs.cat_file(f"{bucket}/s/{i}")
    return ob, time.perf_counter() - t0


def timed_run(root: Path, url: str | None) -> float:
    with shared(url):
        t0 = time.perf_counter()
        run = driftgate.run(workspace=root, progress="off", no_cache=True)
        wall = time.perf_counter() - t0
    assert run.manifest.status == "finished" and run.summary and run.summary.errors == 0, run
    return wall


def dg(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "driftgate.cli", *args],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert out.returncode in (0, 1), out.stderr
    return out


def copy_workspace(root: Path, to: Path) -> Path:
    """Another machine's checkout: the workspace's files without its runs or state."""
    shutil.copytree(root, to, ignore=shutil.ignore_patterns("runs", ".driftgate", ".home"))
    return to


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--history-runs", type=int, default=100)
    ap.add_argument("--shard-latency-ms", type=float, default=50.0)
    ap.add_argument("--shard-concurrency", type=int, default=16)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp, s3_server() as endpoint:
        os.environ.update(S3_ENV, AWS_ENDPOINT_URL=endpoint)
        tmp_path = Path(tmp)

        # 0. The object-store library.
        new_bucket(endpoint, "bench-ops")
        obstore_s, s3fs_s = small_ops(endpoint, "bench-ops")

        # 1. One run, local folder against the S3 server (best of two each: a warm-up).
        root = make_workspace(tmp_path / "ws", args.cases, {"id": FAST_SIM}, concurrency=64)
        url = new_bucket(endpoint, "bench-run")
        local_s = min(timed_run(root, None) for _ in range(2))
        s3_s = min(timed_run(root, url) for _ in range(2))

        # 2. History: runs made locally, migrated, queried from an empty copy.
        for _ in range(max(0, args.history_runs - 4)):  # four runs above are history too
            timed_run(root, None)
        history = new_bucket(endpoint, "bench-history")
        env = {"DRIFTGATE_HOME": str(root / ".home")}
        t0 = time.perf_counter()
        dg(root, env, "store", "migrate", "--to", history)
        migrate_s = time.perf_counter() - t0
        reader = copy_workspace(root, tmp_path / "reader")
        sql = (
            "select run_id, segment, count(*) as n, avg(passed::int) as pass_rate "
            "from results group by all order by run_id, segment"
        )
        store_env = {**env, "DRIFTGATE_STORE": history}
        t0 = time.perf_counter()
        out = dg(reader, store_env, "query", sql, "--json")
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        dg(reader, store_env, "query", sql, "--json")
        warm_s = time.perf_counter() - t0
        import json

        rows = json.loads(out.stdout)
        total = sum(int(r["n"]) for r in rows)

        # 3. Four shards as four processes against one.
        model = {"id": f"sim/perfect@v1?latency_ms={args.shard_latency_ms}&latency_jitter_ms=0"}
        sharded = make_workspace(
            tmp_path / "sharded", args.cases, model, concurrency=args.shard_concurrency
        )
        env = {"DRIFTGATE_HOME": str(sharded / ".home")}
        t0 = time.perf_counter()
        dg(sharded, env, "run", "-q")
        one_s = time.perf_counter() - t0
        bucket = new_bucket(endpoint, "bench-shards")
        copies = [copy_workspace(sharded, tmp_path / f"runner{i}") for i in range(1, 5)]
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "driftgate.cli", "run", "-q"]
                + ["--shard", f"{i}/4", "--run-id", "bench-shard4"],
                cwd=copy,
                env={**os.environ, **env, "DRIFTGATE_STORE": bucket},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, copy in enumerate(copies, start=1)
        ]
        errors = [p.communicate()[1] for p in procs]
        four_s = time.perf_counter() - t0
        assert all(p.returncode in (0, 1) for p in procs), errors

    print(f"small_ops_obstore_s: {obstore_s:.2f}")
    if s3fs_s is not None:
        print(f"small_ops_s3fs_s: {s3fs_s:.2f}")
        print(f"obstore_vs_s3fs_small_ops: {s3fs_s / obstore_s:.2f}")
    print(f"cases: {args.cases}")
    print(f"local_run_s: {local_s:.3f}")
    print(f"s3_run_s: {s3_s:.3f}")
    print(f"s3_run_ratio_to_local: {s3_s / local_s:.2f}")
    print(f"history_results: {total}")
    print(f"migrate_s: {migrate_s:.2f}")
    print(f"s3_query_1m_s: {cold_s:.2f}")
    print(f"s3_query_1m_warm_s: {warm_s:.2f}")
    print(f"shard1_s: {one_s:.2f}")
    print(f"shard4_s: {four_s:.2f}")
    print(f"shard4_ratio_to_ideal: {four_s / (one_s / 4):.2f}")


if __name__ == "__main__":
    main()
