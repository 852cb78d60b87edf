"""The response cache: keys, hits and misses, batching, several writer processes, speed."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from driftgate.errors import ConfigError
from driftgate.providers.base import CaseHint, Completion
from driftgate.providers.cache import ResponseCache, cache_key

MSGS = [{"role": "user", "content": "TESCO STORES 2231"}]


def _completion(i: int = 0) -> Completion:
    return Completion(text=f"answer {i} ü", input_tokens=10 + i, output_tokens=2, cost_usd=0.001,
                      latency_ms=51.5, model="gpt-x", fingerprint="fp_1", finish_reason="stop")


def test_keys() -> None:
    base = cache_key("openai/gpt-x", None, MSGS, {"temperature": 0, "max_tokens": 5}, None, 0)
    assert base == cache_key("openai/gpt-x", None, MSGS, {"max_tokens": 5, "temperature": 0}, None, 0)
    variants = {
        cache_key("openai/gpt-y", None, MSGS, {"temperature": 0, "max_tokens": 5}, None, 0),
        cache_key("openai/gpt-x", "http://h/v1", MSGS, {"temperature": 0, "max_tokens": 5}, None, 0),
        cache_key("openai/gpt-x", None, MSGS, {"temperature": 1, "max_tokens": 5}, None, 0),
        cache_key("openai/gpt-x", None, MSGS, {"temperature": 0, "max_tokens": 5}, {"type": "json_object"}, 0),
        cache_key("openai/gpt-x", None, MSGS, {"temperature": 0, "max_tokens": 5}, None, 1),
        cache_key("openai/gpt-x", None, [{"role": "user", "content": "other"}], {"temperature": 0, "max_tokens": 5}),
    }
    assert base not in variants and len(variants) == 6
    # The simulator's answer depends on the case, so its key does too; a real model's does not.
    a, b = CaseHint(id="1", expected="rent"), CaseHint(id="2", expected="food")
    assert cache_key("sim/acme@v1", None, MSGS, case=a) != cache_key("sim/acme@v1", None, MSGS, case=b)
    assert cache_key("openai/sim/acme@v1", "u", MSGS, case=a) != cache_key("openai/sim/acme@v1", "u", MSGS, case=b)
    assert cache_key("openai/gpt-x", None, MSGS, case=a) == cache_key("openai/gpt-x", None, MSGS, case=b)


def test_miss_hit_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "c" / "responses.sqlite"
    with ResponseCache(path, batch_size=100) as cache:
        assert cache.get("k") is None
        cache.put("k", _completion(1))
        hit = cache.get("k")  # visible before the batch is written
        assert hit is not None and hit.cached and hit.text == "answer 1 ü"
        assert (cache.hits, cache.misses) == (1, 1)
        with pytest.raises(TypeError):
            cache.put("e", RuntimeError("boom"))  # type: ignore[arg-type]
    again = ResponseCache(path)
    got = again.get("k")
    expected = _completion(1)
    expected.cached = True
    assert got == expected
    assert len(again) == 1
    again.close()
    again.close()  # idempotent


def test_corrupt_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError) as e:
        ResponseCache(path)
    assert str(path) in str(e.value) and "--no-cache" in str(e.value)


def _writer(path: str, prefix: str, n: int) -> None:
    cache = ResponseCache(path, batch_size=7)
    for i in range(n):
        cache.put(f"{prefix}{i}", _completion(i))
    cache.close()


def test_two_processes_write_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    ResponseCache(path).close()  # create the schema first, as a run does
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, p, 300)) for p in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    with ResponseCache(path) as cache:
        assert len(cache) == 600
        assert cache.get("a299").text == "answer 299 ü" and cache.get("b0").input_tokens == 10


def test_fully_cached_rerun_is_fast(tmp_path: Path) -> None:
    keys = [cache_key("openai/gpt-x", None, [{"role": "user", "content": f"case {i}"}], {}, None, 0)
            for i in range(2000)]
    with ResponseCache(tmp_path / "r.sqlite") as cache:
        cache.put_many((k, _completion(i)) for i, k in enumerate(keys))
    start = time.perf_counter()
    with ResponseCache(tmp_path / "r.sqlite") as cache:
        hits = [cache.get(k) for k in keys]
    assert all(h is not None and h.cached for h in hits)
    assert time.perf_counter() - start < 0.3
