"""Confidences through the router: a routed decision logs the answer's probability, the
traffic records carry it, and `confidence_drop` measures it (the example on `local/knn`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftgate.drift.traffic import check_traffic
from driftgate.router import Router, read_decisions, traffic_records
from driftgate.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
ROUTE = "arms:\n  - {name: production, prompt: categorize-knn, model: local/knn, weight: 100}\n"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in tests/test_minilm.py: a busy machine's OpenMP threads
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    for folder in ("prompts", "evalsets"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    (tmp_path / "evalsets" / "knn.suite.yaml").write_text(
        "prompts: [categorize-knn]\nevalsets: [transactions-quick]\n"
        "scorers: [{type: label-match, metric: category}]\n"
    )
    (tmp_path / "driftgate.yaml").write_text("suite: evalsets/knn.suite.yaml\n")
    (tmp_path / "routes").mkdir()
    (tmp_path / "routes" / "knn.yaml").write_text(ROUTE)
    try:
        yield tmp_path
    finally:
        torch.set_num_threads(threads)


def _traffic(segment: str, n: int) -> list[dict]:
    rows = [json.loads(line) for line in (REPO / "evalsets" / "traffic.jsonl").open()]
    return [r for r in rows if r["segment"] == segment][:n]


def test_a_routed_decision_logs_its_confidence_and_confidence_drop_reads_it(ws: Path) -> None:
    router = Router("knn", workspace=ws)
    requests = _traffic("cohort=established", 40) + _traffic("cohort=new-bank-format", 40)
    for r in requests:
        router.complete_sync(r["vars"], request_id=r["id"])
    router.close()
    logged = read_decisions(Workspace.find(ws), "knn")
    assert len(logged) == 80 and not any(d.error for d in logged)
    for d in logged:
        assert d.label_probs is not None and sum(d.label_probs.values()) == pytest.approx(1.0)
        assert d.confidence == d.label_probs[d.parsed] == max(d.label_probs.values())
    records = traffic_records(Workspace.find(ws), "knn")
    assert [r["confidence"] for r in records] == [d.confidence for d in logged]

    report = check_traffic(
        route="knn", workspace=ws, window=40, vectorizer="tfidf", check_unreviewed=False, save=False
    )
    drop = next(s for s in report.signals if s.name == "confidence_drop")
    assert drop.value is not None and drop.verdict != "insufficient_data" and drop.n == 80
    # The new bank's format is answered less confidently than the established one.
    assert drop.detail["mean_current"] < drop.detail["mean_reference"] and drop.value > 0
