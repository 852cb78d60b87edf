"""store/objects.py against a real S3-compatible server on loopback (moto)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from driftgate.errors import ConfigError, StorageError
from driftgate.store.objects import ObjectChanged, ObjectExists, ObjectStore, store_url


def test_create_only_and_compare_and_swap(s3_url: str) -> None:
    store = ObjectStore.from_url(s3_url)
    assert store.get("state.json") is None
    first = store.put("state.json", b"1", create=True)
    with pytest.raises(ObjectExists, match="state.json exists"):
        store.put("state.json", b"2", create=True)
    second = store.put("state.json", b"3", if_match=first)
    with pytest.raises(ObjectChanged, match="changed since it was read"):
        store.put("state.json", b"4", if_match=first)  # a writer that read before the move
    blob = store.get("state.json")
    assert blob is not None and blob.data == b"3" and blob.etag == second


def test_list_and_delete_under_a_prefix(s3_url: str) -> None:
    store = ObjectStore.from_url(s3_url)
    for key in ("runs/a/manifest.json", "runs/a/results/p1.jsonl", "runs/b/manifest.json", "x"):
        store.put(key, b"{}")
    assert sorted(o.key for o in store.list("runs/a/")) == [
        "runs/a/manifest.json",
        "runs/a/results/p1.jsonl",
    ]
    assert len(store.list("runs")) == 3 and store.list("nothing/") == []
    store.delete("x")
    store.delete("x")  # already gone: nothing to do
    assert store.get("x") is None


@pytest.mark.parametrize("url", ["bucket/prefix", "ftp://h/p", "s3://", "s3:///"])
def test_a_bad_url_names_the_setting(url: str) -> None:
    with pytest.raises(ConfigError, match="store"):
        ObjectStore.from_url(url)


def test_file_urls_and_unset_mean_the_local_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRIFTGATE_STORE", raising=False)
    assert store_url(None) is None and store_url("file:///srv/x") is None
    assert store_url("s3://b/p") == "s3://b/p"
    monkeypatch.setenv("DRIFTGATE_STORE", "s3://other/q")
    assert store_url("s3://b/p") == "s3://other/q"


def test_an_unreachable_server_is_a_storage_error_naming_the_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    quick = {"max_retries": 0, "retry_timeout": timedelta(seconds=1)}
    store = ObjectStore.from_url("s3://b/p", retry_config=quick)
    with pytest.raises(StorageError, match="s3://b/p/k"):
        store.put("k", b"x")
