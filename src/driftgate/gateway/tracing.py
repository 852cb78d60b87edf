"""Whether the gateway traces, and with what: read without importing opentelemetry.

Tracing is on when the gateway settings have a `tracing:` section, or when the standard
OpenTelemetry variables ask for it (`OTEL_TRACES_EXPORTER=otlp|console`, or an
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); `OTEL_SDK_DISABLED=true`
or `OTEL_TRACES_EXPORTER=none` turn it off. Off, nothing of opentelemetry is imported and
each request pays one `is None` test (`spans.py` holds everything that needs the library).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .settings import TracingSettings

if TYPE_CHECKING:
    from .spans import Tracing

EXTRA = "otel"
INSTALL = f"pip install 'driftgate[{EXTRA}]'"
ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def tracing_settings(
    configured: TracingSettings | None, env: Mapping[str, str]
) -> TracingSettings | None:
    """What to trace with: the `tracing:` settings, else what the OTEL_* variables ask
    for, else None (off)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if configured is not None:
        return configured
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter in ("", "none"):
        if exporter == "" and any(env.get(v) for v in ENDPOINT_VARS):
            return TracingSettings(exporter="otlp")
        return None
    if exporter not in ("otlp", "console"):
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER={exporter!r} is not served: the gateway exports traces "
            "with `otlp` (OTLP over HTTP) or `console`",
            field="OTEL_TRACES_EXPORTER",
            hint="set it to otlp, console or none",
        )
    return TracingSettings(exporter=exporter)  # type: ignore[arg-type]


def open_tracing(
    configured: TracingSettings | None,
    env: Mapping[str, str],
    *,
    tracer_provider: Any = None,
) -> Tracing | None:
    """The gateway's tracing, or None when off. `tracer_provider` (an SDK TracerProvider
    the caller owns, e.g. with an in-memory exporter) turns it on whatever the settings."""
    config = tracing_settings(configured, env)
    if config is None and tracer_provider is None:
        return None
    try:
        from .spans import Tracing, build_provider
    except ImportError as exc:
        raise missing(exc, "opentelemetry-api and opentelemetry-sdk") from None
    if tracer_provider is not None:
        return Tracing(tracer_provider, owned=False)
    assert config is not None
    try:
        provider = build_provider(config)
    except ImportError as exc:
        raise missing(exc, "the OTLP exporter (opentelemetry-exporter-otlp-proto-http)") from None
    return Tracing(provider, owned=True)


def missing(exc: ImportError, what: str) -> ConfigError:
    return ConfigError(
        f"gateway tracing is configured but {what} is not installed ({exc.name or exc})",
        field="gateway.tracing",
        hint=f"install the `{EXTRA}` extra: {INSTALL}; or remove `gateway: tracing:` and "
        "the OTEL_TRACES_EXPORTER / OTEL_EXPORTER_OTLP_ENDPOINT variables",
    )
