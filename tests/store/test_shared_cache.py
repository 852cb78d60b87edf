"""The response cache shared through the store (store/shared_cache.py), on loopback S3."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftgate.errors import StorageError
from driftgate.providers.base import Completion
from driftgate.providers.cache import ResponseCache
from driftgate.store.objects import ObjectStore
from driftgate.store.shared_cache import PREFIX, pull_cache, push_cache


def answer(text: str) -> Completion:
    return Completion(text=text, model="m", latency_ms=12.0, input_tokens=3, output_tokens=1)


def test_one_machines_answers_reach_another_once(s3_url: str, tmp_path: Path) -> None:
    store = ObjectStore.from_url(s3_url)
    a, b = tmp_path / "a" / "responses.sqlite", tmp_path / "b" / "responses.sqlite"
    with ResponseCache(a) as cache:
        cache.put("k1", answer("one"))
        cache.put("k2", answer("two"))
    assert push_cache(store, a) == 2
    assert push_cache(store, a) == 0  # nothing new since
    assert pull_cache(store, b) == 2
    assert pull_cache(store, b) == 0  # each part is merged once
    with ResponseCache(b) as cache:
        hit = cache.get("k1")
        assert hit is not None and hit.text == "one" and hit.cached
        cache.put("k3", answer("three"))
    # b pushes only what it made itself, never what it got from a.
    assert push_cache(store, b) == 1
    assert pull_cache(store, a) == 1
    with ResponseCache(a) as cache:
        assert len(cache) == 3
    assert len(store.list(PREFIX)) == 2


def test_a_damaged_part_is_named(s3_url: str, tmp_path: Path) -> None:
    store = ObjectStore.from_url(s3_url)
    store.put(f"{PREFIX}bad.jsonl.gz", b"not gzip")
    with pytest.raises(StorageError, match="bad.jsonl.gz is not a response-cache part"):
        pull_cache(store, tmp_path / "responses.sqlite")


def test_no_cache_file_pushes_nothing(s3_url: str, tmp_path: Path) -> None:
    assert push_cache(ObjectStore.from_url(s3_url), tmp_path / "none.sqlite") == 0


def test_a_second_machine_runs_the_suite_on_the_first_ones_answers(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import driftgate
    from conftest import write_workspace

    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRIFTGATE_STORE", s3_url)
    a = write_workspace(tmp_path / "a", n_cases=20)
    b = shutil.copytree(a, tmp_path / "b")
    first = driftgate.run(workspace=a, progress="off")
    assert not any(r.cached for r in first.results)
    second = driftgate.run(workspace=b, progress="off")
    assert second.id != first.id and all(r.cached for r in second.results)
    fresh = driftgate.run(workspace=b, progress="off", no_cache=True)  # --no-cache: asks again
    assert not any(r.cached for r in fresh.results)
