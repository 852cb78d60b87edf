# ruff: noqa: F811 - pytest fixtures imported from gwkit are parameters by the same name
"""OpenTelemetry traces of the gateway: a span per request, a child span per provider call
(live, fallback, shadow), names and ids only; off and not even imported by default."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gwkit import chat, gw_root  # noqa: F401 - fixtures
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.testclient import TestClient

from driftgate.errors import ConfigError
from driftgate.gateway import GatewaySettings, create_app
from driftgate.gateway.tracing import tracing_settings

SECRET = "SECRET-MERCHANT-4242 card 4111111111111111"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent and s.parent.span_id == parent.context.span_id]


def test_a_span_per_request_and_a_child_per_provider_call_with_no_content(
    gw_root: Path,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with TestClient(create_app(gw_root, tracer_provider=provider)) as c:
        routed = c.post(
            "/v1/chat/completions", json=chat("route/cat", SECRET, user="u-1"),
            headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
        )  # fmt: skip
        fell_back = c.post("/v1/chat/completions", json=chat("route/flaky", SECRET))
        prompted = c.post("/v1/chat/completions", json=chat("cat@v1", SECRET))
        refused = c.post("/v1/chat/completions", json=chat("route/nope", SECRET))
        fed = c.post("/v1/feedback", json={"request_id": routed.json()["id"], "verdict": "edit",
                                           "correction": SECRET})  # fmt: skip
        assert c.get("/metrics").status_code == 200  # scrapes are not traced
    assert [r.status_code for r in (routed, fell_back, prompted, refused, fed)] == [
        200, 200, 200, 404, 200,
    ]  # fmt: skip
    spans = list(exporter.get_finished_spans())
    servers = [s for s in spans if s.kind == SpanKind.SERVER]
    assert [s.name for s in servers] == ["POST /v1/chat/completions"] * 4 + ["POST /v1/feedback"]

    # The routed request: its arm, model and id; the caller's trace continues through it.
    request = servers[0]
    attrs = dict(request.attributes or {})
    assert attrs["driftgate.route"] == "cat" and attrs["driftgate.kind"] == "route"
    assert attrs["driftgate.arm"] == routed.headers["x-driftgate-arm"]
    assert attrs["driftgate.model"] == routed.headers["x-driftgate-model"]
    assert attrs["driftgate.request_id"] == routed.json()["id"]
    assert attrs["http.response.status_code"] == 200
    assert f"{request.context.trace_id:032x}" == CALLER_TRACE
    assert request.parent is not None and f"{request.parent.span_id:016x}" == CALLER_SPAN
    calls = children(spans, request)
    assert all(s.kind == SpanKind.CLIENT for s in calls)
    by_shadow = {bool((s.attributes or {})["driftgate.shadow"]): s for s in calls}
    assert len(calls) == 2 and set(by_shadow) == {False, True}  # the live call and its shadow
    live, shadow = dict(by_shadow[False].attributes or {}), dict(by_shadow[True].attributes or {})
    assert live["driftgate.arm"] == attrs["driftgate.arm"]
    assert live["gen_ai.request.model"] == attrs["driftgate.model"]
    assert shadow["driftgate.arm"] == "next" and "acme@v2" in str(shadow["gen_ai.request.model"])

    # A fallback: the failing model's span and the fallback's, in order.
    flaky = children(spans, servers[1])
    tried = [((s.attributes or {})["driftgate.fallback"], s.status.status_code) for s in flaky]
    assert tried == [(False, StatusCode.ERROR), (True, StatusCode.UNSET)]
    assert (flaky[0].attributes or {})["error.type"] == "rate_limit"
    assert (flaky[1].attributes or {})["gen_ai.request.model"] == "sim/perfect@v1"
    assert servers[1].attributes and servers[1].attributes["driftgate.arm"] == "main"

    # A prompt version: one call, logged under @gateway; a refusal has no call at all.
    (call,) = children(spans, servers[2])
    assert (call.attributes or {})["driftgate.arm"] == "prompt"
    assert (servers[2].attributes or {})["driftgate.route"] == "@gateway"
    assert children(spans, servers[3]) == []
    assert (servers[3].attributes or {})["http.response.status_code"] == 404
    assert (servers[3].attributes or {})["error.type"] == "invalid_request_error"
    assert (servers[4].attributes or {})["driftgate.route"] == "cat"

    # No span carries a message, a rendered prompt, a correction or an answer.
    text = json.dumps([json.loads(s.to_json()) for s in spans])
    answer = json.dumps(routed.json()["choices"][0]["message"]["content"])  # as a JSON value:
    for content in (SECRET, "4111", "Pick one of", answer):  # "rent" is in "parent_id"
        assert content not in text


def test_configured_tracing_exports_through_the_sdk_and_flushes_at_shutdown(
    gw_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace import export

    out = io.StringIO()

    class Console(export.ConsoleSpanExporter):  # the SDK's, printing where the test reads
        def __init__(self) -> None:
            super().__init__(out=out)

    monkeypatch.setattr(export, "ConsoleSpanExporter", Console)
    settings = GatewaySettings.model_validate({"tracing": {"exporter": "console"}})
    with TestClient(create_app(gw_root, settings=settings)) as c:
        assert c.post("/v1/chat/completions", json=chat("route/cat", SECRET)).status_code == 200
    printed = out.getvalue()  # batched spans: exported at shutdown at the latest
    assert '"driftgate.route": "cat"' in printed
    assert '"service.name": "driftgate-gateway"' in printed
    assert printed.count('"kind": "SpanKind.CLIENT"') == 2  # the live call and its shadow
    assert SECRET not in printed


def test_tracing_is_on_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    configured = GatewaySettings.model_validate({"tracing": {}}).tracing
    assert tracing_settings(None, {}) is None
    assert tracing_settings(None, {"OTEL_TRACES_EXPORTER": "none"}) is None
    on = tracing_settings(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert on is not None and on.exporter == "otlp"
    assert tracing_settings(
        None, {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    ) is None  # fmt: skip
    console = tracing_settings(None, {"OTEL_TRACES_EXPORTER": "console"})
    assert console is not None and console.exporter == "console"
    assert tracing_settings(configured, {"OTEL_SDK_DISABLED": "true"}) is None
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER='zipkin'"):
        tracing_settings(None, {"OTEL_TRACES_EXPORTER": "zipkin"})


def test_configured_without_the_packages_names_the_extra(
    gw_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    otlp = GatewaySettings.model_validate({"tracing": {"exporter": "otlp"}})
    # The exporter package missing (None in sys.modules: its import fails).
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ConfigError) as caught:
        create_app(gw_root, settings=otlp)
    assert "opentelemetry-exporter-otlp-proto-http" in str(caught.value)
    assert "driftgate[otel]" in (caught.value.hint or "")
    # opentelemetry itself missing.
    monkeypatch.delitem(sys.modules, "driftgate.gateway.spans", raising=False)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ConfigError) as caught:
        create_app(gw_root, settings=otlp)
    assert "opentelemetry-api and opentelemetry-sdk" in str(caught.value)
    assert "gateway.tracing" in str(caught.value) and "driftgate[otel]" in (caught.value.hint or "")


def test_off_by_default_opentelemetry_is_never_imported(gw_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = (
        "import sys\n"
        "from starlette.testclient import TestClient\n"
        "from driftgate.gateway import create_app\n"
        f"app = create_app({str(gw_root)!r})\n"
        "with TestClient(app) as c:\n"
        "    assert c.post('/v1/chat/completions', json={'model': 'route/cat', 'messages':"
        " [{'role': 'user', 'content': 'x'}]}).status_code == 200\n"
        "assert app.state.gateway.tracing is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
