"""Drift detection on simulator scenarios: is each drift found by the right signals, and how
often does the monitor cry wolf when nothing changed?

    .venv/bin/python bench/drift_scenarios.py [--null 200] [--replicates 5] [--cases 400]

Setup: a JSON-output categorization prompt on `sim/acme@prod`, a provider whose behaviour
this script swaps under the same model name (a silent update is exactly that), and a
golden set of 400 bank transactions, half in the new bank format. Every check calls the
in-process simulator with zero latency and a fresh `seed`, so every check is an
independent draw: the noise a nondeterministic provider puts between two runs.

1. Baseline: the first check (acme@v1, seed 0).
2. Null: `--null` checks of unchanged behaviour (acme@v1, seeds 1000+i).
3. False alarms, honestly counted: the null checks are split in two halves; thresholds are
   tuned (`tune_from_checks`, target 1/12 per check) on one half and judged on the other,
   and vice versa, so no check is judged by thresholds fitted on it.
4. Thresholds tuned on all null checks are saved; each drift scenario then runs
   `--replicates` times with fresh seeds and counts as detected when the trigger fires
   *and* the signals expected for it are among those that drifted:
     provider-update   acme@v1 → acme@v2: -10 points on cohort=new-bank-format (+ fingerprint)
     verbosity         acme@v3-verbose: 20 words of padding, same accuracy
     json-break        acme@v4-jsonbreak: 5% of outputs truncated JSON
     traffic-shift     `drift traffic`: production inputs move to the new bank's format, while
                       the golden set (of that suite) holds the classic format only
   plus, reported apart from the rate: the v2 update with v1's fingerprint (truly silent).

Prints one line per scenario, then `detection_rate: X` and `false_alarm_rate: X`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from driftgate.drift import (  # noqa: E402
    DriftCheck,
    check_drift,
    check_traffic,
    tune_from_checks,
    tune_thresholds,
)
from driftgate.drift.tune import apply_thresholds  # noqa: E402
from driftgate.examples.bank import COHORT_ESTABLISHED, COHORT_NEW, golden_cases  # noqa: E402
from driftgate.providers.simulator import profiles, register_profile  # noqa: E402

MODEL = "acme@prod"
TARGET = 1 / 12
EXPECTED = {  # scenario → signals of which at least one must drift (besides the trigger firing)
    "provider-update": {"score_change"},
    "verbosity": {"length_shift", "output_shift"},
    "json-break": {"format_validity"},
    "traffic-shift": {
        "input_shift",
        "far_inputs",
        "psi_categorical",
        "psi_length",
        "input_shift_window",
        "psi_window",
    },
    "silent-update (extra)": {"score_change"},
}


def provider(version: str, seed: int, **overrides: Any) -> None:
    """`sim/acme@prod` now behaves like the built-in acme@<version>, with no latency."""
    base = profiles()[f"acme@{version}"]
    register_profile(
        MODEL,
        base.model_copy(
            update={"seed": seed, "latency_ms": 0.0, "latency_jitter_ms": 0.0, **overrides}
        ),
    )


def build_workspace(root: Path, n_cases: int) -> list[dict[str, Any]]:
    """Two suites: `main` (both cohorts, for provider drift) and `classic` (the golden set
    as built before the new bank went live, for prompt drift)."""
    (root / "prompts").mkdir(parents=True)
    (root / "evalsets").mkdir()
    (root / "driftgate.yaml").write_text("suite: evalsets/main.suite.yaml\n")
    pool = golden_cases(seed=11, n_cases=4 * n_cases)
    new = [c for c in pool if c["segment"] == COHORT_NEW][: n_cases // 2]
    old = [c for c in pool if c["segment"] == COHORT_ESTABLISHED][: n_cases - len(new)]
    labels = sorted({c["expected"] for c in pool})
    (root / "prompts" / "categorize.yaml").write_text(
        json.dumps(
            {
                "name": "categorize",
                "model": f"sim/{MODEL}",
                "params": {"temperature": 0},
                "messages": [
                    {
                        "role": "user",
                        "content": 'Categorize as JSON {"category": one of '
                        + ", ".join(labels)
                        + "}: {{ description }}",
                    }
                ],
                "output": {"type": "json"},
            }
        )
    )
    for name, cases in (("main", new + old), ("classic", old)):
        with (root / "evalsets" / f"{name}.jsonl").open("w") as fh:
            for c in cases:
                fh.write(json.dumps({**c, "expected": {"category": c["expected"]}}) + "\n")
        (root / "evalsets" / f"{name}.suite.yaml").write_text(
            f"prompts: [categorize]\nevalsets: [{name}]\nscorers:\n  - {{type: equals}}\n"
            "pass_threshold: 0\nmax_concurrency: 64\n"
        )
    return pool


def traffic_log(
    pool: list[dict[str, Any]], seed: int, n: int, new_share: float
) -> list[dict[str, Any]]:
    """Logged requests: inputs drawn from the pool, `new_share` of them in the new format.
    Live proxies follow the input: the prompt is less sure, and users edit more, on the new format."""
    rng = random.Random(seed)
    new = [c for c in pool if c["segment"] == COHORT_NEW]
    old = [c for c in pool if c["segment"] == COHORT_ESTABLISHED]
    out = []
    for _ in range(n):
        is_new = rng.random() < new_share
        case = rng.choice(new if is_new else old)
        out.append(
            {
                "input": {k: case["vars"][k] for k in ("description", "bank", "currency")},
                "confidence": round(
                    min(1.0, max(0.0, rng.gauss(0.62 if is_new else 0.86, 0.08))), 3
                ),
                "feedback": {
                    "action": "edit" if rng.random() < (0.30 if is_new else 0.08) else "accept"
                },
            }
        )
    return out


def drifted(check: DriftCheck) -> set[str]:
    return {s.name for a in check.arms for s in a.signals if s.verdict == "drift"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--null", type=int, default=200, help="Null checks (no drift), at least 200 for the claim."
    )
    ap.add_argument(
        "--replicates", type=int, default=5, help="Fresh-seed runs of each drift scenario."
    )
    ap.add_argument(
        "--cases", type=int, default=400, help="Golden-set size of the provider-drift suite."
    )
    ap.add_argument(
        "--vectorizer", default="tfidf", help="tfidf (fast, default), embedder or auto."
    )
    ap.add_argument("--keep", action="store_true", help="Keep the workspace and print its path.")
    args = ap.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="drift-bench-")
    root = Path(tmp) / "ws"
    os.environ["DRIFTGATE_HOME"] = str(Path(tmp) / "home")
    pool = build_workspace(root, args.cases)
    start = time.perf_counter()
    vec = args.vectorizer

    provider("v1", seed=0)
    base = check_drift(workspace=root, vectorizer=vec)
    print(f"baseline: run {base.run_id}, {base.cases} cases")

    nulls = []
    t0 = time.perf_counter()
    for i in range(args.null):
        provider("v1", seed=1000 + i)
        nulls.append(check_drift(workspace=root, vectorizer=vec))
    per_check = (time.perf_counter() - t0) / max(args.null, 1)
    default_alarms = sum(c.alert for c in nulls)
    print(
        f"null checks: {len(nulls)} at {per_check * 1000:.0f} ms each; "
        f"with default thresholds {default_alarms} alarmed ({default_alarms / max(len(nulls), 1):.1%})"
    )

    # Cross-fitted false alarms: tune on one half, judge the other.
    halves = [nulls[0::2], nulls[1::2]]
    alarms = 0
    for k in (0, 1):
        report = tune_from_checks(halves[k], target=TARGET, min_history=min(20, len(halves[k])))
        judged = [apply_thresholds(c, report) for c in halves[1 - k]]
        fa = sum(c.alert for c in judged)
        alarms += fa
        print(
            f"  tuned on half {k + 1} ({len(halves[k])} checks, per-signal tail {report.alpha:.3f}, "
            f"estimated {report.estimated_false_alarm_rate:.1%}): {fa}/{len(judged)} alarms on the other half"
        )
    false_alarm_rate = alarms / max(len(nulls), 1)

    # All null checks; saved, so the scenario checks below use these thresholds.
    final = tune_thresholds(workspace=root, target=TARGET, min_history=min(20, len(nulls)))
    print(
        f"final thresholds from {final.history} checks (estimated false-alarm rate "
        f"{final.estimated_false_alarm_rate:.1%}): "
        + ", ".join(f"{n}={t.threshold:.3g}" for n, t in final.thresholds.items())
    )

    scenarios: dict[str, list[tuple[bool, set[str]]]] = {}

    def record(name: str, alert: bool, fired: set[str]) -> None:
        scenarios.setdefault(name, []).append((alert and bool(fired & EXPECTED[name]), fired))

    for r in range(args.replicates):
        seed = 5000 + r
        for name, version, extra in (
            ("provider-update", "v2", {}),
            ("verbosity", "v3-verbose", {}),
            ("json-break", "v4-jsonbreak", {}),
            ("silent-update (extra)", "v2", {"fingerprint": "fp_acme_v1_0a1b"}),
        ):
            provider(version, seed=seed, **extra)
            c = check_drift(workspace=root, vectorizer=vec)
            record(name, c.alert, drifted(c))
        provider("v1", seed=0)

    # Prompt drift: golden set of the classic format only; production moves to the new bank.
    suite = root / "evalsets" / "classic.suite.yaml"
    traffic_nulls = []
    for r in range(args.replicates):
        ref = traffic_log(pool, 100 + r, 400, new_share=0.0)
        shifted = traffic_log(pool, 200 + r, 400, new_share=0.5)
        rep = check_traffic(
            shifted,
            suite=suite,
            workspace=root,
            reference=ref,
            field="description",
            vectorizer=vec,
            save=False,
        )
        record("traffic-shift", rep.alert, {s.name for s in rep.signals if s.verdict == "drift"})
        same = check_traffic(
            traffic_log(pool, 300 + r, 400, new_share=0.0),
            suite=suite,
            workspace=root,
            reference=ref,
            field="description",
            vectorizer=vec,
            save=False,
        )
        traffic_nulls.append(same.alert)

    print()
    rates = []
    for name, runs in scenarios.items():
        hits = sum(ok for ok, _ in runs)
        counted = not name.endswith("(extra)")
        if counted:
            rates.append(hits / len(runs))
        fired: dict[str, int] = {}
        for _, f in runs:
            for s in f:
                fired[s] = fired.get(s, 0) + 1
        shown = ", ".join(
            f"{s} {n}/{len(runs)}" for s, n in sorted(fired.items(), key=lambda x: -x[1])
        )
        print(
            f"scenario {name}: detected {hits}/{len(runs)} (expected any of {sorted(EXPECTED[name])}); "
            f"signals that drifted: {shown or 'none'}"
        )
    print(
        f"scenario traffic-null: {sum(traffic_nulls)}/{len(traffic_nulls)} alerts on unshifted traffic"
    )
    print(
        f"scenario null: {alarms}/{len(nulls)} false alarms with cross-fitted tuned thresholds "
        f"(target {TARGET:.3f}); {default_alarms}/{len(nulls)} with default thresholds"
    )
    print(f"elapsed: {time.perf_counter() - start:.1f} s")
    print(f"detection_rate: {sum(rates) / len(rates):.3f}")
    print(f"false_alarm_rate: {false_alarm_rate:.3f}")
    if args.keep:
        print(f"workspace: {root}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
