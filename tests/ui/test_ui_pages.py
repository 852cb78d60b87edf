"""The Compare, Versions, Drift and Routes pages in-process: each reads through the same
library functions as the CLI and shows what they return."""

from __future__ import annotations

import html
from pathlib import Path

from starlette.testclient import TestClient

import driftgate
from driftgate.registry import register_artifacts
from driftgate.report.web_compare import word_diff
from driftgate.ui import create_app
from driftgate.workspace import Workspace


def test_word_diff_marks_changed_words_only() -> None:
    assert word_diff("the cat sat", "the dog sat") == [
        ("same", "the "), ("del", "cat"), ("ins", "dog"), ("same", " sat"),
    ]  # fmt: skip
    assert word_diff("", "new") == [("ins", "new")]


def test_compare_two_runs_shows_the_verdict_and_flips(ws_root: Path) -> None:
    a = driftgate.run(workspace=ws_root, progress="off").manifest.id
    b = driftgate.run(workspace=ws_root, models=["sim/acme@v1"], progress="off").manifest.id
    client = TestClient(create_app(ws_root))
    picker = client.get("/compare").text
    assert a in picker and b in picker and "Pick two runs" in picker
    page = client.get("/compare", params={"a": a, "b": b}).text
    assert 'id="verdict"' in page and 'id="headline"' in page
    expected = driftgate.compare_runs(a, b, workspace=ws_root)
    assert html.escape(expected.verdict) in page
    if expected.flipped:
        assert page.count('<tr class="regressed">') + page.count('<tr class="improved">') >= len(
            expected.flipped
        )
        assert "<del>" in page or "<ins>" in page
    one = client.get("/compare", params={"a": a})
    assert one.status_code == 400 and "single arm" in one.text


def test_versions_list_diff_and_audit(ws_root: Path) -> None:
    register_artifacts(ws_root)
    prompt = ws_root / "prompts" / "cat.yaml"
    prompt.write_text(prompt.read_text().replace("Pick one of", "Choose one of"))
    register_artifacts(ws_root)
    driftgate.promote("prompt/cat@2", to="production", workspace=ws_root, force=True,
                      reason="test")  # fmt: skip
    client = TestClient(create_app(ws_root))
    listing = client.get("/versions").text
    assert "prompt/cat" in listing and "production" in listing
    page = client.get("/versions", params={"target": "prompt/cat", "a": "1", "b": "2"}).text
    assert "<del>" in page and "Pick one of" in page
    assert "<ins>" in page and "Choose one of" in page
    assert 'id="audit"' in page and "promote" in page and "test" in page
    # What each version sends for the suite's first case, as a word diff.
    rendered = page[page.index('id="rendered"') :]
    assert "<del>Pick</del><ins>Choose</ins>" in rendered and "merchant 0" in rendered
    missing = client.get("/versions", params={"target": "prompt/nope"})
    assert missing.status_code in (400, 404) and "nope" in missing.text


def test_versions_show_few_shot_examples_added_and_removed(tmp_path: Path) -> None:
    from driftgate.registry.history import example_changes

    root = tmp_path / "ws"
    (root / "prompts" / "fewshot").mkdir(parents=True)
    fewshot = root / "prompts" / "fewshot" / "cat.yaml"
    fewshot.write_text(
        "name: cat\nexamples:\n  - {input: {d: a}, output: x}\n  - {input: {d: b}, output: y}\n"
    )
    register_artifacts(root)
    fewshot.write_text(
        "name: cat\nexamples:\n  - {input: {d: a}, output: x}\n  - {input: {d: c}, output: z}\n"
    )
    register_artifacts(root)
    changes = example_changes("fewshot/cat@1", "fewshot/cat@2", workspace=root)
    assert changes is not None
    assert changes.added == [{"input": {"d": "c"}, "output": "z", "label": None}]
    assert changes.removed == [{"input": {"d": "b"}, "output": "y", "label": None}]
    page = (
        TestClient(create_app(root))
        .get("/versions", params={"target": "fewshot/cat", "a": "1", "b": "2"})
        .text
    )
    assert "1 added" in page and "1 removed" in page and "c → z" in page and "b → y" in page


def test_routes_page_shows_arms_shadows_and_segments(served: Workspace) -> None:
    client = TestClient(create_app(served.root))
    page = client.get("/routes").text
    assert 'id="route-arms"' in page and "main" in page and "never returned" in page
    assert "other (shadow)" in page and 'id="route-segments"' in page and "lumen" in page
    assert "The live weights are the route file" in page
    unknown = client.get("/routes", params={"route": "nope"})
    assert unknown.status_code == 400 and "nope" in unknown.text


def test_drift_page_without_checks_says_how_to_start(ws_root: Path) -> None:
    page = TestClient(create_app(ws_root)).get("/drift")
    assert page.status_code == 200 and "No drift check yet" in page.text
    bad = TestClient(create_app(ws_root)).get("/drift", params={"key": "nope"})
    assert bad.status_code == 400
