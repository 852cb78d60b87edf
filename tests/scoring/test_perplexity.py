"""`perplexity` and `perplexity-score` from the answer's token logprobs, and the path the
logprobs take: providers read them, the cache keeps them, the simulator gives them when
asked, a run asks for them when a scorer needs them."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest

from driftgate.providers._labels import token_logprobs_of
from driftgate.providers.base import Completion, CompletionRequest, ModelConfig
from driftgate.providers.cache import ResponseCache, _decode, cache_key
from driftgate.providers.simulator import SimProvider, sim_token_logprobs
from driftgate.scoring.base import ScoreContext
from driftgate.scoring.build import build_scorer, scorer_names

LPS = [-0.5, -1.0, -1.5]  # mean -1: perplexity e
E = math.e


def score(options: dict, lps: list[float] | None, output: str | None = "a b c"):
    s = build_scorer(options)
    return s.evaluate_sync(ScoreContext(output=output, token_logprobs=lps))


def test_perplexity_is_exp_of_the_mean_negative_logprob():
    s = score({"type": "perplexity"}, LPS)
    assert s.passed and s.error is None and f"{E:.4g}" in s.reason  # no threshold: passes
    assert score({"type": "perplexity", "threshold": 2.8}, LPS).passed is True
    fail = score({"type": "perplexity", "threshold": 2.7}, LPS)
    assert fail.passed is False and "> 2.7" in fail.reason


def test_perplexity_score_is_one_over_one_plus_perplexity():
    s = score({"type": "perplexity-score"}, LPS)
    assert s.value == pytest.approx(1 / (1 + E)) and s.passed
    assert score({"type": "perplexity-score", "threshold": 0.26}, LPS).passed is True
    assert score({"type": "perplexity-score", "threshold": 0.27}, LPS).passed is False


@pytest.mark.parametrize("kind", ["perplexity", "perplexity-score", "not-perplexity"])
def test_no_logprobs_is_an_error_never_a_pass(kind):
    s = score({"type": kind, "threshold": 100}, None)
    assert s.passed is False and s.error is not None
    assert "returns no token log-probabilities" in s.error
    empty = score({"type": kind}, [], output="")
    assert empty.error is not None and "no tokens" in empty.error


def test_scorers_ask_for_logprobs_and_are_listed():
    assert build_scorer({"type": "perplexity"}).wants_logprobs
    assert build_scorer({"type": "not-perplexity-score"}).wants_logprobs
    assert not build_scorer({"type": "contains", "value": "x"}).wants_logprobs
    assert build_scorer({"type": "asserts", "logprobs": True}).wants_logprobs
    assert {"perplexity", "perplexity-score"} <= set(scorer_names())


def test_token_logprobs_are_read_from_a_chat_completion():
    wire = {"content": [{"token": "Hi", "logprob": -0.25, "top_logprobs": []},
                        {"token": "!", "logprob": -1.0}]}  # fmt: skip
    assert token_logprobs_of(wire) == [-0.25, -1.0]
    assert token_logprobs_of(None) is None
    assert token_logprobs_of({"content": []}) is None
    assert token_logprobs_of({"content": [{"token": "x", "logprob": "bad"}]}) is None


def test_the_cache_keeps_token_logprobs(tmp_path: Path):
    key = cache_key("m", None, [{"role": "user", "content": "hi"}])
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        cache.put(key, Completion(text="a b", token_logprobs=[-0.1, -0.2]))
        hit = cache.get(key)
        assert hit is not None and hit.cached and hit.token_logprobs == [-0.1, -0.2]
    # an entry written before the field (10 items) still decodes
    old = json.dumps(["rent", 1, 1, 0.0, 5.0, "m", "fp", "stop", None, None])
    assert _decode(old).token_logprobs is None and _decode(old).text == "rent"


def _sim(params: dict) -> Completion:
    provider = SimProvider(ModelConfig(id="sim/perfect@v1", params=params))
    request = CompletionRequest(model="sim/perfect@v1", messages=[{"role": "user", "content": "x"}])
    return asyncio.run(provider.complete(request))


def test_the_simulator_gives_token_logprobs_only_when_asked():
    assert _sim({}).token_logprobs is None
    got = _sim({"logprobs": True})
    assert got.token_logprobs == sim_token_logprobs(got.text, "sim/perfect@v1")
    assert len(got.token_logprobs) == len(got.text.split())
    assert all(-2.5 <= lp < -0.05 for lp in got.token_logprobs)
    assert _sim({"logprobs": True}).token_logprobs == got.token_logprobs  # deterministic
