"""One driftgate run in its own process, so its wall time and peak memory are its own.

Prints a JSON line: {"run_s", "results", "errors", "peak_mb"}.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import driftgate
import driftgate.engine  # noqa: F401 - imported before the clock starts; the parent times the process too


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--no-cache", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    run = driftgate.run(workspace=args.root, no_cache=args.no_cache)
    run_s = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "run_s": run_s,
                "results": run.summary.results,
                "errors": run.summary.errors,
                "peak_mb": peak_mb,
            }
        )
    )


if __name__ == "__main__":
    main()
