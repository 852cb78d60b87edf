"""The shared store: a bucket (and prefix) on object storage that several machines use.

A workspace's `store: s3://bucket/prefix` (or `gs://`, `az://`; `DRIFTGATE_STORE` overrides
it) makes that bucket the source of truth for runs, the registry and live route state; the
local folders stay a working copy. Object storage has no append and no lock, so:

- what grows (result and traffic segments, audit entries) is written as immutable objects,
  created with If-None-Match so two writers can never replace each other's;
- what changes (a run's manifest, aliases, route weights) is replaced with If-Match on the
  ETag it was read at: a compare-and-swap, refused with `ObjectChanged` if another writer
  got there first.

Access goes through obstore (Rust's `object_store`): measured against s3fs on a loopback S3
server it does small puts and gets faster (`obstore_vs_s3fs_small_ops`, docs/architecture.md), it
supports both conditional writes, and it retries 5xx, 429 and timeouts with backoff.
Credentials come only from the environment or the provider's usual chain (AWS_*,
GOOGLE_*, AZURE_*), never from workspace files.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, StorageError
from ..errors import ObjectChanged as ObjectChanged  # defined there, re-exported
from ..errors import ObjectExists as ObjectExists  # defined there, re-exported

STORE_ENV = "DRIFTGATE_STORE"
SCHEMES = ("s3", "gs", "az", "abfs", "abfss")


@dataclass(frozen=True)
class Blob:
    data: bytes
    etag: str | None


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None


def store_url(settings_url: str | None) -> str | None:
    """The shared store's URL: $DRIFTGATE_STORE, else the workspace's `store` setting; None
    (or `file://`) means the local folders alone, as without a shared store."""
    url = os.environ.get(STORE_ENV) or settings_url
    if not url or url.startswith("file://"):
        return None
    return url


class ObjectStore:
    """One bucket and prefix. Keys are relative to the prefix, '/'-separated."""

    def __init__(self, url: str, backend: Any) -> None:
        self.url = url
        self._backend = backend

    @classmethod
    def from_url(cls, url: str, *, field: str = "store", **options: Any) -> ObjectStore:
        """`options` go to obstore's `from_url` (e.g. `retry_config`)."""
        scheme = url.partition("://")[0].lower()
        if scheme not in SCHEMES or "://" not in url or not url.partition("://")[2].strip("/"):
            raise ConfigError(
                f"{field}: {url!r} is not a store URL",
                field=field,
                hint="s3://bucket/prefix, gs://bucket/prefix, az://container/prefix "
                "(or leave it unset for the local folders)",
            )
        try:
            from obstore.store import from_url
        except ImportError:  # pragma: no cover - obstore is a dependency
            raise ConfigError(
                f"{field}: {url} needs the obstore package",
                field=field,
                hint="pip install obstore",
            ) from None
        try:
            backend = from_url(url, **options)
        except Exception as exc:  # obstore raises its own tree; name the setting
            raise ConfigError(
                f"{field}: cannot open {url}: {exc}",
                field=field,
                hint="check the URL and the provider's credentials in the environment",
            ) from None
        return cls(url.rstrip("/"), backend)

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def where(self, key: str) -> str:
        return f"{self.url}/{key}"

    # ---- reads ----------------------------------------------------------------------
    def get(self, key: str) -> Blob | None:
        """The object and its ETag, or None when there is none."""
        import obstore

        try:
            result = obstore.get(self._backend, key)
            data = bytes(result.bytes())
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._failed("read", key, exc) from None
        return Blob(data, result.meta.get("e_tag"))

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object under `prefix` (a folder: 'runs/' lists what is below it)."""
        return list(self.iter(prefix))

    def iter(self, prefix: str = "") -> Iterator[ObjectInfo]:
        import obstore

        try:
            for batch in obstore.list(self._backend, prefix=prefix.rstrip("/") or None):
                for meta in batch:
                    yield ObjectInfo(meta["path"], meta["size"], meta.get("e_tag"))
        except FileNotFoundError:
            return
        except Exception as exc:
            raise self._failed("list", prefix, exc) from None

    # ---- writes ---------------------------------------------------------------------
    def put(
        self, key: str, data: bytes, *, create: bool = False, if_match: str | None = None
    ) -> str:
        """Write `key`; its new ETag. `create`: only if absent (else ObjectExists);
        `if_match`: only if still at that ETag (else ObjectChanged)."""
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        mode: Any = "overwrite"
        if create:
            mode = "create"
        elif if_match is not None:
            mode = {"e_tag": if_match}
        try:
            result = obstore.put(self._backend, key, data, mode=mode, use_multipart=False)
        except AlreadyExistsError:
            raise ObjectExists(f"{self.where(key)} exists", path=self.where(key)) from None
        except PreconditionError:
            if create:
                raise ObjectExists(f"{self.where(key)} exists", path=self.where(key)) from None
            raise ObjectChanged(
                f"{self.where(key)} changed since it was read", path=self.where(key)
            ) from None
        except Exception as exc:
            raise self._failed("write", key, exc) from None
        return str(result.get("e_tag") or "")

    def delete(self, key: str) -> None:
        import obstore

        try:
            obstore.delete(self._backend, key)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise self._failed("delete", key, exc) from None

    def _failed(self, what: str, key: str, exc: Exception) -> StorageError:
        # obstore has already retried (5xx, 429, timeouts) by the time this is raised.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StorageError(
            f"cannot {what} {self.where(key)}: {first}",
            path=self.where(key),
            hint="check the store's URL, network and credentials (AWS_*, GOOGLE_*, AZURE_*); "
            "what was stored stays",
        )


# One client per store in a process (every reader asks for it: the traffic log on each
# read, the registry on each move); the endpoint is part of the key, since tests point one
# URL at different servers.
_OPENED: dict[tuple[str, str], ObjectStore] = {}
_OPENED_LOCK = threading.Lock()


def open_store(settings_url: str | None) -> ObjectStore | None:
    """The workspace's shared store, or None when it has none."""
    url = store_url(settings_url)
    if url is None:
        return None
    key = (url, os.environ.get("AWS_ENDPOINT_URL", ""))
    with _OPENED_LOCK:
        store = _OPENED.get(key)
        if store is None:
            store = _OPENED[key] = ObjectStore.from_url(url)
        return store
