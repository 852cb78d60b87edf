"""Secrets masked out of configuration before it is shown or kept with a comparison.

Outputs are kept verbatim; what is scrubbed is configuration: model configs and settings
shown in a report, or copied into a comparison, never carry values whose key names a secret.
This sits at the bottom of the package (no driftgate imports at run time) because both
`compare` (the manifests a Comparison keeps) and `report` need it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store.records import RunManifest

REDACTED = "***"

# Key parts that name a secret. `max_tokens` (part "tokens") and `api_key_env` (the *name*
# of an environment variable) are deliberately not matched.
# A bare "key" is often a field name (a JSON scorer's `key: category`), so it counts only
# next to a word that makes it a credential (api_key, access_key, x-api-key…).
_SECRET_PARTS = {
    "apikey",
    "secret",
    "token",
    "password",
    "passwd",
    "authorization",
    "auth",
    "credential",
    "credentials",
    "bearer",
    "cookie",
}
_KEY_QUALIFIERS = {"api", "access", "secret", "private", "subscription", "client", "master", "auth"}
_SAFE_SUFFIXES = ("_env", "_env_var")
_SECRET_VALUE = re.compile(r"^\s*(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+\S+)", re.IGNORECASE)


def _is_secret_key(key: str) -> bool:
    k = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()  # apiKey -> api_key
    if k.endswith(_SAFE_SUFFIXES):
        return False
    parts = set(re.split(r"[_\-. ]+", k))
    return bool(parts & _SECRET_PARTS) or ("key" in parts and bool(parts & _KEY_QUALIFIERS))


def redact(value: Any) -> Any:
    """A copy of `value` with secrets masked: values under secret-like keys (api_key,
    token, secret, password, Authorization…) and strings that look like `sk-…`/`Bearer …`."""
    if isinstance(value, dict):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and _is_secret_key(k) and v not in (None, "")
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.match(value):
        return REDACTED
    return value


def redact_manifest(manifest: RunManifest) -> RunManifest:
    """The manifest with its model configs, scorer options and settings redacted."""
    return manifest.model_copy(
        update={
            "models": redact(manifest.models),
            "scorers": redact(manifest.scorers),
            "settings": redact(manifest.settings),
        }
    )
