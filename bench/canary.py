"""How often the canary guard ramps a worse canary to 100%, or rolls back an equal one.

    .venv/bin/python bench/canary.py [--quick] [--n 500] [--jobs 2]

The full run (500 canaries) takes about 6 minutes with two worker processes on a busy
2-core machine (~7 CPU-minutes in all: ~0.22 ms per request + feedback through the router);
`--quick` (60 canaries) about 25 seconds.

Every canary runs through the real `Router` and its guard (`driftgate.router.canary.guard`,
called by the router every `check_every` feedback events) on the in-process simulator with
no latency, in a workspace of its own: one zero-shot label prompt and one route file.

    baseline  sim/acme@v1?accuracy=0.9&latency_ms=0&latency_jitter_ms=0&seed=K   weight 75
    canary    the same model id with accuracy=0.9 | 0.85 | 0.80                   weight 25
    canary:   {min_feedback: 100, check_every: 100, margin: 0.03, alpha: 0.05,
               auto_rollback: true, ramp: [50, 100]}

The canary starts at 25% (the route file's weight) and the guard steps it 25 → 50 → 100
while its always-valid lower bound of canary − baseline quality stays above −margin (each
step with `min_feedback` fresh labeled answers at the weight before); it rolls it back when
the upper bound is below 0. `seed=K` gives every canary its own draws, and request ids are
per canary too. Simulated users answer as `router.replay` does: an answer equal to the
case's expected label is accepted, any other is edited to it. A canary stops when it
reaches 100% weight, is rolled back, or after `--max-events` feedback events (10,000).

Scenarios (default 200 + 200 + 100 = 500 canaries): `equal` (0.90), `worse5` (0.85, five
points worse) and `worse10` (0.80). Figures, one `name: value` line each:

    worse5_full_ramp_rate        worse5 canaries that reached 100%           (target ≤ 0.05)
    equal_full_ramp_rate         equal canaries at 100% within the cap       (target ≥ 0.8)
    equal_median_events_to_full  feedback events until an equal one reached 100%
    equal_false_rollback_rate    equal canaries rolled back                  (target ≤ 0.05)
    worse10_median_events_to_rollback
    worse5_rollback_rate, worse5_median_events_to_decision (rollback or 100%)
    margin, alpha, canaries, seconds (wall time of the run)

Events are the route's feedback events (both arms), counted at the guard check that made
the move, so they come in multiples of `check_every`. Medians are over the canaries that
reached that outcome ("nan" when none did).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

LABELS = ["groceries", "dining", "transport", "rent"]
SCENARIOS = {"equal": 0.90, "worse5": 0.85, "worse10": 0.80}
BASELINE_ACCURACY = 0.9
FAST = "latency_ms=0&latency_jitter_ms=0"
PROMPT = (
    "name: cat\n"
    "version: v1\n"
    "params: {temperature: 0, max_tokens: 8}\n"
    "messages:\n"
    "  - {role: system, content: 'Pick one of: " + ", ".join(LABELS) + "'}\n"
    "  - {role: user, content: '{{ description }}'}\n"
    "output: {type: label, labels: [" + ", ".join(LABELS) + "]}\n"
)


@dataclass(frozen=True)
class Policy:
    """The route's canary policy under test (written into every canary's route file)."""

    margin: float = 0.03
    alpha: float = 0.05
    min_feedback: int = 100
    check_every: int = 100
    start_weight: float = 25.0
    ramp: tuple[float, ...] = (50.0, 100.0)
    max_events: int = 10_000


@dataclass(frozen=True)
class Outcome:
    scenario: str
    seed: int
    result: str  # "full" (reached 100%), "rollback", or "undecided" (hit the event cap)
    events: int  # feedback events when it was decided, or the cap
    moves: tuple[str, ...]  # the route's weight history, as the guard wrote it


def route_yaml(policy: Policy, canary_accuracy: float, seed: int) -> str:
    def model(acc: float) -> str:
        return f'"sim/acme@v1?accuracy={acc:g}&{FAST}&seed={seed}"'

    canary = {
        "min_feedback": policy.min_feedback,
        "alpha": policy.alpha,
        "margin": policy.margin,
        "check_every": policy.check_every,
        "auto_rollback": True,
        "ramp": list(policy.ramp),
    }
    return (
        "arms:\n"
        f"  - {{name: baseline, prompt: cat@v1, model: {model(BASELINE_ACCURACY)}, "
        f"weight: {100 - policy.start_weight:g}}}\n"
        f"  - {{name: canary, prompt: cat@v1, model: {model(canary_accuracy)}, "
        f"weight: {policy.start_weight:g}}}\n"
        "baseline: baseline\n"
        f"canary: {json.dumps(canary)}\n"
    )


def make_workspace(root: Path, policy: Policy, canary_accuracy: float, seed: int) -> Path:
    """The minimal workspace of one canary: a prompt, a route, a `driftgate.yaml`."""
    (root / "prompts").mkdir(parents=True)
    (root / "routes").mkdir()
    (root / "driftgate.yaml").write_text("{}\n")
    (root / "prompts" / "cat.yaml").write_text(PROMPT)
    (root / "routes" / "canary.yaml").write_text(route_yaml(policy, canary_accuracy, seed))
    return root


async def run_canary(
    root: Path, scenario: str, accuracy: float, seed: int, policy: Policy
) -> Outcome:
    """Serve one canary (its arm at `accuracy`) until the guard takes it to 100%, rolls it
    back, or the event cap."""
    from driftgate.router import Router
    from driftgate.router.state import history
    from driftgate.router.tally import same_answer

    make_workspace(root, policy, accuracy, seed)
    router = Router("canary", workspace=root)
    result, events = "undecided", policy.max_events
    try:
        for i in range(policy.max_events):
            expected = LABELS[i % len(LABELS)]
            d = await router.complete(
                {"description": f"merchant {i}"}, request_id=f"s{seed}-{i}", expected=expected
            )
            ok = same_answer(d.parsed, expected)  # the simulated user, as in router.replay
            checked = router.feedback(
                d.id, "accept" if ok else "edit", correction=None if ok else expected
            )
            if checked is None:
                continue
            weight = router.weights.get("canary", 0.0)
            if weight >= 100 or weight == 0:
                result, events = ("full" if weight >= 100 else "rollback"), i + 1
                break
    finally:
        await router.aclose()
    moves = tuple(s.reason for s in history(router.ws, "canary"))
    return Outcome(scenario, seed, result, events, moves)


Job = tuple[str, float, int]  # scenario, canary accuracy, seed


def run_batch(todo: list[Job], policy: Policy) -> list[Outcome]:
    """Canaries one after another, each in a temporary workspace (one process's share)."""
    out: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="dg-canary-") as tmp:
        for scenario, accuracy, seed in todo:
            root = Path(tmp) / f"{scenario}-{seed}"
            out.append(asyncio.run(run_canary(root, scenario, accuracy, seed, policy)))
    return out


def run_canaries(
    counts: dict[str, int],
    policy: Policy,
    *,
    accuracies: dict[str, float] = SCENARIOS,
    jobs: int = 1,
) -> list[Outcome]:
    """`counts[scenario]` seeded canaries of each scenario (its canary arm at
    `accuracies[scenario]`), in order, over `jobs` processes."""
    unknown = set(counts) - set(accuracies)
    if unknown:
        known = ", ".join(accuracies)
        raise ValueError(f"unknown scenario {sorted(unknown)[0]!r}; known: {known}")
    todo = [
        (s, accuracies[s], 100_000 * k + i)
        for k, s in enumerate(accuracies)
        for i in range(counts.get(s, 0))
    ]
    if jobs <= 1:
        return run_batch(todo, policy)
    # Interleaved shares, so the long-running equal canaries are spread over the workers.
    shares = [todo[j::jobs] for j in range(jobs)]
    with ProcessPoolExecutor(jobs) as pool:
        results = list(pool.map(run_batch, shares, [policy] * jobs))
    order = {(s, seed): k for k, (s, _, seed) in enumerate(todo)}
    return sorted((o for part in results for o in part), key=lambda o: order[o.scenario, o.seed])


def _rate(outcomes: list[Outcome], result: str) -> float:
    return sum(o.result == result for o in outcomes) / len(outcomes) if outcomes else float("nan")


def _median(values: list[int]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def figures(outcomes: list[Outcome], policy: Policy) -> dict[str, float]:
    by = {s: [o for o in outcomes if o.scenario == s] for s in SCENARIOS}
    eq, w5, w10 = by["equal"], by["worse5"], by["worse10"]
    return {
        "worse5_full_ramp_rate": _rate(w5, "full"),
        "equal_full_ramp_rate": _rate(eq, "full"),
        "equal_median_events_to_full": _median([o.events for o in eq if o.result == "full"]),
        "equal_false_rollback_rate": _rate(eq, "rollback"),
        "worse10_median_events_to_rollback": _median(
            [o.events for o in w10 if o.result == "rollback"]
        ),
        "worse5_rollback_rate": _rate(w5, "rollback"),
        "worse5_median_events_to_decision": _median(
            [o.events for o in w5 if o.result != "undecided"]
        ),
        "margin": policy.margin,
        "alpha": policy.alpha,
        "canaries": len(outcomes),
    }


def split(n: int) -> dict[str, int]:
    """n canaries as 2 : 2 : 1 equal : worse5 : worse10 (500 → 200 + 200 + 100)."""
    equal = worse5 = round(n * 0.4)
    return {"equal": equal, "worse5": worse5, "worse10": max(n - equal - worse5, 0)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=500, help="Canaries in all, split 2:2:1.")
    ap.add_argument("--quick", action="store_true", help="60 canaries (a smoke run).")
    ap.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="Worker processes (default: 2, or 1 on one core).",
    )
    ap.add_argument("--margin", type=float, default=0.03)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--min-feedback", type=int, default=100)
    ap.add_argument("--check-every", type=int, default=100)
    ap.add_argument("--max-events", type=int, default=10_000)
    args = ap.parse_args(argv)
    policy = Policy(
        margin=args.margin,
        alpha=args.alpha,
        min_feedback=args.min_feedback,
        check_every=args.check_every,
        max_events=args.max_events,
    )
    os.environ.setdefault("DRIFTGATE_USER", "bench-canary")  # no `git config` per weight move
    t0 = time.perf_counter()
    outcomes = run_canaries(split(60 if args.quick else args.n), policy, jobs=args.jobs)
    for name, value in figures(outcomes, policy).items():
        print(f"{name}: {value:g}" if isinstance(value, float) else f"{name}: {value}")
    print(f"seconds: {time.perf_counter() - t0:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
