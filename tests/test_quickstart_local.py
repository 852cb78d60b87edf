"""The README quickstart path, end to end on the real embedded model (slow: runs in CI)."""

import shutil
from pathlib import Path

import pytest

import driftgate

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_example_suite_runs_on_the_local_model(tmp_path: Path):
    from driftgate import model_files

    model_files.pull("smollm2-135m")
    model_files.pull("all-minilm-l6-v2")
    for folder in ("prompts", "evalsets"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    (tmp_path / "driftgate.yaml").write_text("suite: evalsets/quickstart.suite.yaml\n")

    run = driftgate.run(workspace=tmp_path, limit=3)
    assert run.manifest.status == "finished"
    assert {p.ref for p in run.manifest.prompts} == {
        "categorize@zero-shot",
        "categorize@few-shot",
        "categorize@rag",
    }
    assert len(run.results) == 9 and not any(r.error for r in run.results)
    rag = [r for r in run.results if r.prompt == "categorize@rag"]
    assert " is " in rag[0].messages[-1]["content"]  # retrieved neighbours are in the prompt
    assert all(r.output is not None and r.latency_ms > 0 for r in run.results)
    # Greedy decoding: the same suite again (no cache) gives the same answers.
    again = driftgate.run(workspace=tmp_path, limit=3, no_cache=True)
    assert [r.output for r in sorted(again.results, key=lambda r: r.key)] == [
        r.output for r in sorted(run.results, key=lambda r: r.key)
    ]
