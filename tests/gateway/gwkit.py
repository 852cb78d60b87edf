"""A workspace with a route over simulator models, and the gateway app over it (fixtures
the gateway tests import: a second `conftest.py` would shadow the suite's own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from driftgate.gateway import GatewaySettings, create_app, hash_key

FAST = "latency_ms=0&latency_jitter_ms=0"
ROUTE = f"""
sticky_key: user_id
arms:
  - {{name: production, prompt: cat@v1, model: "sim/acme@v1?{FAST}", weight: 80}}
  - {{name: candidate, prompt: cat@v1, model: "sim/acme@v1?{FAST}&accuracy=0.3", weight: 20}}
shadow:
  - {{name: next, prompt: cat@v1, model: "sim/acme@v2?{FAST}", sample: 1.0}}
canary: {{min_feedback: 25, check_every: 25}}
"""
FAILING = "sim/acme@v1?error_rate=1.0&rate_limit_share=1.0&retry_after_s=0&" + FAST  # 429s, no wait
FALLBACK_ROUTE = f"""
arms:
  - {{name: main, prompt: cat@v1, model: "{FAILING}", weight: 100}}
fallbacks: [sim/perfect@v1]
"""
KEY = "sk-test-categorize-only-0001"
ALL_KEY = "sk-test-everything-0002"


def write_route(root: Path, body: str, name: str) -> None:
    (root / "routes").mkdir(exist_ok=True)
    (root / "routes" / f"{name}.yaml").write_text(body)


@pytest.fixture
def gw_root(ws_root: Path) -> Path:
    write_route(ws_root, ROUTE, "cat")
    write_route(ws_root, FALLBACK_ROUTE, "flaky")
    return ws_root


@pytest.fixture
def client(gw_root: Path) -> Iterator[TestClient]:
    with TestClient(create_app(gw_root)) as c:  # runs the lifespan: routers loaded, closed
        yield c


def keyed_settings(**extra: object) -> GatewaySettings:
    return GatewaySettings.model_validate(
        {
            "keys": [
                {"name": "cat-only", "sha256": hash_key(KEY), "routes": ["cat"]},
                {"name": "ops", "sha256": hash_key(ALL_KEY), "routes": ["*"], "models": ["*"]},
            ],
            **extra,
        }
    )


def chat(model: str, content: str = "UBER *TRIP", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}
