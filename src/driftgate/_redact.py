"""Secrets masked out of configuration, and known secrets out of everything stored.

Configuration: model configs and settings shown in a report, or copied into a comparison,
never carry values whose key names a secret (`redact`, `redact_manifest`).

Known secrets: the values of the keys driftgate sends (each API key it reads is remembered
as it is read: `remember_secret`, called by `providers.http.Secret`) and of the environment
variables whose names name a secret (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `HF_TOKEN`…,
which litellm reads itself) are masked wherever they appear in a text, with any
`Bearer …`/`sk-…` token (`redact_text`). The provider boundary applies it once, to every
answer and error before anything stores it (`providers/retry.py`): a provider that echoes
the Authorization header in a 401 body must not put the key into stored rows and reports.
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
# The same tokens anywhere in a text (an error message quoting a header).
_SECRET_TOKEN = re.compile(
    r"(?P<bearer>\bBearer\s+)[A-Za-z0-9._~+/=\-]{8,}|\bsk-[A-Za-z0-9_\-]{8,}", re.IGNORECASE
)
# Shorter values are not masked: "1", "true" or a region name in an environment variable
# would turn every text that contains them into asterisks.
MIN_SECRET_CHARS = 8
_KNOWN: set[str] = set()


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


def remember_secret(value: str | None) -> None:
    """Mask `value` from now on wherever `redact_text` / `redact_known` runs (this process)."""
    if value and len(value) >= MIN_SECRET_CHARS:
        _KNOWN.add(str(value))


def env_secrets() -> set[str]:
    """Values of the environment variables whose names name a secret (`*_API_KEY`,
    `*_TOKEN`, `*_SECRET`…): what driftgate and litellm read as credentials."""
    import os

    return {v for k, v in os.environ.items() if len(v) >= MIN_SECRET_CHARS and _is_secret_key(k)}


def redact_known(text: str) -> str:
    """`text` with the remembered secrets masked: cheap enough for every answer (a few
    substring tests when no secret is in it)."""
    if not _KNOWN or not text:
        return text
    for secret in sorted((s for s in _KNOWN if s in text), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact_text(text: str) -> str:
    """`text` with every known secret masked: remembered keys, secret-named environment
    variables' values, and `Bearer …` / `sk-…` tokens anywhere in it."""
    if not text:
        return text
    found = [s for s in _KNOWN | env_secrets() if s in text]
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _SECRET_TOKEN.sub(lambda m: (m.group("bearer") or "") + REDACTED, text)
