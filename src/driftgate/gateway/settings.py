"""The gateway's settings: the `gateway:` section of driftgate.yaml (`[tool.driftgate.gateway]`).

    gateway:
      max_body_bytes: 1048576
      keys:
        - name: billing-service
          sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
          routes: [categorize]          # route/categorize
          models: ["categorize@*"]      # prompt aliases, model ids (shell-style patterns)

    gateway:
      tracing: {exporter: otlp, endpoint: "http://collector:4318/v1/traces"}

Client keys are stored as the sha256 of the key (hex), never the key itself: a leaked
driftgate.yaml gives nobody access. `DRIFTGATE_GATEWAY_KEYS` (a JSON list of the same
objects) adds keys without editing the file. This module sits with the workspace (layer 1:
`Settings.gateway` is one of its fields) and imports nothing of driftgate's but the base.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .._strict import Strict

MIB = 1024 * 1024


class GatewayKey(Strict):
    """One client API key, by its sha256, and what it may call."""

    name: str = Field(min_length=1, description="Who holds the key (logs and metrics name it).")
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description='sha256 of the key, lowercase hex: `printf %s "$KEY" | sha256sum`.',
    )
    routes: list[str] = Field(
        default_factory=list,
        description="Routes this key may call as `route/NAME` (shell-style patterns: `*`).",
    )
    models: list[str] = Field(
        default_factory=list,
        description="Prompt refs (`NAME@ALIAS`) and model ids this key may call (patterns).",
    )

    @model_validator(mode="after")
    def _allows_something(self) -> GatewayKey:
        if not self.routes and not self.models:
            raise ValueError(
                f"key {self.name!r} allows nothing: list the routes and/or models it may call "
                "(`routes: ['*']` for every route)"
            )
        return self


class TracingSettings(Strict):
    """OpenTelemetry traces of the gateway (the `otel` extra): one span per request, a
    child span per provider call. Absent (the default): no spans, and opentelemetry is
    never imported. The standard `OTEL_TRACES_EXPORTER` / `OTEL_EXPORTER_OTLP_ENDPOINT`
    variables turn it on too."""

    exporter: Literal["otlp", "console"] = Field(
        "otlp", description="`otlp`: OTLP over HTTP to `endpoint`; `console`: print spans."
    )
    endpoint: str | None = Field(
        None,
        description="OTLP/HTTP traces URL. Default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "
        "OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318/v1/traces.",
    )
    service_name: str = Field("driftgate-gateway", min_length=1, description="service.name.")
    sample_ratio: float = Field(
        1.0, ge=0, le=1, description="Share of new traces recorded (a caller's decision wins)."
    )


class GatewaySettings(Strict):
    """How `driftgate serve` answers: who may call it, and how big a request may be."""

    keys: list[GatewayKey] = Field(
        default_factory=list,
        description="Client API keys (hashed). None: every request is served, which "
        "`driftgate serve` allows only on a loopback address.",
    )
    max_body_bytes: int = Field(
        MIB, ge=1024, le=256 * MIB, description="Largest request body (bytes); larger is 413."
    )
    max_messages: int = Field(
        1000, ge=1, le=100_000, description="Most chat messages in one request; more is 413."
    )
    max_message_chars: int = Field(
        MIB, ge=1, description="Longest message content (characters); longer is 413."
    )
    public_metrics: bool = Field(
        False,
        description="Serve /metrics without a key (when keys are set). /healthz and /readyz "
        "never need one.",
    )
    tracing: TracingSettings | None = Field(
        None, description="OpenTelemetry traces (needs the `otel` extra). None: off."
    )
    passthrough: bool = Field(
        True,
        description="Serve model ids that are neither `route/NAME` nor `PROMPT@ALIAS` by "
        "calling that model directly (still limited by each key's `models`).",
    )
