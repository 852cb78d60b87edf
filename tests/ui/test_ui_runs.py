"""The runs pages of `driftgate ui` in-process (Starlette's test client): the list and its
filters, one run's cases paged and filtered, one case in full, escaping, the token, and
that nothing outside the app's own files is served."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import driftgate
from driftgate.ui import create_app
from driftgate.ui.security import CSP, required_token

HOSTILE = "<script>window.__pwned=1</script>"


@pytest.fixture
def two_runs(ws_root: Path) -> tuple[Path, str, str]:
    """Two runs of the example suite: a perfect model, then an imperfect one."""
    first = driftgate.run(workspace=ws_root, progress="off")
    second = driftgate.run(workspace=ws_root, models=["sim/acme@v1"], progress="off")
    return ws_root, first.manifest.id, second.manifest.id


def _client(root: Path, token: str | None = None) -> TestClient:
    return TestClient(create_app(root, token=token))


def test_runs_list_filters_by_model_and_pages(two_runs: tuple[Path, str, str]) -> None:
    root, first, second = two_runs
    client = _client(root)
    page = client.get("/runs")
    assert page.status_code == 200
    assert first in page.text and second in page.text
    assert page.headers["content-security-policy"] == CSP
    only = client.get("/runs", params={"model": "sim/acme@v1"}).text
    assert second in only and first not in only
    one = client.get("/runs", params={"limit": 1}).text
    assert "1–1 of 2" in one and 'id="page-next"' in one
    assert first not in one  # newest first: the second run fills the one-row page
    future = client.get("/runs", params={"since": "2999-01-01"}).text
    assert "No run matches" in future


def test_run_page_filters_cases_and_opens_one(two_runs: tuple[Path, str, str]) -> None:
    root, _, noisy = two_runs
    client = _client(root)
    page = client.get(f"/runs/{noisy}")
    assert page.status_code == 200
    assert 'id="arms"' in page.text and "sim/acme@v1" in page.text
    total = int(re.search(r"of (\d+)</span>", page.text).group(1))  # type: ignore[union-attr]
    assert total == 40
    failed = client.get(f"/runs/{noisy}", params={"status": "failed"}).text
    n_failed = int(re.search(r"of (\d+)</span>", failed).group(1))  # type: ignore[union-attr]
    assert 0 < n_failed < total
    assert 'class="pass"' not in failed
    search = client.get(f"/runs/{noisy}", params={"search": "c007"}).text
    assert "1–1 of 1" in search
    link = re.search(r'href="(/runs/[^"]+/case\?key=[^"]+)"', search).group(1)  # type: ignore[union-attr]
    case = client.get(html.unescape(link))
    assert case.status_code == 200
    assert "merchant 7" in case.text  # the rendered user message
    assert 'id="scores"' in case.text


def test_unknown_run_and_bad_filter_say_what_to_do(two_runs: tuple[Path, str, str]) -> None:
    root, first, _ = two_runs
    client = _client(root)
    missing = client.get("/runs/20000101-000000-ffffff")
    assert missing.status_code == 404 and "not found" in missing.text
    bad = client.get(f"/runs/{first}", params={"status": "weird"})
    assert bad.status_code == 400 and "unknown case filter" in bad.text
    assert client.get("/static/../driftgate.yaml").status_code == 404
    assert client.get("/static/manifest.json").status_code == 404


def test_output_is_text_not_markup(ws_root: Path) -> None:
    from driftgate.store.records import CaseResult, RunManifest
    from driftgate.store.runs import RunStore

    store = RunStore(ws_root / "runs")
    manifest = RunManifest(id="20260101-000000-aaaaaa", created_at=1.0, driftgate_version="x")
    store.create(manifest)
    with store.writer(manifest.id) as w:
        w.write(
            CaseResult(
                run_id=manifest.id, key="p|m|e|c1|0", evalset="e", case_id="c1", prompt="p",
                prompt_digest="d", model="m", output=HOSTILE, ts=1.0,
            ).model_dump(mode="json")
        )  # fmt: skip
    client = _client(ws_root)
    page = client.get(f"/runs/{manifest.id}").text
    assert HOSTILE not in page and html.escape(HOSTILE) in page


def test_token_required_beyond_loopback(two_runs: tuple[Path, str, str]) -> None:
    root, _, _ = two_runs
    with pytest.raises(driftgate.ConfigError, match="token"):
        required_token("0.0.0.0", None)
    assert required_token("127.0.0.1", None) is None
    client = _client(root, token="s3cret")
    assert client.get("/runs").status_code == 401
    assert client.get("/runs", params={"token": "wrong"}).status_code == 401
    assert client.get("/runs", params={"token": "s3cret"}).status_code == 200
    assert client.get("/runs").status_code == 200  # the cookie the first visit set
    bearer = _client(root, token="s3cret")
    assert bearer.get("/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_tool_calls_show_as_the_answer(ws_root: Path) -> None:
    from driftgate.store.records import CaseResult, RunManifest
    from driftgate.store.runs import RunStore

    store = RunStore(ws_root / "runs")
    manifest = RunManifest(id="20260101-000000-bbbbbb", created_at=1.0, driftgate_version="x")
    store.create(manifest)
    call = {"id": "c1", "name": "get_weather", "arguments": '{"city": "Oslo"}'}
    with store.writer(manifest.id) as w:
        w.write(
            CaseResult(
                run_id=manifest.id, key="p|m|e|c1|0", evalset="e", case_id="c1", prompt="p",
                prompt_digest="d", model="m", output="", tool_calls=[call], ts=1.0,
            ).model_dump(mode="json")
        )  # fmt: skip
    client = _client(ws_root)
    page = client.get(f"/runs/{manifest.id}").text
    assert 'get_weather({"city": "Oslo"})' in html.unescape(page)
    case = client.get(f"/runs/{manifest.id}/case", params={"key": "p|m|e|c1|0"}).text
    assert 'get_weather({"city": "Oslo"})' in html.unescape(case)


def test_runs_made_on_another_machine_show_from_the_shared_store(
    ws_root: Path, s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    monkeypatch.setenv("DRIFTGATE_STORE", s3_url)
    there = shutil.copytree(ws_root, tmp_path / "other-machine")
    made = driftgate.run(workspace=there, models=["sim/acme@v1"], progress="off").manifest.id
    assert not (ws_root / "runs" / made).exists()
    client = _client(ws_root)
    assert made in client.get("/runs").text
    page = client.get(f"/runs/{made}")
    assert page.status_code == 200
    assert int(re.search(r"of (\d+)</span>", page.text).group(1)) == 40  # type: ignore[union-attr]
