"""`local/knn`: the vote, its probabilities and errors; on the example, the same predictions
as a brute-force nearest-neighbour computation in numpy; a run end to end with confidences."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import driftgate
from driftgate.providers import CompletionRequest, ModelConfig, ProviderError, create_provider
from driftgate.providers.knn import (
    DEFAULT_TEMPERATURE,
    PROB_FLOOR,
    KnnProvider,
    KnnSettings,
    Neighbour,
    parse_settings,
    vote,
)

REPO = Path(__file__).resolve().parents[2]
LABELS = ["groceries", "dining", "transport", "fuel", "utilities", "rent", "entertainment",
          "health", "shopping", "income"]  # fmt: skip
K = 9  # prompts/categorize-knn.yaml retrieves this many


def _request(content: str, labels: list[str] | None = None, model: str = "local/knn"):
    return CompletionRequest(
        model=model, messages=[{"role": "user", "content": content}], labels=labels
    )


def _rows(*pairs: tuple[str, float]) -> str:
    return json.dumps([{"text": f"t{i}", "label": lab, "score": s} for i, (lab, s) in
                       enumerate(pairs)])  # fmt: skip


def complete(content: str, labels: list[str] | None = None, model: str = "local/knn"):
    provider = create_provider(ModelConfig(id=model))
    return asyncio.run(provider.complete(_request(content, labels, model)))


# ---- the vote ---------------------------------------------------------------------------


def test_local_knn_is_dispatched_to_the_classifier() -> None:
    assert isinstance(create_provider(ModelConfig(id="local/knn?k=3")), KnnProvider)


def test_schemes_differ_where_they_should() -> None:
    # One very close neighbour against two far ones of another label.
    n = [Neighbour("dining", 0.95), Neighbour("rent", 0.60), Neighbour("rent", 0.59)]
    assert vote(n, KnnSettings("majority"))[0] == "rent"
    assert vote(n, KnnSettings("weighted"))[0] == "rent"  # 1.19 against 0.95
    assert vote(n, KnnSettings("softmax", 0.05))[0] == "dining"
    assert vote(n, KnnSettings("softmax", 1.0))[0] == "rent"  # a hot softmax is near majority
    assert vote(n, KnnSettings("softmax", 0.0))[0] == "dining"  # the nearest takes all
    assert vote(n, KnnSettings("majority", k=1))[0] == "dining"


def test_softmax_probabilities_match_the_formula() -> None:
    n = [Neighbour("a", 0.9), Neighbour("b", 0.8), Neighbour("a", 0.7)]
    _, probs = vote(n, KnnSettings("softmax", 0.1))
    w = {"a": math.exp(0) + math.exp(-2), "b": math.exp(-1)}
    assert probs == pytest.approx({lab: v / sum(w.values()) for lab, v in w.items()})


def test_probabilities_cover_the_labels_and_sum_to_one() -> None:
    n = [Neighbour("Dining", 0.9), Neighbour("rent", 0.8), Neighbour("crypto", 0.99)]
    answer, probs = vote(n, KnnSettings(), LABELS)
    assert answer == "dining"  # `crypto` is not a label: it does not vote; the prompt's spelling
    assert list(probs) == LABELS and sum(probs.values()) == pytest.approx(1.0, abs=1e-12)
    assert probs["groceries"] == pytest.approx(PROB_FLOOR)  # no neighbour: the floor, not 0
    assert probs["dining"] > probs["rent"] > probs["groceries"]
    # Without labels: the labels voted for, no floor.
    _, free = vote(n, KnnSettings("majority"))
    assert free == pytest.approx({"Dining": 1 / 3, "rent": 1 / 3, "crypto": 1 / 3})


def test_ties_are_broken_by_the_best_neighbour_then_by_rank() -> None:
    tied = [Neighbour("b", 0.7), Neighbour("a", 0.9), Neighbour("a", 0.5), Neighbour("b", 0.8)]
    assert vote(tied, KnnSettings("majority"))[0] == "a"  # 2-2; a's best (0.9) is nearer
    same = [Neighbour("b", 0.8), Neighbour("a", 0.8)]
    for _ in range(3):  # equal in everything: the first listed wins, every time
        assert vote(same, KnnSettings("majority"))[0] == "b"
        assert vote(list(reversed(same)), KnnSettings("majority"))[0] == "a"


def test_settings_from_the_model_id_win_over_params() -> None:
    s = parse_settings("local/knn?vote=majority&k=3", {"vote": "weighted", "temperature": 0.2})
    assert s == KnnSettings("majority", 0.2, 3)
    assert parse_settings("local/knn", {}) == KnnSettings("softmax", DEFAULT_TEMPERATURE, None)
    for bad in (
        "local/knn?vote=mode",
        "local/knn?k=0",
        "local/knn?temperature=-1",
        "local/knn?x=1",
    ):
        with pytest.raises(ProviderError) as err:
            parse_settings(bad, {})
        assert err.value.kind == "bad_request" and "local/knn" in str(err.value)
    with pytest.raises(ProviderError):  # refused when the provider is built, not per case
        create_provider(ModelConfig(id="local/knn?vote=mode"))


def test_the_provider_answers_with_label_probs() -> None:
    c = complete(_rows(("rent", 0.9), ("dining", 0.5)), LABELS)
    assert c.text == "rent" and c.confidence == c.label_probs["rent"] > 0.9
    assert c.input_tokens is None and c.output_tokens is None and c.latency_ms >= 0
    assert c.model == "local/knn" and "softmax" in (c.fingerprint or "")


@pytest.mark.parametrize(
    "content, why",
    [
        ("Which category is TESCO?", "not JSON"),
        ('{"label": "rent", "score": 1}', "dict"),
        ("[]", "list []"),
        ('[{"label": "rent"}]', "row 1 has no label or no numeric score"),
        ('[{"label": "rent", "score": 0.9}, {"text": "x", "score": 0.8}]', "row 2"),
    ],
)
def test_a_message_that_is_not_neighbours_is_a_bad_request(content: str, why: str) -> None:
    with pytest.raises(ProviderError) as err:
        complete(content)
    assert err.value.kind == "bad_request"
    assert "JSON array of neighbour rows" in str(err.value) and why in str(err.value)
    assert "retrieve(text, k=K) | tojson" in str(err.value)


def test_neighbours_without_any_prompt_label_are_a_bad_request() -> None:
    with pytest.raises(ProviderError, match="none of the neighbours") as err:
        complete(_rows(("crypto", 0.9)), LABELS)
    assert err.value.kind == "bad_request"


# ---- on the example workspace -----------------------------------------------------------


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the example's prompts and golden sets; one embedding cache for the module."""
    root = tmp_path_factory.mktemp("knn")
    torch = pytest.importorskip("torch")
    # One intra-op thread, as in tests/test_minilm.py: on a busy machine two OpenMP threads
    # wait on each other at every op; the vectors do not depend on it.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    mp = pytest.MonkeyPatch()
    mp.setenv("DRIFTGATE_HOME", str(root / "home"))
    for folder in ("prompts", "evalsets"):
        shutil.copytree(REPO / folder, root / "ws" / folder)
    (root / "ws" / "evalsets" / "knn.suite.yaml").write_text(
        "prompts: [categorize-knn]\nevalsets: [transactions]\n"
        "scorers: [{type: label-match, metric: category}]\nmetrics: [accuracy]\n"
    )
    (root / "ws" / "driftgate.yaml").write_text("suite: evalsets/knn.suite.yaml\n")
    try:
        yield root / "ws"
    finally:
        mp.undo()
        torch.set_num_threads(threads)


def _brute_force(ws: Path, evalset: str) -> dict[str, str]:
    """Every case's label by exhaustive cosine search and the softmax vote, in numpy."""
    from driftgate.embedding import embed

    corpus = [json.loads(line) for line in (ws / "evalsets" / "merchants.jsonl").open()]
    cases = [json.loads(line) for line in (ws / "evalsets" / f"{evalset}.jsonl").open()]
    index = embed([r["text"] for r in corpus])
    queries = embed([c["vars"]["description"] for c in cases])
    index /= np.linalg.norm(index, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    labels = np.array([r["label"] for r in corpus])
    out = {}
    for case, sims in zip(cases, queries @ index.T, strict=True):
        top = np.lexsort((np.arange(len(sims)), -sims))[:K]  # by score, then corpus order
        weights = np.exp((sims[top] - sims[top].max()) / DEFAULT_TEMPERATURE)
        totals = {lab: weights[labels[top] == lab].sum() for lab in LABELS}
        out[case["id"]] = max(LABELS, key=lambda lab: totals[lab])
    return out


def _check_against_brute_force(ws: Path, evalset: str, suite: Path | None) -> driftgate.Run:
    expected = _brute_force(ws, evalset)
    run = driftgate.run(suite, workspace=ws)  # the prompt retrieves, the provider votes
    got = {r.case_id: r.parsed for r in run.results}
    assert not any(r.error for r in run.results) and len(got) == len(expected)
    assert got == expected
    for r in run.results:
        assert sum(r.label_probs.values()) == pytest.approx(1.0, abs=1e-9)
        assert r.confidence == r.label_probs[r.parsed] == max(r.label_probs.values())
    return run


def test_predictions_equal_a_brute_force_nearest_neighbour_vote(example: Path) -> None:
    # All 480 cases: ~2 s with the embedder on one thread.
    run = _check_against_brute_force(example, "transactions", None)
    assert run.manifest.summary.metrics["categorize-knn@nearest-9 · local/knn"]["accuracy"] >= 0.85


def test_a_run_records_confidences_and_reports_them(example: Path) -> None:
    from driftgate.report.markdown import run_markdown

    quick = driftgate.run(workspace=example, suite=_quick_suite(example))
    assert quick.manifest.status == "finished" and len(quick.results) == 40
    assert all(r.confidence is not None and 0 < r.confidence <= 1 for r in quick.results)
    arm = quick.manifest.summary.by_arm["categorize-knn@nearest-9 · local/knn"]
    mean = sum(r.confidence for r in quick.results) / 40
    assert arm["mean_confidence"] == pytest.approx(mean)
    segments = quick.manifest.summary.by_segment.values()
    assert all(s["mean_confidence"] > 0 for s in segments)
    text = run_markdown(quick.manifest, quick.results)
    assert "Mean confidence" in text and f"{mean:.3f}" in text
    # Stored lines read back with the fields; the cached re-run answers the same.
    again = driftgate.run(workspace=example, suite=_quick_suite(example))
    assert all(r.cached for r in again.results)
    assert sorted((r.case_id, r.confidence) for r in again.results) == sorted(
        (r.case_id, r.confidence) for r in quick.results
    )


def _quick_suite(ws: Path) -> Path:
    path = ws / "evalsets" / "knn-quick.suite.yaml"
    path.write_text(
        "prompts: [categorize-knn]\nevalsets: [transactions-quick]\n"
        "scorers: [{type: label-match, metric: category}]\n"
    )
    return path


def test_weighted_vote_of_dissimilar_neighbours_is_uniform_over_their_labels() -> None:
    n = [Neighbour("rent", -0.2), Neighbour("dining", -0.1)]
    answer, probs = vote(n, KnnSettings("weighted"), LABELS)
    assert answer == "dining"  # all weights 0: the nearest neighbour's label
    assert probs["rent"] == probs["dining"] > probs["income"] == PROB_FLOOR
    assert sum(probs.values()) == pytest.approx(1.0)
