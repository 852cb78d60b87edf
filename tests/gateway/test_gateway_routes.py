"""Serving a route through the gateway over plain HTTP: weights, sticky keys, shadows,
fallbacks, provider failures, prompt versions, pass-through and their traffic log."""

# ruff: noqa: F811 - pytest fixtures imported from gwkit are parameters by the same name
from __future__ import annotations

from collections import Counter
from pathlib import Path

from gwkit import FAILING, chat, client, gw_root, write_route  # noqa: F401 - fixtures
from starlette.testclient import TestClient

from driftgate.gateway import create_app
from driftgate.router import Router, read_decisions
from driftgate.workspace import Workspace


def test_a_route_splits_by_weight_keeps_users_on_their_arm_and_never_returns_a_shadow(
    gw_root: Path,
) -> None:
    router = Router("cat", workspace=gw_root)  # the library's own assignment, for reference
    arms: dict[str, set[str]] = {}
    ids = []
    with TestClient(create_app(gw_root)) as c:
        for i in range(240):
            user = f"user-{i % 60}"
            r = c.post("/v1/chat/completions", json=chat("route/cat", user=user))
            assert r.status_code == 200, r.text
            arm = r.headers["x-driftgate-arm"]
            assert arm == router.choose(user).name  # the Router's assignment, not a copy
            arms.setdefault(user, set()).add(arm)
            assert r.json()["id"] == r.headers["x-driftgate-request-id"]
            assert r.headers["x-driftgate-version"].startswith("cat@v1;digest=")
            ids.append(r.headers["x-driftgate-request-id"])
        # The sticky header wins over `user`.
        by_header = {
            c.post(
                "/v1/chat/completions",
                json=chat("route/cat", user=f"other-{i}"),
                headers={"X-Driftgate-Sticky": "user-7"},
            ).headers["x-driftgate-arm"]
            for i in range(10)
        }
        assert by_header == {router.choose("user-7").name}
    assert all(len(a) == 1 for a in arms.values())
    share = Counter(a for s in arms.values() for a in s)
    assert share["production"] > share["candidate"] > 0
    # Shutdown drained the shadow calls: each live answer has its mirror in the log.
    logged = read_decisions(Workspace.find(gw_root), "cat")
    live = [d for d in logged if not d.shadow]
    shadows = [d for d in logged if d.shadow]
    assert {d.id for d in live} >= set(ids) and {d.id for d in shadows} >= set(ids)
    assert {d.arm for d in shadows} == {"next"}


def test_fallback_answers_and_every_model_failing_is_an_openai_error(
    gw_root: Path, client: TestClient
) -> None:
    r = client.post("/v1/chat/completions", json=chat("route/flaky"))
    assert r.status_code == 200, r.text
    assert r.headers["x-driftgate-fallback"] == "true"
    assert r.headers["x-driftgate-model"] == "sim/perfect@v1"
    down = f'arms:\n  - {{name: main, prompt: cat@v1, model: "{FAILING}", weight: 100}}\n'
    write_route(gw_root, down, "down")
    r = client.post("/v1/chat/completions", json=chat("route/down"))
    assert r.status_code == 429, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["code"] == "rate_limit" and err["type"] == "rate_limit_error"
    assert "Traceback" not in r.text
    failed = [d for d in read_decisions(Workspace.find(gw_root), "down") if d.error]
    assert failed and failed[0].error_kind == err["code"]


def test_unknown_route_model_and_path_are_404s_and_bad_requests_400s(
    gw_root: Path, client: TestClient
) -> None:
    r = client.post("/v1/chat/completions", json=chat("route/nope"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    # A route that exists but names an unknown prompt version is the server's fault.
    broken = "arms:\n  - {name: a, prompt: cat@nosuch, model: sim/perfect@v1, weight: 100}\n"
    write_route(gw_root, broken, "broken")
    r = client.post("/v1/chat/completions", json=chat("route/broken"))
    assert r.status_code == 500 and r.json()["error"]["code"] == "bad_route"
    assert "cat@nosuch" in r.json()["error"]["message"]
    assert "cat" in r.json()["error"]["message"]  # names the routes there are
    r = client.post("/v1/chat/completions", json=chat("cat@nosuchalias"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert client.get("/v1/nothing").json()["error"]["code"] == "not_found"
    r = client.post("/v1/chat/completions", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = client.post("/v1/chat/completions", json={"model": "route/cat", "messages": []})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"


def test_a_prompt_version_renders_the_request_variables(gw_root: Path) -> None:
    (gw_root / "prompts" / "two.yaml").write_text(
        "name: two\nversion: v1\nmodel: sim/perfect@v1\n"
        "messages:\n  - {role: user, content: '{{ a }} and {{ b }}'}\n"
    )
    with TestClient(create_app(gw_root)) as client:
        _prompt_requests(gw_root, client)


def _prompt_requests(gw_root: Path, client: TestClient) -> None:
    r = client.post("/v1/chat/completions", json=chat("two@v1"))
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_vars"
    assert "['a', 'b']" in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", json=chat("two@v1", vars={"a": "x", "b": "y"}))
    assert r.status_code == 200, r.text
    assert r.headers["x-driftgate-version"].startswith("two@v1;digest=")
    # One variable: the last user message is its value.
    r = client.post("/v1/chat/completions", json=chat("cat@v1", "LIDL STORE 42"))
    assert r.status_code == 200
    logged = {d.id: d for d in read_decisions(Workspace.find(gw_root), "@gateway")}
    d = logged[r.headers["x-driftgate-request-id"]]
    assert d.arm == "prompt" and d.prompt == "cat@v1" and d.vars == {"description": "LIDL STORE 42"}


def test_any_other_model_is_passed_through_and_logged(gw_root: Path, client: TestClient) -> None:
    r = client.post("/v1/chat/completions", json=chat("sim/perfect@v1", temperature=0))
    assert r.status_code == 200 and r.json()["usage"]["total_tokens"] > 0
    request_id = r.headers["x-driftgate-request-id"]
    d = next(d for d in read_decisions(Workspace.find(gw_root), "@gateway") if d.id == request_id)
    assert d.arm == "model" and d.model == "sim/perfect@v1"
    assert d.output == r.json()["choices"][0]["message"]["content"]
    assert d.vars["messages"][0]["content"] == "UBER *TRIP"


def test_models_lists_routes_prompt_versions_and_models(client: TestClient) -> None:
    ids = {m["id"]: m["owned_by"] for m in client.get("/v1/models").json()["data"]}
    assert ids["route/cat"] == ids["route/flaky"] == "driftgate-route"
    assert ids["cat@v1"] == "driftgate-prompt"
    assert ids["sim/perfect@v1"] == "driftgate-model"
