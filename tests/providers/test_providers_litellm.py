"""The litellm adapter against the sim server on loopback (slow: litellm imports in ~3 s)."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from driftgate.errors import MissingCredentialError
from driftgate.providers import create_provider
from driftgate.providers.base import (
    CaseHint,
    Completion,
    CompletionRequest,
    ModelConfig,
    ProviderError,
)
from driftgate.providers.retry import complete_with_retries
from driftgate.providers.sim_server import SimServer

pytestmark = pytest.mark.slow

LABELS = ["groceries", "rent", "transport"]
MSGS = [{"role": "user", "content": "TESCO STORES 2231"}]


def _req(i: int, timeout_s: float = 5.0) -> CompletionRequest:
    hint = CaseHint(id=f"c{i}", expected=LABELS[i % 3], labels=LABELS, output_type="label")
    return CompletionRequest(model="m", messages=MSGS, case=hint, timeout_s=timeout_s)


def _provider(url: str, model: str, **kw: object):  # noqa: ANN202
    from driftgate.providers.litellm_provider import LiteLLMProvider

    return LiteLLMProvider(ModelConfig(id=model, api_base=url, **kw))


def test_completion_through_litellm_with_sim_header() -> None:
    async def main() -> None:
        async with SimServer() as url:
            p = create_provider(
                ModelConfig(id="openai/sim/perfect@v1", api_base=url, client="litellm")
            )
            assert type(p).__name__ == "LiteLLMProvider"
            out = await p.complete(_req(1))
            assert isinstance(out, Completion)
            assert (out.text, out.fingerprint, out.finish_reason) == (
                "rent",
                "fp_perfect_v1",
                "stop",
            )
            assert out.input_tokens == 4 and out.output_tokens == 1 and out.latency_ms > 0
            acme = _provider(url, "openai/sim/acme@v1")
            priced = await acme.complete(_req(2))
            assert priced.cost_usd == pytest.approx(5 / 1000 * 0.002)  # the server's usage.cost
        async with SimServer(
            api_key="sk-sim"
        ) as url:  # the key from api_key_env reaches the server
            keyed = _provider(url, "openai/sim/perfect@v1", api_key_env="DG_LITELLM_SIM_KEY")
            assert (await keyed.complete(_req(0))).text == "groceries"
            # OPENAI_API_KEY is for OpenAI: a self-hosted api_base never receives it.
            os.environ["OPENAI_API_KEY"] = "sk-sim"
            with pytest.raises(ProviderError) as e:
                await _provider(url, "openai/sim/perfect@v1").complete(_req(0))
            assert e.value.kind == "auth"

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DG_LITELLM_SIM_KEY", "sk-sim")
        mp.setenv("OPENAI_API_KEY", "unset-by-the-test")  # restored afterwards
        asyncio.run(main())


def test_error_kinds_and_retries() -> None:
    async def main() -> None:
        async with SimServer(stall_s=0.5) as url:
            p = _provider(
                url, "openai/sim/perfect@v1?fail_attempts=1&fail_kind=rate_limit&retry_after_s=2"
            )
            with pytest.raises(ProviderError) as e:
                await p.complete(_req(0))
            assert (e.value.kind, e.value.status, e.value.retry_after) == ("rate_limit", 429, 2.0)
            assert e.value.message == "rate limit reached (simulated)"
            sleeps: list[float] = []

            async def fake_sleep(s: float) -> None:
                sleeps.append(s)

            p2 = _provider(url, "openai/sim/perfect@v1?fail_attempts=1&fail_kind=server")
            out, attempts = await complete_with_retries(
                p2, _req(2), max_retries=2, rng=random.Random(0), sleep=fake_sleep
            )
            assert (out.text, attempts, len(sleeps)) == ("transport", 2, 1)
            expected = {
                "bad_response": "openai/sim/perfect@v1?fail_attempts=1&fail_kind=bad_response",
                "timeout": "openai/sim/perfect@v1?fail_attempts=1&fail_kind=timeout",
                "bad_request": "openai/sim/nope@v1",
            }
            for kind, model in expected.items():
                with pytest.raises(ProviderError) as e:
                    await _provider(url, model).complete(_req(0, timeout_s=0.3))
                assert e.value.kind == kind, str(e.value)

    asyncio.run(main())


def test_missing_keys_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from driftgate.providers.litellm_provider import LiteLLMProvider

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingCredentialError, match="OPENAI_API_KEY"):
        LiteLLMProvider(ModelConfig(id="openai/gpt-4o-mini"))
    with pytest.raises(MissingCredentialError, match="ANTHROPIC_API_KEY"):
        create_provider(ModelConfig(id="anthropic/claude-3-5-haiku-latest"))
    with pytest.raises(MissingCredentialError, match="DG_LITELLM_KEY"):
        LiteLLMProvider(ModelConfig(id="openai/gpt-4o-mini", api_key_env="DG_LITELLM_KEY"))
    monkeypatch.setenv("DG_LITELLM_KEY", "sk-very-secret")
    p = LiteLLMProvider(ModelConfig(id="openai/gpt-4o-mini", api_key_env="DG_LITELLM_KEY"))
    assert "sk-very-secret" not in repr(p) and "sk-very-secret" not in repr(vars(p))


def test_litellm_import_is_quiet_and_cost_map_local() -> None:
    from driftgate.providers.litellm_provider import _litellm

    lit = _litellm()
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert lit.suppress_debug_info is True


def test_unknown_provider_prefix_is_bad_input_with_close_names() -> None:
    from driftgate.errors import UnknownNameError
    from driftgate.providers import ModelConfig, create_provider

    with pytest.raises(UnknownNameError) as err:
        create_provider(ModelConfig(id="opnai/gpt-4o-mini"))
    assert "did you mean 'openai'" in str(err.value)


def test_label_probs_from_logprobs_through_litellm() -> None:
    import json
    import math

    from aiohttp import web

    seen: list[dict] = []
    top = [("G", 0.7), ("rent", 0.2), ("I", 0.05)]

    async def handler(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        seen.append(body)
        choice: dict = {"index": 0, "message": {"role": "assistant", "content": "groceries"}}
        choice["finish_reason"] = "stop"
        if body.get("logprobs"):
            alts = [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in top]
            first = {"token": "G", "logprob": math.log(0.7), "bytes": None, "top_logprobs": alts}
            choice["logprobs"] = {"content": [first]}
        return web.json_response(
            {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
             "choices": [choice], "usage": {"prompt_tokens": 3, "completion_tokens": 1,
                                            "total_tokens": 4}}
        )  # fmt: skip

    async def main() -> list[Completion]:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        try:
            out = []
            for params in ({"logprobs": True}, {}):
                req = _req(0)
                req.labels = LABELS
                out.append(await _provider(url, "openai/gpt-4o-mini", params=params).complete(req))
            return out
        finally:
            await runner.cleanup()

    opted, default = asyncio.run(main())
    assert seen[0]["logprobs"] is True and seen[0]["top_logprobs"] == 5
    assert "logprobs" not in seen[1]
    assert opted.label_probs is not None and default.label_probs is None
    assert opted.label_probs["groceries"] == pytest.approx(0.7 / 0.95)
    assert opted.label_probs["transport"] == pytest.approx(0.05 / 0.95)
    assert opted.confidence == pytest.approx(0.7 / 0.95)
