"""The review page in-process: one answer at a time, a decision per POST with its CSRF
token, the golden set and feedback log growing by exactly what was decided."""

from __future__ import annotations

import html
import json
import re

from starlette.testclient import TestClient

from driftgate.router import read_feedback
from driftgate.ui import create_app
from driftgate.workspace import Workspace


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]


def _item(page: str) -> str:
    return html.unescape(re.search(r'data-item="([^"]+)"', page).group(1))  # type: ignore[union-attr]


def test_review_page_decides_and_moves_on(served: Workspace) -> None:
    client = TestClient(create_app(served.root))
    page = client.get("/review").text
    assert 'id="review-item"' in page and "rejected" in page
    assert 'id="needs"' in page and "lumen" in page
    first = _item(page)
    done = client.post(
        "/review",
        data={"csrf": _csrf(page), "route": "cat", "item": first, "reviewer": "ana",
              "action": "correct:dining"},
    )  # fmt: skip
    assert done.status_code == 200  # followed the redirect to the next answer
    assert "added to the golden set" in done.text
    assert _item(done.text) != first
    typed = client.post(
        "/review",
        data={"csrf": _csrf(done.text), "route": "cat", "item": _item(done.text),
              "reviewer": "ana", "action": "correct", "answer": "transport"},
    )  # fmt: skip
    assert "recorded &#39;transport&#39;" in typed.text
    rows = [json.loads(x) for x in (served.root / "evalsets/reviewed.jsonl").open()]
    assert [r["expected"] for r in rows] == ["dining", "transport"]
    reviewed = [fb for fb in read_feedback(served, "cat") if fb.reviewer == "ana"]
    assert len(reviewed) == 2
    # The reviewer's name is remembered for the next answer.
    assert 'value="ana"' in client.get("/review").text


def test_review_post_needs_its_csrf_token(served: Workspace) -> None:
    client = TestClient(create_app(served.root))
    page = client.get("/review").text
    item = _item(page)
    form = {"route": "cat", "item": item, "reviewer": "eve", "action": "accept"}
    assert client.post("/review", data=form).status_code == 403
    assert client.post("/review", data={**form, "csrf": "0" * 64}).status_code == 403
    other_site = client.post(
        "/review", data={**form, "csrf": _csrf(page)}, headers={"Origin": "https://evil.example"}
    )
    assert other_site.status_code == 403
    fresh = TestClient(create_app(served.root))  # another browser: its own cookie
    assert fresh.post("/review", data={**form, "csrf": _csrf(page)}).status_code == 403
    assert not (served.root / "evalsets/reviewed.jsonl").exists()
    assert not [fb for fb in read_feedback(served, "cat") if fb.reviewer]


def test_a_bad_decision_is_shown_and_stores_nothing(served: Workspace) -> None:
    client = TestClient(create_app(served.root))
    page = client.get("/review").text
    out = client.post(
        "/review",
        data={"csrf": _csrf(page), "route": "cat", "item": _item(page), "reviewer": "ana",
              "action": "correct:caviar"},
    )  # fmt: skip
    assert "not a label of the prompt" in out.text and 'id="review-error"' in out.text
    assert _item(out.text) == _item(page)
    assert not (served.root / "evalsets/reviewed.jsonl").exists()
