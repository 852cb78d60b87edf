"""Client API keys: who is calling, and whether that key may call this route or model.

A key is sent as `Authorization: Bearer KEY` and looked up by its sha256; the gateway never
stores or logs the key itself. With no keys configured every request is served (which
`driftgate serve` allows only on a loopback address, see `server.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..errors import ConfigError, GatewayError
from .settings import GatewayKey, GatewaySettings

KEYS_ENV = "DRIFTGATE_GATEWAY_KEYS"


def hash_key(key: str) -> str:
    """The sha256 (hex) a key is stored as: `printf %s "$KEY" | sha256sum` gives the same."""
    return hashlib.sha256(key.encode()).hexdigest()


def env_keys(environ: dict[str, str] | None = None) -> list[GatewayKey]:
    """The keys in `DRIFTGATE_GATEWAY_KEYS`: a JSON list of `{name, sha256, routes, models}`."""
    raw = (environ if environ is not None else os.environ).get(KEYS_ENV, "").strip()
    if not raw:
        return []
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(list[GatewayKey]).validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{KEYS_ENV}: {first['msg']}" + (f" at {where}" if where else ""),
            hint='a JSON list such as [{"name": "svc", "sha256": "<64 hex>", "routes": ["*"]}]',
        ) from None
    except json.JSONDecodeError as exc:  # pragma: no cover - pydantic reports bad JSON above
        raise ConfigError(f"{KEYS_ENV}: not JSON: {exc}") from None


@dataclass(frozen=True)
class Client:
    """The caller of one request: its key (None when the gateway has no keys)."""

    key: GatewayKey | None

    @property
    def name(self) -> str:
        return self.key.name if self.key else "anonymous"

    def may_use_route(self, route: str) -> bool:
        return self.key is None or any(fnmatchcase(route, p) for p in self.key.routes)

    def may_use_model(self, model: str) -> bool:
        return self.key is None or any(fnmatchcase(model, p) for p in self.key.models)

    def check_route(self, route: str) -> None:
        if not self.may_use_route(route):
            raise GatewayError(
                403,
                f"key {self.name!r} may not call route {route!r}",
                type="permission_error",
                code="route_not_allowed",
                param="model",
            )

    def check_model(self, model: str) -> None:
        if not self.may_use_model(model):
            raise GatewayError(
                403,
                f"key {self.name!r} may not call model {model!r}",
                type="permission_error",
                code="model_not_allowed",
                param="model",
            )


class KeyRing:
    """The configured keys by hash; `client(authorization)` authenticates one request."""

    def __init__(self, settings: GatewaySettings, extra: Sequence[GatewayKey] = ()) -> None:
        self._by_hash: dict[str, GatewayKey] = {}
        for key in [*settings.keys, *extra]:
            if key.sha256 in self._by_hash:
                raise ConfigError(
                    f"gateway keys {self._by_hash[key.sha256].name!r} and {key.name!r} have "
                    "the same sha256",
                    field="gateway.keys",
                    hint="give each client its own key",
                )
            self._by_hash[key.sha256] = key

    @property
    def enabled(self) -> bool:
        return bool(self._by_hash)

    def client(self, authorization: str | None) -> Client:
        """The caller named by an `Authorization` header; GatewayError 401 when keys are set
        and the header is missing or names no key."""
        if not self._by_hash:
            return Client(None)
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GatewayError(
                401,
                "missing API key: send `Authorization: Bearer KEY`",
                type="authentication_error",
                code="missing_api_key",
            )
        key = self._by_hash.get(hash_key(token.strip()))
        if key is None:
            raise GatewayError(
                401, "invalid API key", type="authentication_error", code="invalid_api_key"
            )
        return Client(key)
