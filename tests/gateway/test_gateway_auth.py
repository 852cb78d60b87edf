"""Client keys (hashed, each limited to named routes and models), body and message limits,
and the refusal to serve beyond loopback without keys."""

# ruff: noqa: F811 - pytest fixtures imported from gwkit are parameters by the same name
from __future__ import annotations

from pathlib import Path

import pytest
from gwkit import ALL_KEY, KEY, chat, gw_root, keyed_settings  # noqa: F401 - fixtures
from starlette.testclient import TestClient

from driftgate.errors import ConfigError
from driftgate.gateway import GatewaySettings, create_app
from driftgate.gateway.auth import KEYS_ENV, env_keys, hash_key
from driftgate.gateway.server import check_bind
from driftgate.workspace import Workspace


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_refuse_strangers_and_limit_each_key_to_its_routes_and_models(gw_root: Path) -> None:
    with TestClient(create_app(gw_root, settings=keyed_settings())) as c:
        post = c.post
        r = post("/v1/chat/completions", json=chat("route/cat"))
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        r = post("/v1/chat/completions", json=chat("route/cat"), headers=bearer("sk-wrong-key"))
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert post("/v1/chat/completions", json=chat("route/cat"), headers=bearer(KEY)).is_success
        for model in ("route/flaky", "sim/perfect@v1", "cat@v1"):
            r = post("/v1/chat/completions", json=chat(model), headers=bearer(KEY))
            assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error", model
        # Refused before looking: a key cannot probe which routes exist.
        r = post("/v1/chat/completions", json=chat("route/secret"), headers=bearer(KEY))
        assert r.status_code == 403
        assert post("/v1/chat/completions", json=chat("cat@v1"), headers=bearer(ALL_KEY)).is_success
        ids = [m["id"] for m in c.get("/v1/models", headers=bearer(KEY)).json()["data"]]
        assert ids == ["route/cat"]
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=bearer(KEY)).status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
        r = c.post("/v1/feedback", json={"request_id": "x", "verdict": "accept", "route": "flaky"},
                   headers=bearer(KEY))  # fmt: skip
        assert r.status_code == 403
    # The key itself is nowhere in the workspace's logs.
    state = Workspace.find(gw_root).state_dir
    assert not any(KEY in p.read_text() for p in state.rglob("*.jsonl"))


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch, gw_root: Path) -> None:
    keys = f'[{{"name": "env", "sha256": "{hash_key(KEY)}", "routes": ["cat"]}}]'
    monkeypatch.setenv(KEYS_ENV, keys)
    assert [k.name for k in env_keys()] == ["env"]
    with TestClient(create_app(gw_root)) as c:
        assert c.post("/v1/chat/completions", json=chat("route/cat")).status_code == 401
        r = c.post("/v1/chat/completions", json=chat("route/cat"), headers=bearer(KEY))
        assert r.status_code == 200
    monkeypatch.setenv(KEYS_ENV, '[{"name": "bad", "sha256": "not-a-hash", "routes": ["*"]}]')
    with pytest.raises(ConfigError, match=KEYS_ENV):
        env_keys()


def test_a_key_must_allow_something_and_a_public_bind_needs_keys(gw_root: Path) -> None:
    with pytest.raises(ValueError, match="allows nothing"):
        GatewaySettings.model_validate({"keys": [{"name": "k", "sha256": "a" * 64}]})
    ws = Workspace.find(gw_root)
    check_bind("127.0.0.1", ws)
    check_bind("::1", ws)
    check_bind("localhost", ws)
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(ConfigError, match="without client API keys"):
            check_bind(host, ws)
    keyed = Workspace(ws.root, ws.settings.model_copy(update={"gateway": keyed_settings()}))
    check_bind("0.0.0.0", keyed)


def test_oversized_bodies_and_messages_are_413(gw_root: Path) -> None:
    settings = GatewaySettings(max_body_bytes=4096, max_messages=3, max_message_chars=1000)
    with TestClient(create_app(gw_root, settings=settings)) as c:
        r = c.post("/v1/chat/completions", json=chat("route/cat", "x" * 5000))
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        # Without a Content-Length (chunked), the body is counted as it arrives.
        chunks = iter([b'{"model": "route/cat", "messages": [', b" " * 5000, b"]}"])
        r = c.post("/v1/chat/completions", content=chunks)
        assert r.status_code == 413
        r = c.post("/v1/chat/completions", json=chat("route/cat", "x" * 1500))
        assert r.status_code == 413 and r.json()["error"]["code"] == "message_too_long"
        many = {"model": "route/cat", "messages": [{"role": "user", "content": "x"}] * 4}
        r = c.post("/v1/chat/completions", json=many)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_messages"
        assert c.post("/v1/chat/completions", json=chat("route/cat")).status_code == 200
