"""The committed example workspace: reproducible from its generator, and every file loads."""

import json
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from driftgate.artifacts import find_fewshot, find_index_spec, load_route
from driftgate.artifacts.index import RetrievalIndex
from driftgate.evalset import iter_cases
from driftgate.examples import bank
from driftgate.prompt import load_prompt
from driftgate.suite import load_suite
from driftgate.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
NEW, EST = "cohort=new-bank-format", "cohort=established"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return _jsonl(ROOT / "evalsets" / "transactions.jsonl")


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return _jsonl(ROOT / "evalsets" / "merchants.jsonl")


def _fake_embed(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), 128), dtype=np.float32)
    for r, text in enumerate(texts):
        t = f"  {text.lower()}  "
        for i in range(len(t) - 2):
            out[r, zlib.crc32(t[i : i + 3].encode()) % 128] += 1.0
    return out


# ---- the generator --------------------------------------------------------------------


def test_committed_files_match_the_generator():
    assert bank.check(ROOT) == [], "run `python -m driftgate.examples.bank --root .`"


def test_generate_is_deterministic_and_seeded(tmp_path: Path):
    a = bank.generate(tmp_path / "a", seed=3, n_cases=120)
    bank.generate(tmp_path / "b", seed=3, n_cases=120)
    bank.generate(tmp_path / "c", seed=4, n_cases=120)
    for rel in a["files"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert (tmp_path / "a" / "evalsets/transactions.jsonl").read_bytes() != (
        tmp_path / "c" / "evalsets/transactions.jsonl"
    ).read_bytes()
    assert a["cases"] == 120 and a["quick_cases"] == 40 and a["corpus_rows"] == 200
    assert a["traffic_requests"] == 300
    assert a["segments"] == {NEW: 36, EST: 84}


def test_cli_check_and_write(tmp_path: Path, capsys):
    assert bank.main(["--root", str(ROOT), "--check"]) == 0
    assert bank.main(["--root", str(tmp_path), "--check"]) == 1
    assert "out of date: evalsets/transactions.jsonl" in capsys.readouterr().err
    assert bank.main(["--root", str(tmp_path), "--seed", "7"]) == 0
    assert bank.check(tmp_path) == []


# ---- the golden set -------------------------------------------------------------------


def test_golden_set_counts_labels_and_segments(cases):
    assert len(cases) == 480
    assert len({c["id"] for c in cases}) == 480
    labels = Counter(c["expected"] for c in cases)
    assert set(labels) == set(bank.CATEGORIES)
    assert min(labels.values()) >= 20
    share = sum(c["segment"] == NEW for c in cases) / len(cases)
    assert 0.25 <= share <= 0.35
    for segment in (NEW, EST):
        assert {c["expected"] for c in cases if c["segment"] == segment} == set(bank.CATEGORIES)
    for c in cases:
        assert set(c["vars"]) == {"description", "amount", "currency", "bank"}
        assert (c["vars"]["amount"] > 0) == (c["expected"] == "income")
        assert (c["vars"]["bank"] == "lumen") == (c["segment"] == NEW)


def test_cohorts_use_their_own_layouts(cases):
    new = [c["vars"]["description"] for c in cases if c["segment"] == NEW]
    old = [c["vars"]["description"] for c in cases if c["segment"] == EST]
    prefixes = ("POS ", "CONTACTLESS ", "CNP ", "DDR ", "SOP ", "FPI ")
    assert all(d.startswith(prefixes) for d in new)
    assert not any(d.startswith(prefixes) for d in old)
    assert any("TfL*Contactless" in d for d in new)
    assert any(d.startswith("TFL TRAVEL CH") for d in old)
    assert any("TESCO STORES" in d for d in old) and any("TESCO-EXP" in d for d in new)


def test_golden_sets_load_through_the_evalset_reader(cases):
    loaded = list(iter_cases(ROOT / "evalsets" / "transactions.jsonl"))
    assert [c.id for c in loaded] == [c["id"] for c in cases]
    quick = list(iter_cases(ROOT / "evalsets" / "transactions-quick.jsonl"))
    assert len(quick) == 40
    assert Counter(c.expected for c in quick) == {label: 4 for label in bank.CATEGORIES}
    assert sum(c.segment == NEW for c in quick) == 12
    by_id = {c["id"]: c for c in cases}
    assert all(by_id[c.id]["vars"] == c.vars for c in quick)


# ---- corpus, few-shot set, index ------------------------------------------------------


def test_corpus_is_labeled_balanced_and_disjoint(cases, corpus):
    assert len(corpus) >= 150
    assert len({r["id"] for r in corpus}) == len(corpus)
    assert all(set(r) == {"id", "text", "label", "source"} for r in corpus)
    assert Counter(r["label"] for r in corpus) == {label: 20 for label in bank.CATEGORIES}
    assert not {r["text"] for r in corpus} & {c["vars"]["description"] for c in cases}


def test_fewshot_set_covers_every_category_from_the_corpus(corpus):
    fs = find_fewshot(ROOT / "prompts", "categorize")
    assert fs.strategy == "diverse" and fs.provenance.seed == 7
    assert Counter(e.label for e in fs.examples) == {label: 2 for label in bank.CATEGORIES}
    texts = {r["text"]: r["label"] for r in corpus}
    assert all(texts[e.input["description"]] == e.output for e in fs.examples)


def test_index_definition_builds_over_the_corpus(tmp_path: Path, corpus):
    spec = find_index_spec(ROOT / "prompts", "merchants")
    assert (spec.corpus, spec.embedder, spec.k) == (
        "evalsets/merchants.jsonl",
        "all-MiniLM-L6-v2",
        5,
    )
    index = RetrievalIndex.build(spec, ROOT, tmp_path, embed=_fake_embed, embedder_id="fake")
    assert len(index) == len(corpus)
    hit = index.search(corpus[17]["text"], k=1)[0]
    assert hit["id"] == corpus[17]["id"] and hit["label"] == corpus[17]["label"]


# ---- prompts, suites, route -----------------------------------------------------------


def _prompt_files() -> list[Path]:
    # Only top-level files are prompts; fewshot/ and indexes/ hold other artifacts.
    return sorted((ROOT / "prompts").glob("*.yaml"))


def test_every_prompt_loads_and_renders_for_a_golden_case(tmp_path: Path, cases):
    files = _prompt_files()
    assert {f.name for f in files} == {
        *(f"categorize.{v}.yaml" for v in ("zero-shot", "few-shot", "rag")),
        "categorize-knn.yaml",
    }
    fs = find_fewshot(ROOT / "prompts", "categorize")
    index = RetrievalIndex.build(
        find_index_spec(ROOT / "prompts", "merchants"),
        ROOT,
        tmp_path,
        embed=_fake_embed,
        embedder_id="fake",
    )
    case = next(c for c in cases if c["segment"] == NEW)
    for path in files:
        prompt = load_prompt(path)
        assert prompt.name == ("categorize-knn" if prompt.model == "local/knn" else "categorize")
        assert prompt.output.type == "label" and prompt.output.labels == list(bank.CATEGORIES)
        context = {
            **case["vars"],
            "examples": fs.template_examples(),
            "retrieve": index.retriever(),
        }
        messages = prompt.render(context, case_id=case["id"])
        assert [m["role"] for m in messages] == ["user"]
        user = messages[0]["content"]
        if prompt.name == "categorize-knn":  # the embedding classifier: the neighbours, as JSON
            assert prompt.model == "local/knn" and prompt.index == "merchants"
            assert json.loads(user) == index.search(case["vars"]["description"], k=9)
            continue
        assert prompt.model == "local/smollm2-135m"
        assert prompt.params.temperature == 0 and prompt.params.max_tokens <= 16
        question = f"Which category is this bank transaction: {case['vars']['description']}?"
        assert question in user
        assert user.endswith(f"Choose one of: {', '.join(bank.CATEGORIES)}.\nAnswer with one word.")
        if prompt.version == "zero-shot":
            assert user.startswith(question)
        if prompt.version == "few-shot":
            assert prompt.fewshot == "categorize"
            lines = [f"{e.input['description']} is {e.output}." for e in fs.examples]
            assert user.startswith("\n".join(lines) + "\n\n" + question)
        if prompt.version == "rag":
            assert prompt.index == "merchants"
            nearest = index.search(case["vars"]["description"], k=5)
            lines = [f"{r['text']} is {r['label']}." for r in reversed(nearest)]
            # nearest neighbour last, right above the question
            assert user.startswith("\n".join(lines) + "\n\n" + question)


def test_suites_reference_existing_prompts_and_golden_sets():
    refs = {load_prompt(p).ref for p in _prompt_files()}
    ws = Workspace(ROOT)
    for name in ("categorize", "categorize-sim", "quickstart"):
        suite = load_suite(ROOT / "evalsets" / f"{name}.suite.yaml")
        assert set(suite.prompts) <= refs
        assert all(ws.evalset(e).path.is_file() for e in suite.evalsets)
        assert [s["type"] for s in suite.scorers] == ["label-match", "latency"]
        assert suite.scorers[1]["weight"] == 0
        assert suite.metrics == ["accuracy", "macro_f1"]
    sim = load_suite(ROOT / "evalsets" / "categorize-sim.suite.yaml")
    assert [m.id for m in sim.models] == ["sim/acme@v1", "sim/acme@v2"]


def test_route_serves_aliases_of_an_existing_prompt():
    """The example route serves `production` and `candidate` of the categorize prompt (set
    by `driftgate promote` / `retrain` / `loop`), and its loop gates on an existing suite."""
    names = {load_prompt(p).name for p in _prompt_files()}
    route = load_route(ROOT / "routes" / "categorize.yaml")
    refs = [a.prompt.partition("@") for a in [*route.arms, *route.shadow]]
    assert {name for name, _, _ in refs} <= names
    assert {alias for _, _, alias in refs} == {"production", "candidate"}
    assert sum(a.weight for a in route.arms) == 100
    assert route.loop is not None and (ROOT / route.loop.suite).is_file()


# ---- the traffic file: production traffic that moved, not the golden set ---------------


@pytest.fixture(scope="module")
def traffic() -> list[dict]:
    return _jsonl(ROOT / "evalsets" / "traffic.jsonl")


def test_traffic_is_new_traffic_with_a_larger_new_format_share(cases, corpus, traffic):
    from driftgate.router.replay import read_requests

    assert len(traffic) == bank.TRAFFIC_REQUESTS == 300
    assert [r["id"] for r in traffic] == [f"req-{i + 1:04d}" for i in range(300)]
    texts = [r["vars"]["description"] for r in traffic]
    assert len(set(texts)) == 300
    # Nothing a retrain would drop as a golden case (same id or same vars), no corpus row.
    golden_vars = {json.dumps(c["vars"], sort_keys=True) for c in cases}
    assert not {json.dumps(r["vars"], sort_keys=True) for r in traffic} & golden_vars
    assert not set(texts) & {c["vars"]["description"] for c in cases}
    assert not set(texts) & {r["text"] for r in corpus}
    assert Counter(r["segment"] for r in traffic) == {NEW: 150, EST: 150}
    assert {r["expected"] for r in traffic} == set(bank.CATEGORIES)
    assert all(set(r["vars"]) == {"description", "amount", "currency", "bank"} for r in traffic)
    requests = read_requests(ROOT / "evalsets" / "traffic.jsonl")
    assert [(q.id, q.expected) for q in requests] == [(r["id"], r["expected"]) for r in traffic]


# ---- the simulator reads the example prompts ---------------------------------------------


def _sim_accuracy(prompt_version: str, model: str, cases, examples) -> dict[str, list[bool]]:
    from driftgate.providers.base import CaseHint
    from driftgate.providers.simulator import simulate

    prompt = load_prompt(ROOT / "prompts" / f"categorize.{prompt_version}.yaml")
    out: dict[str, list[bool]] = {NEW: [], EST: []}
    for case in cases:
        messages = prompt.render({**case["vars"], "examples": examples}, case_id=case["id"])
        hint = CaseHint(
            id=case["id"],
            expected=case["expected"],
            segment=case["segment"],
            labels=list(bank.CATEGORIES),
            output_type="label",
        )
        out[case["segment"]].append(simulate(model, hint, messages).text == case["expected"])
    return out


def test_simulator_rewards_examples_of_the_new_format(cases, traffic):
    """acme@v2 drifted on the new bank format; examples in that format win much of it back."""
    fs = find_fewshot(ROOT / "prompts", "categorize")
    shipped = fs.template_examples()
    # The shipped set plus one labeled new-format traffic row per category.
    extra = {}
    for r in traffic:
        if r["segment"] == NEW:
            extra.setdefault(r["expected"], r)
    grown = shipped + [
        {"input": {"description": r["vars"]["description"]}, "output": r["expected"]}
        for r in extra.values()
    ]
    rate = {}
    for model in ("sim/acme@v1", "sim/acme@v2"):
        zero = _sim_accuracy("zero-shot", model, cases, [])
        few = _sim_accuracy("few-shot", model, cases, shipped)
        more = _sim_accuracy("few-shot", model, cases, grown)
        for seg in (NEW, EST):
            # Covering context only turns wrong answers right (same draws, higher rate).
            assert all(f for z, f in zip(zero[seg], few[seg], strict=True) if z)
            assert all(m for f, m in zip(few[seg], more[seg], strict=True) if f)
        rate[model] = {
            name: {seg: sum(v) / len(v) for seg, v in res.items()}
            for name, res in (("zero", zero), ("few", few), ("more", more))
        }
    v1, v2 = rate["sim/acme@v1"], rate["sim/acme@v2"]
    assert v2["zero"][EST] == v1["zero"][EST] and v2["zero"][NEW] < v1["zero"][NEW] - 0.05
    assert v1["zero"][NEW] < v1["few"][NEW] and v2["zero"][NEW] < v2["few"][NEW]
    # Examples in the new format recover more than half of acme@v2's drop on it.
    drop = v1["zero"][NEW] - v2["zero"][NEW]
    assert v2["more"][NEW] - v2["zero"][NEW] > drop / 2
