"""The embedded local LLM and the embedder: load times and throughput on this machine; the
embedding classifier (`local/knn`): accuracy on the example, before and after a retrain.

    python bench/local_model.py [--cases 16] [--skip-cold] [--only embedder|classifier]
    python bench/local_model.py --only llm_labels [--label-cases 480] [--variants]
    python bench/local_model.py --only judge [--judge-cases 200]

Load times are measured in fresh processes, imports included (that is what a CLI command
pays): *cold* = dequantize the GGUF, save the safetensors copy and load it (the first run
after `driftgate models pull` downloaded the file; pull does this step); *warm* = load the
converted copy (every later process). Throughput runs through `LocalProvider`, greedy:
`..._1_worker` with one worker thread, the others with the default (one per core), and
`local_model_parallel_speedup` is their ratio, measured in the same run.

The embedder is measured twice, through driftgate's own runtime (`_minilm`, the default) and
through sentence-transformers (`..._sentence_transformers`, the reference it replaced):
`embedder_load_s` = a fresh process importing driftgate, loading the weights and encoding one
sentence (best of `--repeat` processes); `embedder_sentences_per_s` = the inputs of
evalsets/transactions.jsonl (480 short texts) in one call, best of `--repeat`, uncached.

The LLM's label scoring and the offline judge run only when asked (minutes of CPU):
`--only llm_labels` = `label_accuracy_zero_shot` / `_few_shot` (prompts/categorize.*.yaml on
the first `--label-cases` cases of transactions.jsonl, through `LocalProvider` with label
scoring), `label_scoring_cases_per_s`; with `--variants`, the zero-shot accuracy of each way
to rank labels (`label_accuracy_zero_shot_{mean,sum}_{end,no_end}`). `--only judge` =
`judge_agreement`: the constrained local judge's PASS/FAIL against gold on a balanced set of
right and wrong categories (`judge_cases`), with `judge_auc` (does P(PASS) rank right
answers first at all).

Prints one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from driftgate import model_files

TRANSACTIONS = Path(__file__).resolve().parents[1] / "evalsets" / "transactions.jsonl"

CHILD_LLM = """
import time, sys
t0 = time.perf_counter()
from driftgate.providers import ModelConfig
from driftgate.providers.local import LocalProvider
LocalProvider(ModelConfig(id="local/smollm2-135m")).warm_up()
print(time.perf_counter() - t0)
"""

CHILD_EMBED = """
import time
t0 = time.perf_counter()
from driftgate.embedding import embed
embed(["warm up the embedder"], cache=False)
print(time.perf_counter() - t0)
"""

CHILD_EMBED_ST = """
import time
t0 = time.perf_counter()
from driftgate import model_files
from driftgate.embedding import SentenceTransformerEmbedder
folder = model_files.model_dir("all-minilm-l6-v2")
SentenceTransformerEmbedder(str(folder), "reference").encode(["warm up the embedder"])
print(time.perf_counter() - t0)
"""

PROMPTS = [
    "Classify this bank transaction into groceries, dining, transport or rent. "
    f"Answer with the label only. Transaction: {item}"
    for item in [
        "SUPERMARKET 24 LTD", "UBER TRIP", "PIZZERIA NAPOLI", "MONTHLY RENT OCT", "METRO CARD TOP-UP",
        "CAFE LUNA", "FRESH MARKET", "TAXI 4411", "LANDLORD TRANSFER", "BURGER HOUSE",
        "ORGANIC FOODS", "TRAIN TICKET", "SUSHI BAR", "APARTMENT RENT", "BAKERY CORNER", "BUS PASS",
    ]
]  # fmt: skip


def child_seconds(code: str, home: Path) -> float:
    env = {**os.environ, "DRIFTGATE_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_load_s() -> float:
    """Convert + load from a scratch home holding only the GGUF (linked, not re-downloaded)."""
    gguf = model_files.locate("smollm2-135m")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "models" / "smollm2-135m" / gguf.name
        target.parent.mkdir(parents=True)
        try:
            os.link(gguf, target)
        except OSError:
            shutil.copy2(gguf, target)
        return child_seconds(CHILD_LLM, Path(tmp))


async def run_cases(provider, prompts: list[str], max_tokens: int) -> tuple[float, int]:  # noqa: ANN001
    from driftgate.providers import CompletionRequest

    reqs = [
        CompletionRequest(model="local/smollm2-135m", messages=[{"role": "user", "content": p}],
                          params={"temperature": 0, "max_tokens": max_tokens})
        for p in prompts
    ]  # fmt: skip
    t0 = time.perf_counter()
    out = await asyncio.gather(*(provider.complete(r) for r in reqs))
    return time.perf_counter() - t0, sum(c.output_tokens or 0 for c in out)


def embedder_figures(home: Path, repeat: int) -> None:
    """Load time and throughput of the embedder, driftgate's runtime and sentence-transformers."""
    from driftgate import embedding as E

    fast = E.get_embedder()
    reference = E.SentenceTransformerEmbedder(str(model_files.model_dir("all-minilm-l6-v2")), "st")
    for suffix, code in (("", CHILD_EMBED), ("_sentence_transformers", CHILD_EMBED_ST)):
        secs = min(child_seconds(code, home) for _ in range(repeat))
        print(f"embedder_load_s{suffix}: {secs:.2f}", flush=True)
    texts = [json.loads(line)["vars"]["description"] for line in TRANSACTIONS.open()]
    best = {"": 0.0, "_sentence_transformers": 0.0}
    for _ in range(repeat):  # alternated, so both share whatever else loads the machine
        for suffix, emb in (("", fast), ("_sentence_transformers", reference)):
            emb.encode(texts[:8])  # first calls pay one-off setup
            t0 = time.perf_counter()
            emb.encode(texts)
            best[suffix] = max(best[suffix], len(texts) / (time.perf_counter() - t0))
    print(f"embedder_runtime: {type(fast).__name__}")
    for suffix, rate in best.items():
        print(f"embedder_sentences_per_s{suffix}: {rate:.0f}", flush=True)


def classifier_figures() -> None:
    """The embedding classifier (`local/knn`, prompts/categorize.knn.yaml) on the example, in
    a temporary copy of its prompts and golden sets with a fresh embedding cache:

    classifier_accuracy[_established|_new_format_before] — `driftgate.run` on the 480 cases;
    classifier_cases_per_s — that run (embedder loaded, nothing cached: the 200 index rows
    and 480 inputs are embedded in it); classifier_vote_* — the vote schemes over the same
    rendered neighbours; classifier_new_format_after_retrain — after `retrain` from the
    labels of evalsets/traffic.jsonl (requests disjoint from the golden set), the
    `candidate` version on the 480 cases; classifier_logreg_* — scikit-learn's logistic
    regression over the same embeddings, C by 5-fold cross-validation on the index corpus.
    """
    import driftgate
    from driftgate.embedding import embed
    from driftgate.providers.knn import KnnSettings, parse_neighbours, vote
    from driftgate.retraining import retrain

    repo = TRANSACTIONS.parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        for folder in ("prompts", "evalsets"):
            shutil.copytree(repo / folder, ws / folder)
        (ws / "evalsets" / "knn.suite.yaml").write_text(
            "prompts: [categorize@knn]\nevalsets: [transactions]\nmetrics: [accuracy]\n"
            "scorers: [{type: label-match, metric: category}]\n"
        )
        (ws / "driftgate.yaml").write_text("suite: evalsets/knn.suite.yaml\n")
        os.environ["DRIFTGATE_HOME"] = str(Path(tmp) / "home")  # the embedder is a package
        embed(["load the embedder"], cache=False)
        t0 = time.perf_counter()
        run = driftgate.run(workspace=ws, no_cache=True)
        print(f"classifier_cases_per_s: {480 / (time.perf_counter() - t0):.0f}")
        _accuracies("classifier", run.results, after="before")
        labels = list(run.results[0].label_probs or {})  # the prompt's labels, in its order
        for name, settings in (
            ("majority", KnnSettings("majority")),
            ("weighted", KnnSettings("weighted")),
            ("softmax", KnnSettings("softmax")),
        ):
            right = [
                vote(parse_neighbours(r.messages or []), settings, labels)[0] == r.expected
                for r in run.results
            ]
            print(f"classifier_vote_{name}: {sum(right) / len(right):.4f}")
        golden = {c["vars"]["description"] for c in map(json.loads, TRANSACTIONS.open())}
        traffic = [json.loads(line) for line in (ws / "evalsets" / "traffic.jsonl").open()]
        overlap = sum(t["vars"]["description"] in golden for t in traffic)
        print(f"classifier_retrain_rows: {len(traffic)} (in the golden set: {overlap})")
        result = retrain(
            "categorize@knn",
            labels=[ws / "evalsets" / "traffic.jsonl"],
            suite=ws / "evalsets" / "knn.suite.yaml",
            workspace=ws,
        )
        print(f"classifier_retrain: {result.summary}")
        after = driftgate.run(workspace=ws, prompts=["categorize@candidate"])
        _accuracies("classifier", after.results, after="after_retrain")
        _logreg_figures(ws, traffic)
        os.environ.pop("DRIFTGATE_HOME")


def _accuracies(prefix: str, results: list, after: str) -> None:
    """Accuracy overall and per segment; the new format's figure is named before/after."""
    new = [r.passed for r in results if r.segment == "cohort=new-bank-format"]
    old = [r.passed for r in results if r.segment == "cohort=established"]
    all_ = [r.passed for r in results]
    suffix = "" if after == "before" else f"_{after}"
    print(f"{prefix}_accuracy{suffix}: {sum(all_) / len(all_):.4f}")
    print(f"{prefix}_accuracy_established{suffix}: {sum(old) / len(old):.4f}")
    print(f"{prefix}_new_format_{after}: {sum(new) / len(new):.4f}", flush=True)


def _logreg_figures(ws: Path, traffic: list[dict]) -> None:
    import warnings

    import numpy as np
    from sklearn.linear_model import LogisticRegressionCV

    from driftgate.embedding import embed

    corpus = [json.loads(line) for line in (ws / "evalsets" / "merchants.jsonl").open()]
    cases = [json.loads(line) for line in TRANSACTIONS.open()]
    queries = embed([c["vars"]["description"] for c in cases])
    x = embed([r["text"] for r in corpus])
    y = [r["label"] for r in corpus]
    new = np.array([c["segment"] == "cohort=new-bank-format" for c in cases])
    gold = np.array([c["expected"] for c in cases])
    for suffix, (xs, ys) in (
        ("", (x, y)),
        ("_after_retrain", (np.vstack([x, embed([t["vars"]["description"] for t in traffic])]),
                            y + [t["expected"] for t in traffic])),
    ):  # fmt: skip
        with warnings.catch_warnings():  # scikit-learn's notices of changing defaults
            warnings.simplefilter("ignore", FutureWarning)
            model = LogisticRegressionCV(Cs=[0.1, 1, 10, 100, 1000], cv=5, max_iter=5000)
            model.fit(xs, ys)
        right = model.predict(queries) == gold
        print(f"classifier_logreg_accuracy{suffix}: {right.mean():.4f} (C={model.C_[0]:g})")
        print(f"classifier_logreg_new_format{suffix}: {right[new].mean():.4f}", flush=True)


LABEL_CASES = 480  # all of transactions.jsonl; --label-cases to measure fewer
JUDGE_RUBRIC = "The category is the right one for this bank transaction."


def _label_requests(version: str, cases: list[dict]) -> tuple[list, list[str]]:
    """The example's categorize prompt rendered for each case, with its label set."""
    from driftgate.artifacts.fewshot import find_fewshot
    from driftgate.prompt import load_prompt
    from driftgate.providers import CompletionRequest

    prompts_dir = TRANSACTIONS.parents[1] / "prompts"
    prompt = load_prompt(prompts_dir / f"categorize.{version}.yaml")
    extra = {}
    if prompt.fewshot:
        fewshot = find_fewshot(prompts_dir, prompt.fewshot)
        extra["examples"] = [e.model_dump(mode="json") for e in fewshot.examples]
    labels = list(prompt.output.labels or [])
    params = prompt.params.as_kwargs() if prompt.params else {}
    reqs = [
        CompletionRequest(model="local/smollm2-135m", messages=prompt.render({**c["vars"], **extra}),
                          params=dict(params), labels=labels)
        for c in cases
    ]  # fmt: skip
    return reqs, labels


def llm_label_figures(n: int, few_shot: bool) -> None:
    """The LLM with label scoring on the example: accuracy and cases/s through LocalProvider
    (default workers), zero-shot and (with few_shot) few-shot."""
    from driftgate.providers import ModelConfig
    from driftgate.providers.local import LocalProvider

    model_files.pull("smollm2-135m")
    cases = [json.loads(line) for line in TRANSACTIONS.open()][:n]
    provider = LocalProvider(ModelConfig(id="local/smollm2-135m"))
    provider.warm_up()
    print(f"label_accuracy_cases: {len(cases)}", flush=True)
    for version in ["zero-shot"] + (["few-shot"] if few_shot else []):
        reqs, _ = _label_requests(version, cases)

        async def run(reqs: list = reqs) -> list:
            return await asyncio.gather(*(provider.complete(r) for r in reqs))

        t0 = time.perf_counter()
        out = asyncio.run(run())
        secs = time.perf_counter() - t0
        right = [c.text == case["expected"] for c, case in zip(out, cases, strict=True)]
        name = version.replace("-", "_")
        print(f"label_accuracy_{name}: {sum(right) / len(right):.4f}")
        conf = sum(c.confidence or 0.0 for c in out) / len(out)
        print(f"label_mean_confidence_{name}: {conf:.3f}")
        print(f"label_scoring_cases_per_s_{name}: {len(cases) / secs:.2f}", flush=True)
        if version == "zero-shot":
            print(f"label_scoring_cases_per_s: {len(cases) / secs:.2f}", flush=True)


def llm_label_variants(n: int) -> None:
    """Zero-shot accuracy of each way to rank labels, from one scoring pass per case: total
    or mean log-likelihood, with or without the end-of-turn token after the label
    (`_score_labels` in providers/local.py says which is the default, and why)."""
    from driftgate.providers._labels import Norm, best_label, label_loglik, softmax
    from driftgate.providers.local import _LoadedModel

    model_files.pull("smollm2-135m")
    loaded = _LoadedModel.get("smollm2-135m")
    tok, model = loaded.tokenizer, loaded.model
    cases = [json.loads(line) for line in TRANSACTIONS.open()][:n]
    reqs, labels = _label_requests("zero-shot", cases)
    norms: tuple[Norm, ...] = ("mean", "sum")
    variants = {(norm, end): 0 for norm in norms for end in (True, False)}
    for req, case in zip(reqs, cases, strict=True):
        text = tok.chat_text(req.messages)
        prompt = tok.chat_ids(req.messages)
        eot = [tok.end_id] if tok.end_id is not None else []
        answers = [tok.answer_ids(text, prompt, label) + eot for label in labels]
        logprobs = model.score(prompt, answers)
        for norm, end in variants:
            scores = {
                label: label_loglik(lps if end else lps[:-1], norm)
                for label, lps in zip(labels, logprobs, strict=True)
            }
            variants[(norm, end)] += best_label(softmax(scores), labels) == case["expected"]
    for (norm, end), hits in variants.items():
        tag = f"{norm}_{'end' if end else 'no_end'}"
        print(f"label_accuracy_zero_shot_{tag}: {hits / len(cases):.4f}", flush=True)


def judge_cases(n: int) -> list[tuple[dict, str, bool]]:
    """A balanced set: each case's description with its true category (gold PASS) for even
    positions, a wrong category drawn with a fixed seed (gold FAIL) for odd ones."""
    import random

    from driftgate.prompt import load_prompt

    labels = load_prompt(TRANSACTIONS.parents[1] / "prompts" / "categorize.zero-shot.yaml")
    options = list(labels.output.labels or [])
    rng = random.Random(14)
    out = []
    for i, line in enumerate(TRANSACTIONS.open()):
        if i >= n:
            break
        case = json.loads(line)
        right = i % 2 == 0
        wrong = [x for x in options if x != case["expected"]]
        answer = case["expected"] if right else rng.choice(wrong)
        out.append(({"description": case["vars"]["description"]}, answer, right))
    return out


def judge_figures(n: int) -> None:
    """The offline judge (llm-judge on local/smollm2-135m, constrained PASS/FAIL) against
    gold verdicts on a balanced set built from the example (`judge_cases`)."""
    from driftgate.scoring import ScoreContext, build_scorer

    model_files.pull("smollm2-135m")
    judge = build_scorer({"type": "llm-judge", "rubric": JUDGE_RUBRIC})
    cases = judge_cases(n)

    async def run() -> list:
        return await asyncio.gather(
            *(judge.evaluate(ScoreContext(output=answer, vars=v)) for v, answer, _ in cases)
        )

    t0 = time.perf_counter()
    scores = asyncio.run(run())
    secs = time.perf_counter() - t0
    errors = sum(s.error is not None for s in scores)
    agree = sum(s.passed == gold for s, (_, _, gold) in zip(scores, cases, strict=True))
    print(f"judge_cases: {len(cases)}")
    print(f"judge_parse_rate: {1 - errors / len(cases):.4f}")
    print(f"judge_agreement: {agree / len(cases):.4f}")
    print(f"judge_pass_rate: {sum(s.passed for s in scores) / len(cases):.4f}")
    # Whether P(PASS) ranks right answers above wrong ones at all, whatever the threshold.
    good = [s.value for s, (_, _, gold) in zip(scores, cases, strict=True) if gold]
    bad = [s.value for s, (_, _, gold) in zip(scores, cases, strict=True) if not gold]
    auc = sum((g > b) + 0.5 * (g == b) for g in good for b in bad) / (len(good) * len(bad))
    print(f"judge_auc: {auc:.4f}")
    print(f"judge_cases_per_s: {len(cases) / secs:.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=16)
    ap.add_argument("--skip-cold", action="store_true", help="skip the GGUF conversion")
    ap.add_argument(
        "--only",
        choices=["embedder", "classifier", "llm_labels", "judge"],
        help="measure one group only",
    )
    ap.add_argument("--label-cases", type=int, default=LABEL_CASES, help="llm_labels: cases")
    ap.add_argument("--variants", action="store_true", help="llm_labels: ranking variants")
    ap.add_argument("--judge-cases", type=int, default=200, help="judge: balanced set size")
    ap.add_argument("--repeat", type=int, default=3, help="embedder: best of this many runs")
    args = ap.parse_args()

    home = model_files.home()
    if args.only == "embedder":
        embedder_figures(home, args.repeat)
        return
    if args.only == "llm_labels":
        llm_label_figures(args.label_cases, few_shot=True)
        if args.variants:
            llm_label_variants(args.label_cases)
        return
    if args.only == "judge":
        judge_figures(args.judge_cases)
        return
    if args.only == "classifier":
        classifier_figures()
        return
    model_files.pull("smollm2-135m")
    if not args.skip_cold:
        print(f"local_model_load_cold_s: {cold_load_s():.2f}", flush=True)
    print(f"local_model_load_warm_s: {child_seconds(CHILD_LLM, home):.2f}", flush=True)

    from driftgate.providers import ModelConfig
    from driftgate.providers.local import LocalProvider

    one = LocalProvider(ModelConfig(id="local/smollm2-135m"), workers=1)
    default = LocalProvider(ModelConfig(id="local/smollm2-135m"))
    one.warm_up()
    asyncio.run(run_cases(default, PROMPTS[:2], 8))  # first calls pay one-off setup
    story = "Write a short story about a lighthouse keeper."
    secs, tokens = asyncio.run(run_cases(one, [story], 64))  # one stream: decoding speed
    print(f"local_model_tokens_per_s: {tokens / secs:.1f}", flush=True)
    secs, tokens = asyncio.run(run_cases(default, [story] * default.workers, 64))
    print(f"local_model_tokens_per_s_all_workers: {tokens / secs:.1f}", flush=True)
    prompts = (PROMPTS * (args.cases // len(PROMPTS) + 1))[: args.cases]
    secs_one, _ = asyncio.run(run_cases(one, prompts, 8))
    secs_all, _ = asyncio.run(run_cases(default, prompts, 8))
    print(f"local_model_workers: {default.workers}")
    print(f"local_model_cases_per_s_1_worker: {len(prompts) / secs_one:.2f}")
    print(f"local_model_cases_per_s: {len(prompts) / secs_all:.2f}")
    print(f"local_model_parallel_speedup: {secs_one / secs_all:.2f}", flush=True)

    embedder_figures(home, args.repeat)
    classifier_figures()


if __name__ == "__main__":
    main()
