# ruff: noqa: F811 - pytest fixtures imported from gwkit are parameters by the same name
"""The gateway driven by the real OpenAI SDK (sync, async, streaming; in-process and over a
live uvicorn server), feedback reaching the traffic log and the canary guard, and metrics
read back with Prometheus' own parser."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
import uvicorn
from gwkit import chat, client, gw_root  # noqa: F401 - fixtures
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from driftgate.gateway import create_app
from driftgate.router import read_decisions, read_feedback
from driftgate.workspace import Workspace


def sdk(http_client: httpx.Client, base: str = "http://testserver") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused", http_client=http_client)


def test_the_sync_sdk_gets_answers_headers_and_a_stream(gw_root: Path, client: TestClient) -> None:
    oa = sdk(client)
    raw = oa.chat.completions.with_raw_response.create(
        model="route/cat", messages=[{"role": "user", "content": "UBER *TRIP"}], user="u-1"
    )
    answer = raw.parse()
    assert raw.headers["x-driftgate-arm"] in ("production", "candidate")
    assert answer.id == raw.headers["x-driftgate-request-id"]
    text = answer.choices[0].message.content
    assert text
    stream = oa.chat.completions.create(
        model="route/cat", messages=[{"role": "user", "content": "UBER *TRIP"}], user="u-1",
        stream=True,
    )  # fmt: skip
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    logged = {d.id: d for d in read_decisions(Workspace.find(gw_root), "cat") if not d.shadow}
    assert logged[answer.id].output == text
    assert {c.id for c in chunks} == {chunks[0].id} and logged[chunks[0].id].output == streamed
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert [m.id for m in oa.models.list()][:2] == ["route/cat", "route/flaky"]
    with pytest.raises(openai.NotFoundError) as caught:
        oa.chat.completions.create(model="route/nope", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_the_async_sdk_in_process_under_concurrency(gw_root: Path) -> None:
    app = create_app(gw_root)

    async def main() -> list[str]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                oa = openai.AsyncOpenAI(base_url="http://gw/v1", api_key="x", http_client=http)
                answers = await asyncio.gather(*(
                    oa.chat.completions.create(
                        model="route/cat", user=f"u{i}",
                        messages=[{"role": "user", "content": f"merchant {i}"}],
                    ) for i in range(40)
                ))  # fmt: skip
                stream = await oa.chat.completions.create(
                    model="cat@v1", messages=[{"role": "user", "content": "LIDL"}], stream=True
                )
                parts = [c.choices[0].delta.content or "" async for c in stream]
                assert "".join(parts)
        return [a.id for a in answers]

    ids = asyncio.run(main())
    logged = read_decisions(Workspace.find(gw_root), "cat")
    assert {d.id for d in logged if not d.shadow} == set(ids)
    assert {d.id for d in logged if d.shadow} == set(ids)  # drained at shutdown


def test_feedback_reaches_the_log_and_the_canary_guard_rolls_back(
    gw_root: Path, client: TestClient
) -> None:
    moved = None
    for i in range(400):
        r = client.post("/v1/chat/completions", json=chat("route/cat", f"m{i}", user=f"u{i}"))
        arm = r.headers["x-driftgate-arm"]
        # Users accept the production arm's answers and reject the candidate's.
        body = {"request_id": r.json()["id"], "verdict": "accept" if arm == "production"
                else "reject"}  # fmt: skip
        fb = client.post("/v1/feedback", json=body)
        assert fb.status_code == 200 and fb.json()["route"] == "cat"
        canary = fb.json()["canary"]
        if canary and canary["action"] == "rollback":
            moved = canary
            break
    assert moved is not None and moved["rollback_arms"] == ["candidate"]
    assert moved["weights"]["candidate"] == 0
    assert len(read_feedback(Workspace.find(gw_root), "cat")) == i + 1
    # Every later request goes to the baseline.
    arms = {client.post("/v1/chat/completions", json=chat("route/cat", user=f"v{j}"))
            .headers["x-driftgate-arm"] for j in range(30)}  # fmt: skip
    assert arms == {"production"}
    metrics = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    weights = {s.labels["arm"]: s.value for s in metrics["driftgate_gateway_canary_weight"].samples
               if s.labels["route"] == "cat"}  # fmt: skip
    assert weights == {"production": 100.0, "candidate": 0.0}
    verdict = metrics["driftgate_gateway_canary_verdict"].samples
    assert [(s.labels["action"], s.value) for s in verdict] == [("rollback", 1.0)]
    fed = {s.labels["verdict"]: s.value for s in metrics["driftgate_gateway_feedback"].samples
           if s.name.endswith("_total")}  # fmt: skip
    assert sum(fed.values()) == i + 1 and fed["reject"] > 0
    bad = client.post("/v1/feedback", json={"request_id": "nope", "verdict": "accept"})
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "request_not_found"
    bad = client.post("/v1/feedback", json={"request_id": "x", "verdict": "maybe"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "verdict"


def test_metrics_count_requests_errors_latency_and_shadow_calls(client: TestClient) -> None:
    for i in range(10):
        client.post("/v1/chat/completions", json=chat("route/cat", user=f"u{i}"))
    client.post("/v1/chat/completions", json=chat("route/nope"))
    client.post("/v1/chat/completions", json=chat("sim/perfect@v1"))
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    requests = families["driftgate_gateway_requests"].samples
    ok = sum(s.value for s in requests if s.name.endswith("_total")
             and s.labels["route"] == "cat" and s.labels["status"] == "200")  # fmt: skip
    assert ok == 10
    refused = [s for s in requests if s.name.endswith("_total") and s.labels["status"] == "404"]
    assert [(s.labels["route"], s.value) for s in refused] == [("", 1.0)]  # no minted label
    counts = [s for s in families["driftgate_gateway_request_seconds"].samples
              if s.name.endswith("_count") and s.labels["route"] == "cat"]  # fmt: skip
    assert sum(s.value for s in counts) == 10
    errors = families["driftgate_gateway_errors"].samples
    assert any(s.labels["type"] == "invalid_request_error" for s in errors)
    client.__exit__(None, None, None)  # shutdown drains the shadow calls
    shadow = [s for s in families["driftgate_gateway_answers"].samples
              if s.name.endswith("_total") and s.labels["shadow"] == "true"]  # fmt: skip
    assert shadow and all(s.labels["arm"] == "next" for s in shadow)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_live_server_answers_the_sdk_and_shuts_down_losing_no_log_line(gw_root: Path) -> None:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(gw_root), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    with httpx.Client() as http:
        oa = sdk(http, f"http://127.0.0.1:{port}")
        ids = [oa.chat.completions.create(
            model="route/cat", user=f"u{i}", messages=[{"role": "user", "content": f"m{i}"}]
        ).id for i in range(20)]  # fmt: skip
        stream = oa.chat.completions.create(
            model="sim/perfect@v1", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream)
        assert http.get(f"http://127.0.0.1:{port}/readyz").json()["status"] == "ready"
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive()
    logged = read_decisions(Workspace.find(gw_root), "cat")
    assert sorted(d.id for d in logged if not d.shadow) == sorted(ids)
    assert sorted(d.id for d in logged if d.shadow) == sorted(ids)
