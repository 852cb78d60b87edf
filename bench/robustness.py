"""What a flaky provider, kill -9, racing runs, bad input and a leaky provider cost (#16).

    .venv/bin/python bench/robustness.py [--quick]

The default run takes about 50 s on a busy 2-core machine; `--quick` about 20 s.
Everything is offline: a fault-injecting OpenAI-compatible server in this process
(`tests/robustness/fault_server.py`) and the simulator, with real `driftgate` commands
(in this process, or in child processes where they are to be killed or raced).

    faults    one run of FAULT_CASES cases against the fault server failing 10% of sends
              in every way (429 + Retry-After, 5xx, timeouts, resets, malformed JSON, empty
              choices, truncated bodies)
    kills     runs and `--resume`s SIGKILLed at seeded random points (during start-up,
              mid-run, while finishing), each run then resumed to its end
    racing    4 `driftgate run` processes at once in one workspace
    bad       the bad-input corpus of `tests/robustness/test_bad_inputs.py`, each through
              the CLI entry in a fresh copy of a small workspace
    secrets   a provider that echoes the Authorization header in every 401 body, with a
              planted API key, and every report format written

Figures, one `name: value` line each:

    faults_injected        faults the server injected in the faults run
    uncounted_sends        sends the server read that no stored row counts as an attempt
    cases_lost             planned cases with no stored row (faults, kills, racing runs)
    duplicates             stored lines beyond the first of their key (same runs)
    kills                  processes SIGKILLed while alive
    runs_left_running      runs read as `running` after their process was killed
    exactly_once_rate      runs with one row per case, a summary that counts those rows
                           and status finished, over all runs checked   (target 1.0)
    bad_inputs             bad inputs tried
    bad_inputs_clear_rate  of those, exit 2, no traceback, and the message names the file
                           / line / field or flag the corpus expects    (target 1.0)
    writes_leaked          files created or changed under runs/ or .driftgate/ by a
                           refused bad input                           (target 0)
    secrets_leaked         stored files, reports or command output holding the planted
                           key                                          (target 0)
    secret_echoes          401 bodies that carried the key (the exposure measured)
    seconds                wall time
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "robustness")]

from fault_server import FaultServer, fault_suite  # noqa: E402
from test_kills import MODEL, audit_run, kill_and_resume  # noqa: E402

from conftest import write_workspace  # noqa: E402
from driftgate.store.runs import RunStore  # noqa: E402

KEY_ENV = "DG_BENCH_PROVIDER_KEY"


@contextlib.contextmanager
def environ(**values: str | None) -> Iterator[None]:
    """Set (or, with None, unset) environment variables for the block."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cli(*argv: str) -> tuple[int, str, str]:
    """`driftgate ARGV` through the console entry, in this process: exit code, out, err."""
    from driftgate.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["driftgate", *argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # noqa: BLE001 - a crash is a figure here, as a user sees it
                import traceback

                traceback.print_exc()
                code = 1
    finally:
        sys.argv = saved
    return code, out.getvalue(), err.getvalue()


def case_ids(n: int) -> set[str]:
    return {f"c{i:03d}" for i in range(n)}


# ---- the parts ---------------------------------------------------------------------------------
def faults(tmp: Path, n: int, figures: dict[str, float], audits: list) -> None:
    root = write_workspace(tmp / "faults", n_cases=n)
    with environ(DRIFTGATE_HOME=str(tmp / "faults-home")):
        with FaultServer(rate=0.1, seed=16, stall_s=0.6) as server:
            fault_suite(root, server.url)
            cli("run", "--quiet", "-w", str(root))
    store = RunStore(root / "runs")
    (run_id,) = store.ids()
    audits.append(audit_run(store, run_id, case_ids(n)))
    attempts = sum(r.attempts for r in store.results(run_id))
    figures["faults_injected"] = sum(server.injected.values())
    figures["uncounted_sends"] = server.requests - attempts


def kills(tmp: Path, n_kills: int, figures: dict[str, float], audits: list) -> None:
    n = 400  # the kill test's workload: ~2 s of calls per run at 4 in flight
    root = write_workspace(tmp / "kills", n_cases=n, model=MODEL)
    log = kill_and_resume(root, tmp / "kills-home", kills=n_kills, seed=1616)
    store = RunStore(root / "runs")
    audits += [audit_run(store, run_id, case_ids(n)) for run_id in store.ids()]
    figures["kills"] = log.kills
    figures["runs_left_running"] = len(log.stuck)
    for argv, code, err in log.failed:
        print(f"# driftgate {' '.join(argv)} exited {code}: {err.strip()[-300:]}", file=sys.stderr)


def racing(tmp: Path, n: int, audits: list) -> None:
    model = "sim/acme@v1?latency_ms=20&latency_jitter_ms=0"
    root = write_workspace(tmp / "racing", n_cases=n, model=model)
    env = {**os.environ, "DRIFTGATE_HOME": str(tmp / "racing-home")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "driftgate.cli", "run", "--quiet", "--max-concurrency", "4"]
            + ["-m", f"{model}&seed={i % 2}", "-w", str(root)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(4)
    ]
    for p in procs:
        p.wait(300)
    store = RunStore(root / "runs")
    audits += [audit_run(store, run_id, case_ids(n)) for run_id in store.ids()]
    # A run that never got a folder is lost whole.
    audits += [_Missing(n)] * (len(procs) - len(store.ids()))


class _Missing:
    """A run that left nothing: every case lost."""

    def __init__(self, n: int) -> None:
        self.lost, self.duplicates, self.exactly_once = n, 0, False


def bad_inputs(tmp: Path, figures: dict[str, float]) -> None:
    from test_bad_inputs import CORPUS, prepare_workspace, snapshot_state

    base = write_workspace(tmp / "bad-base" / "ws", n_cases=4)
    (base / "routes").mkdir()
    (base / "runs").mkdir()
    clear = leaked = 0
    cwd = os.getcwd()
    for i, case in enumerate(CORPUS):
        where = tmp / "bad" / str(i)
        root = prepare_workspace(case, base, where)
        before = snapshot_state(root)
        os.chdir(root)
        try:
            with environ(DRIFTGATE_HOME=str(where / "home"), DRIFTGATE_WORKSPACE=None):
                code, out, err = cli(*case.argv)
        finally:
            os.chdir(cwd)
        named = all(words in err for words in case.expect)
        if code == 2 and "Traceback" not in out + err and named:
            clear += 1
        else:
            print(f"# unclear: {case.id}: exit {code}: {err.strip()[-300:]}", file=sys.stderr)
        after = snapshot_state(root)
        leaked += sum(1 for path, stamp in after.items() if before.get(path) != stamp)
        shutil.rmtree(where, ignore_errors=True)
    figures["bad_inputs"] = len(CORPUS)
    figures["bad_inputs_clear_rate"] = clear / len(CORPUS)
    figures["writes_leaked"] = leaked


def secret_leaks(tmp: Path, figures: dict[str, float]) -> None:
    key = f"sk-bench-{secrets.token_hex(20)}"
    root = write_workspace(tmp / "secrets", n_cases=20)
    home = tmp / "secrets-home"
    reports = root / "reports"
    reports.mkdir()
    outputs = [str(reports / f"run.{ext}") for ext in ("json", "html", "md", "csv", "xml")]
    with environ(DRIFTGATE_HOME=str(home), **{KEY_ENV: key}):
        with FaultServer(rate=0, echo_auth_401=True) as server:
            fault_suite(root, server.url, f", api_key_env: {KEY_ENV}")
            argv = ["run", "--quiet", "-w", str(root)]
            for path in outputs:
                argv += ["-o", path]
            _, out, err = cli(*argv)
            (run_id,) = RunStore(root / "runs").ids()
            shown = [
                cli("show", run_id, "--failures", "20", "-w", str(root)),
                cli("show", run_id, "--json", "-w", str(root)),
                cli("query", "SELECT error, output FROM results", "-w", str(root)),
            ]
    texts = [out, err] + [o + e for _, o, e in shown]
    needle = key.encode()
    files = [p for folder in (root, home) for p in folder.rglob("*") if p.is_file()]
    leaked = sum(1 for p in files if needle in p.read_bytes())
    figures["secrets_leaked"] = leaked + sum(1 for t in texts if key in t)
    figures["secret_echoes"] = server.requests


# ---- main ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="A smaller run (about 20 s).")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    os.environ.setdefault("DRIFTGATE_USER", "bench-robustness")
    figures: dict[str, float] = {}
    audits: list = []
    with tempfile.TemporaryDirectory(prefix="dg-robustness-") as name:
        tmp = Path(name)
        faults(tmp, 300 if args.quick else 2000, figures, audits)
        kills(tmp, 20 if args.quick else 60, figures, audits)
        racing(tmp, 100 if args.quick else 300, audits)
        bad_inputs(tmp, figures)
        secret_leaks(tmp, figures)
    figures["cases_lost"] = sum(a.lost for a in audits)
    figures["duplicates"] = sum(a.duplicates for a in audits)
    figures["exactly_once_rate"] = sum(1 for a in audits if a.exactly_once) / len(audits)
    figures["runs_checked"] = len(audits)
    order = [
        "faults_injected", "uncounted_sends", "cases_lost", "duplicates", "kills",
        "runs_left_running", "exactly_once_rate", "runs_checked", "bad_inputs",
        "bad_inputs_clear_rate", "writes_leaked", "secrets_leaked", "secret_echoes",
    ]  # fmt: skip
    for name in order:
        value = figures[name]
        print(f"{name}: {value:g}" if isinstance(value, float) else f"{name}: {value}")
    print(f"seconds: {time.perf_counter() - t0:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
