"""The gateway's OpenTelemetry spans (imported only when tracing is on: `tracing.py`).

    POST /v1/chat/completions        SERVER span, one per request: the caller's W3C
    │                                `traceparent` is its parent when sent
    ├── chat sim/acme@v1             CLIENT span per provider call: the live arm's model,
    ├── chat sim/perfect@v1          each fallback tried, and every shadow call (which may
    └── chat sim/acme@v2 (shadow)    end after the request's span: its task inherited it)

Attributes are names and numbers only: route, arm, model, request id, status, shadow,
fallback, error type. Never a message, a rendered prompt, an answer or a key; exceptions
are not recorded (a provider's error text may quote the request), only their kind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..errors import ProviderError
from .settings import TracingSettings

SCOPE = "driftgate.gateway"
Attribute = str | int | float | bool


class Tracing:
    """Spans of one gateway app, on `provider` (closed at shutdown when `owned`)."""

    def __init__(self, provider: Any, *, owned: bool) -> None:
        self.provider = provider
        self.owned = owned
        self.tracer = provider.get_tracer(SCOPE)

    @contextmanager
    def request(self, method: str, path: str, headers: Mapping[str, str]) -> Iterator[None]:
        """The span of one HTTP request (current while its handler runs)."""
        with self.tracer.start_as_current_span(
            f"{method} {path}",
            context=extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
            record_exception=False,
            set_status_on_exception=False,
        ):
            yield

    def annotate(self, attributes: Mapping[str, Attribute | None]) -> None:
        """Add attributes to the current request's span (empty values left out); a 5xx
        status marks it failed, as OpenTelemetry's HTTP conventions say."""
        span = trace.get_current_span()
        span.set_attributes({k: v for k, v in attributes.items() if v is not None and v != ""})
        status = attributes.get("http.response.status_code")
        if isinstance(status, int) and status >= 500:
            span.set_status(Status(StatusCode.ERROR))

    @contextmanager
    def provider_call(
        self, route: str, arm: str, model: str, shadow: bool, fallback: bool
    ) -> Iterator[None]:
        """The span of one call to a model (its retries included); a `Router` call hook."""
        attributes: dict[str, Attribute] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "driftgate.route": route,
            "driftgate.arm": arm,
            "driftgate.shadow": shadow,
            "driftgate.fallback": fallback,
        }
        with self.tracer.start_as_current_span(
            f"chat {model}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except ProviderError as exc:
                span.set_attribute("error.type", exc.kind)
                span.set_status(Status(StatusCode.ERROR, exc.kind))
                raise
            except BaseException as exc:  # a timeout, a cancelled shadow call
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR))
                raise

    def shutdown(self) -> None:
        """Export what is buffered (after shadow calls drained), when the provider is ours."""
        if self.owned:
            self.provider.shutdown()


def build_provider(config: TracingSettings) -> Any:
    """An SDK TracerProvider exporting in batches as `config` says. Raises ImportError when
    the OTLP exporter package is missing."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    exporter: Any
    if config.exporter == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # endpoint None: the exporter reads the OTEL_EXPORTER_OTLP_* variables itself.
        exporter = OTLPSpanExporter(endpoint=config.endpoint)
    provider = TracerProvider(
        resource=Resource.create({"service.name": config.service_name}),
        sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
