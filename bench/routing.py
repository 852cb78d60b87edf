"""A learned routing rule against the best single model and a RouteLLM-style router (#20).

    .venv/bin/python bench/routing.py [--requests 6000] [--quick] [--no-text] [--embedder ID]

Everything goes through the product path. Two simulator models (in-process, no latency):

    strong  accuracy 0.95 everywhere, 0.004 USD per 1k tokens
    cheap   accuracy 0.95, but 0.60 on the `cohort=new-bank-format` segment; 20x cheaper

The example's transactions (evalsets/transactions.jsonl; each request a copy with new
reference numbers, day and amount) arrive as traffic on route `spend`
through the real `Router` — `strong` live, `cheap` mirrored as a shadow on every request —
with the share of the new bank format rising from 10% to 45% over time (the drift a route
lives with); simulated users accept a right answer and correct a wrong one, through
`Router.feedback`. The labeled requests come from the traffic log
(`router.training.labeled_requests`: every answer scored against the label), are split by
time (train on the oldest 70%, measure on the newest 30%; nothing is tuned on the test
part), and two rules are trained on the same data for `min_quality_vs_best: 0.99`:

    router     driftgate's cost-aware rule: a quality model per choice on the request's
               segment, bank and (unless --no-text) its description's embedding
    routellm   RouteLLM's classifier router: the description's embedding → the probability
               the strong model answers better; escalate past a tuned threshold

Figures, one `name: value` line each:

    router_quality_vs_best     the rule's quality ÷ the best single model's (target ≥ 0.99)
    router_cost_vs_best        the rule's cost ÷ the best single model's (target ≤ 0.5)
    router_overhead_ms         choosing, per request, features built from cached embeddings
                               (target ≤ 1 ms)
    router_overhead_with_embedding_ms   the same, embedding the description too
    routellm_quality_vs_best, routellm_cost_vs_best, routellm_overhead_ms
    strong_quality, cheap_quality, router_quality, new_format_share_test
    labeled, train_size, test_size, serve_s (wall time to serve the traffic),
    train_s (training the rule, embedding included unless the embedding cache has the texts)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

NEW = "cohort=new-bank-format"
LABELS = ["groceries", "dining", "transport", "fuel", "utilities", "rent", "entertainment",
          "health", "shopping", "income"]  # fmt: skip
PROMPT = (
    "name: cat\nversion: v1\nparams: {temperature: 0, max_tokens: 8}\nmessages:\n"
    "  - {role: user, content: 'Category of: {{ description }}'}\n"
    "output: {type: label, labels: [" + ", ".join(LABELS) + "]}\n"
)
ROUTE = """\
arms:
  - {name: strong, prompt: cat@v1, model: sim/routing-strong@v1, weight: 100}
  - {name: learned, rule: candidate, choices: [strong, cheap], weight: 0}
shadow:
  - {name: cheap, prompt: cat@v1, model: sim/routing-cheap@v1, sample: 1.0}
canary: {check_every: 1000000}
"""
OBJECTIVE = {"min_quality_vs_best": 0.99}


def register_models() -> None:
    from driftgate.providers.simulator import SimProfile, register_profile

    register_profile("routing-strong@v1", SimProfile(
        accuracy=0.95, latency_ms=0, cost_per_1k_tokens=0.004, stream="strong",
        fingerprint="fp_strong"))  # fmt: skip
    register_profile("routing-cheap@v1", SimProfile(
        accuracy=0.95, segment_accuracy={NEW: 0.6}, latency_ms=0, cost_per_1k_tokens=0.0002,
        stream="cheap", fingerprint="fp_cheap"))  # fmt: skip


def traffic(n: int, seed: int = 0) -> list[dict]:
    """`n` requests from the example's transactions, the new format's share rising."""
    rows = [json.loads(line) for line in (ROOT / "evalsets" / "transactions.jsonl").open()]
    new = [r for r in rows if r.get("segment") == NEW]
    old = [r for r in rows if r.get("segment") != NEW]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        share = 0.10 + 0.35 * i / max(n - 1, 1)
        row = rng.choice(new if rng.random() < share else old)
        out.append({"id": f"req-{i:05d}", "vars": perturb(row["vars"], rng),
                    "segment": row["segment"], "expected": row["expected"]})  # fmt: skip
    return out


def perturb(vars: dict, rng: random.Random) -> dict:
    """A new transaction like `vars`: other reference and store numbers, day and amount, so
    no description of the newer (test) traffic is one seen in training verbatim."""
    desc = re.sub(r"\d{3,}", lambda m: "".join(rng.choice("0123456789") for _ in m[0]),
                  vars["description"])  # fmt: skip
    desc = re.sub(r"\b\d\d/(\d\d)\b", lambda m: f"{rng.randint(1, 28):02d}/{m[1]}", desc)
    amount = round(float(vars.get("amount", 0)) * rng.uniform(0.8, 1.25), 2)
    return {**vars, "description": desc, "amount": amount}


def serve(root: Path, requests: list[dict]) -> float:
    """The requests through the route, each answered, mirrored and given feedback."""
    from driftgate.router import Router

    router = Router("spend", workspace=root)

    async def go() -> None:
        for r in requests:
            d = await router.complete(r["vars"], request_id=r["id"], expected=r["expected"],
                                      segment=r["segment"])  # fmt: skip
            await asyncio.gather(*list(router._shadow_tasks))
            ok = d.parsed == r["expected"]
            router.feedback(d.id, "accept" if ok else "edit",
                            correction=None if ok else r["expected"])  # fmt: skip
        await router.aclose()

    start = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - start


def overhead_ms(rule, requests, *, embedder, embeddings=None, reps: int = 1) -> float:  # noqa: ANN001
    """Mean milliseconds per request of `rule.choose` on one request at a time."""
    n = len(requests)
    # Once untimed: loading the embedding model (torch, weights) is start-up, not overhead.
    rule.choose(
        requests[:1], embedder=embedder, embeddings=None if embeddings is None else embeddings[:1]
    )
    start = time.perf_counter()
    for _ in range(reps):
        for i, r in enumerate(requests):
            rows = None if embeddings is None else embeddings[i : i + 1]
            rule.choose([r], embedder=embedder, embeddings=rows)
    return (time.perf_counter() - start) * 1000 / (n * reps)


def run(
    n: int, *, text: bool = True, seed: int = 0, embedder_model: str | None = None
) -> dict[str, float]:
    from driftgate.router.router import load_route_ref
    from driftgate.router.training import labeled_requests
    from driftgate.routing import FeatureSpec, Objective, routellm_baseline, train_rule
    from driftgate.routing.features import embed_requests
    from driftgate.routing.labeled import as_features
    from driftgate.routing.train import time_split
    from driftgate.workspace import Workspace

    register_models()
    embedder = None
    if text:
        from driftgate.embedding import get_embedder

        embedder = get_embedder(embedder_model)
    # Training embeds the default model through the shared cache (embedder None, the same
    # id); serving with embedding is measured on the embedder itself, uncached.
    trainer = None if embedder_model is None else embedder
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "prompts").mkdir()
        (root / "routes").mkdir()
        (root / "prompts" / "cat.yaml").write_text(PROMPT)
        (root / "routes" / "spend.yaml").write_text(ROUTE)
        (root / "driftgate.yaml").write_text("{}\n")
        os.environ.setdefault("DRIFTGATE_USER", "bench")
        serve_s = serve(root, traffic(n, seed))
        ws = Workspace(root)
        labeled = labeled_requests(ws, load_route_ref(ws, "spend"))
    choices, objective = ["strong", "cheap"], Objective(**OBJECTIVE)
    features = FeatureSpec(text=["description"] if text else [], categorical=["bank"])
    ours = train_rule(labeled, choices, objective, features=features, embedder=trainer)
    figures: dict[str, float] = {}
    ev = ours.evaluation
    test = time_split(labeled, 0.3)[1]
    reqs = as_features(test)[:500]
    cached = None
    if text:
        cached = embed_requests(ours.rule.features, reqs, embedder=trainer)
    figures |= {
        "router_quality_vs_best": ev.quality_vs_best,
        "router_cost_vs_best": ev.cost_vs_best,
        "router_overhead_ms": overhead_ms(
            ours.rule, reqs, embedder=embedder, embeddings=cached, reps=3
        ),  # fmt: skip
    }
    if text:
        figures["router_overhead_with_embedding_ms"] = overhead_ms(
            ours.rule, reqs[:100], embedder=embedder
        )
        base = routellm_baseline(labeled, choices, objective,
                                 features=FeatureSpec(text=["description"]), embedder=trainer)  # fmt: skip
        rcached = embed_requests(base.rule.features, reqs, embedder=trainer)
        figures |= {
            "routellm_quality_vs_best": base.evaluation.quality_vs_best,
            "routellm_cost_vs_best": base.evaluation.cost_vs_best,
            "routellm_overhead_ms": overhead_ms(
                base.rule, reqs, embedder=embedder, embeddings=rcached, reps=3
            ),  # fmt: skip
        }
    figures |= {
        "strong_quality": ev.quality["strong"],
        "cheap_quality": ev.quality["cheap"],
        "router_quality": ev.quality["rule"],
        "new_format_share_test": sum(r.segment == NEW for r in test) / len(test),
        "labeled": float(len(labeled)),
        "train_size": float(ours.train_size),
        "test_size": float(ours.test_size),
        "train_s": ours.train_s,
        "serve_s": serve_s,
    }
    return figures


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=6000)
    ap.add_argument("--quick", action="store_true", help="600 requests")
    ap.add_argument("--no-text", action="store_true", help="no embeddings (no local model)")
    ap.add_argument("--embedder", help="embedding model id (default: the local MiniLM)")
    args = ap.parse_args(argv)
    n = 600 if args.quick else args.requests
    figures = run(n, text=not args.no_text, embedder_model=args.embedder)
    for name, value in figures.items():
        print(f"{name}: {value:.4g}" if isinstance(value, float) else f"{name}: {value}")
    return figures


if __name__ == "__main__":
    main()
