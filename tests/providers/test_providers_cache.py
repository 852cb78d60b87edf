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
    return Completion(
        text=f"answer {i} ü",
        input_tokens=10 + i,
        output_tokens=2,
        cost_usd=0.001,
        latency_ms=51.5,
        model="gpt-x",
        fingerprint="fp_1",
        finish_reason="stop",
    )


def test_keys() -> None:
    base = cache_key("openai/gpt-x", None, MSGS, {"temperature": 0, "max_tokens": 5}, None, 0)
    assert base == cache_key(
        "openai/gpt-x", None, MSGS, {"max_tokens": 5, "temperature": 0}, None, 0
    )
    variants = {
        cache_key("openai/gpt-y", None, MSGS, {"temperature": 0, "max_tokens": 5}, None, 0),
        cache_key(
            "openai/gpt-x", "http://h/v1", MSGS, {"temperature": 0, "max_tokens": 5}, None, 0
        ),
        cache_key("openai/gpt-x", None, MSGS, {"temperature": 1, "max_tokens": 5}, None, 0),
        cache_key(
            "openai/gpt-x",
            None,
            MSGS,
            {"temperature": 0, "max_tokens": 5},
            {"type": "json_object"},
            0,
        ),
        cache_key("openai/gpt-x", None, MSGS, {"temperature": 0, "max_tokens": 5}, None, 1),
        cache_key(
            "openai/gpt-x",
            None,
            [{"role": "user", "content": "other"}],
            {"temperature": 0, "max_tokens": 5},
        ),
    }
    assert base not in variants and len(variants) == 6
    # The simulator's answer depends on the case, so its key does too; a real model's does not.
    a, b = CaseHint(id="1", expected="rent"), CaseHint(id="2", expected="food")
    assert cache_key("sim/acme@v1", None, MSGS, case=a) != cache_key(
        "sim/acme@v1", None, MSGS, case=b
    )
    assert cache_key("openai/sim/acme@v1", "u", MSGS, case=a) != cache_key(
        "openai/sim/acme@v1", "u", MSGS, case=b
    )
    assert cache_key("openai/gpt-x", None, MSGS, case=a) == cache_key(
        "openai/gpt-x", None, MSGS, case=b
    )


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
    keys = [
        cache_key("openai/gpt-x", None, [{"role": "user", "content": f"case {i}"}], {}, None, 0)
        for i in range(2000)
    ]
    with ResponseCache(tmp_path / "r.sqlite") as cache:
        cache.put_many((k, _completion(i)) for i, k in enumerate(keys))
    start = time.perf_counter()
    with ResponseCache(tmp_path / "r.sqlite") as cache:
        hits = [cache.get(k) for k in keys]
    assert all(h is not None and h.cached for h in hits)
    assert time.perf_counter() - start < 0.3


def test_key_format_is_stable() -> None:
    # Pinned: a changed key would silently turn every existing cache into misses.
    hint = CaseHint(id="c1", expected="b", segment="s", labels=["a", "b"], output_type="label")
    msgs = [
        {"role": "system", "content": "Answer with one of: a, b"},
        {"role": "user", "content": "MERCHANT 1 é"},
    ]
    key = cache_key(
        "openai/sim/perfect@v1",
        "http://127.0.0.1:9/v1",
        msgs,
        {"temperature": 0, "max_tokens": 8},
        None,
        0,
        case=hint,
    )
    assert key == "7fad3a9f11b7be2e91d8ad8295da7b0b57812b948bc252ce9487dc1d6e399f76"


def _reference_key(
    model, api_base, messages, params=None, response_format=None, repeat=0, *, case=None
) -> str:
    """The key as documented: sha256 of the canonical JSON of everything that decides an answer."""
    import hashlib
    import json

    material = [
        "driftgate-cache-v1",
        model,
        api_base,
        messages,
        params or {},
        response_format,
        repeat,
    ]
    if case is not None and (
        model.startswith("sim/") or model.partition("/")[2].startswith("sim/")
    ):
        material.append([case.id, case.expected, case.segment, case.labels, case.output_type])
    raw = json.dumps(
        material, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def test_key_builder_gives_the_documented_key() -> None:
    import random

    from driftgate.providers.cache import KeyBuilder

    rng = random.Random(7)
    alphabet = ["a", '"', "\\", "\n", "\t", "\x00", "\x1f", "é", "☃", "\u2028", "𝄞", " ", "/"]
    hints = [None, CaseHint(id="x", expected={"b": [1, 2.5], "a": "é"}, segment=None, labels=None)]
    for i in range(300):
        msgs: list = [
            {
                "role": rng.choice(["user", "system"]),
                "content": "".join(rng.choices(alphabet, k=rng.randint(0, 9))),
            }
            for _ in range(rng.randint(0, 3))
        ]
        if i % 7 == 0:
            msgs.append({"role": "user", "content": "x", "name": "n"})  # not the usual shape
        if i % 11 == 0:
            msgs.append({"content": 3, "role": "user"})
        model = rng.choice(["sim/acme@v1", "openai/sim/x@v2", "openai/gpt-x"])
        args = (
            model,
            rng.choice([None, "http://h/v1", Path("/p")]),
            {"z": 1, "a": [True, None]},
            rng.choice([None, {"type": "json_object"}]),
        )
        repeat = rng.choice([0, 3, True])
        case = rng.choice(hints)
        builder = KeyBuilder(*args[:2], args[2], args[3])
        assert builder(msgs, repeat, case=case) == _reference_key(
            args[0], args[1], msgs, args[2], args[3], repeat, case=case
        )


def test_get_many_is_get_for_many_keys(tmp_path: Path) -> None:
    from driftgate.providers import cache as cache_mod

    with ResponseCache(tmp_path / "r.sqlite", batch_size=1000) as cache:
        cache.put_many(
            (f"k{i}", _completion(i)) for i in range(1200)
        )  # more than one IN (...) query
        cache.put("pending", _completion(5000))  # not written yet: still found
        cache._db().execute("INSERT INTO responses VALUES ('broken', 'not json', 0)")
        keys = [f"k{i}" for i in range(0, 1200, 2)] + ["pending", "nope", "broken", "k0"]
        assert len(keys) > cache_mod._MAX_PARAMS
        found = cache.get_many(keys)
        assert set(found) == {*keys} - {"nope", "broken"}
        assert found["k10"] == cache.get("k10") and found["k10"].cached
        assert found["pending"].text == "answer 5000 ü"
        # Counted per key asked for, as `get` counts (the duplicate k0 twice), plus the get above.
        assert (cache.hits, cache.misses) == (len(keys) - 2 + 1, 2)
        assert cache.get_many([]) == {}


def test_label_probs_round_trip_and_old_entries_still_load(tmp_path: Path) -> None:
    import json
    import sqlite3

    probs = {"rent": 0.9, "dining": 0.099, "income": 0.001}
    path = tmp_path / "r.sqlite"
    with ResponseCache(path) as cache:
        cache.put("k1", Completion(text="rent", latency_ms=0.2, label_probs=probs))
        cache.put("k2", _completion())
    # An entry written before label_probs existed: eight items.
    old = json.dumps(["rent", 3, 1, 0.0, 12.5, "m", "fp", "stop"])
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO responses VALUES ('old', ?, 0)", (old,))
    with ResponseCache(path) as cache:
        hit = cache.get("k1")
        assert hit is not None and hit.cached and hit.label_probs == probs
        assert hit.confidence == 0.9
        assert cache.get("k2") == _completion_cached()
        legacy = cache.get_many(["old"])["old"]
        assert (legacy.text, legacy.input_tokens, legacy.finish_reason) == ("rent", 3, "stop")
        assert legacy.label_probs is None and legacy.confidence is None


def _completion_cached() -> Completion:
    c = _completion()
    c.cached = True
    return c


def test_the_label_set_is_part_of_the_key_and_no_label_set_keeps_the_old_key() -> None:
    from driftgate.providers.cache import KeyBuilder, cache_key

    messages = [{"role": "user", "content": "TESCO STORES 2231"}]
    plain = cache_key("local/knn", None, messages)
    assert cache_key("local/knn", None, messages, labels=None) == plain
    two = cache_key("local/knn", None, messages, labels=["groceries", "fuel"])
    three = cache_key("local/knn", None, messages, labels=["groceries", "fuel", "rent"])
    assert len({plain, two, three}) == 3
    assert KeyBuilder("local/knn", None, labels=["groceries", "fuel"])(messages) == two
