"""Tools through every provider: requests send them, completions keep the calls made, the
cache keys and stores them, replay files record them, and the simulator makes them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from driftgate.providers import create_provider
from driftgate.providers.base import (
    CaseHint,
    Completion,
    CompletionRequest,
    ModelConfig,
    ProviderError,
)
from driftgate.providers.cache import ResponseCache, _decode, cache_key
from driftgate.providers.sim_server import SimServer
from driftgate.providers.simulator import simulate

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
MSGS = [{"role": "user", "content": "Weather in Paris?"}]
PARIS = {"name": "get_weather", "arguments": {"city": "Paris"}}


def req(
    expected: Any = PARIS, tools: list[dict[str, Any]] | None = None, **kw: Any
) -> CompletionRequest:
    hint = CaseHint(id="w1", expected=expected)
    tools = [WEATHER] if tools is None else tools
    return CompletionRequest(model="m", messages=MSGS, case=hint, tools=tools or None, **kw)


# ---- the simulator ---------------------------------------------------------------------------


def test_the_simulator_calls_the_expected_tool_when_it_is_offered():
    out = simulate("sim/perfect@v1", CaseHint(id="w1", expected=PARIS), MSGS, tools=[WEATHER])
    assert isinstance(out, Completion) and out.text == "" and out.finish_reason == "tool_calls"
    assert out.tool_calls and out.tool_calls[0]["name"] == "get_weather"
    assert json.loads(out.tool_calls[0]["arguments"]) == {"city": "Paris"}
    # Not offered (or no tools at all): the expected value is a JSON answer, as before.
    for tools in (None, [{"type": "function", "function": {"name": "other"}}]):
        text = simulate("sim/perfect@v1", CaseHint(id="w1", expected=PARIS), MSGS, tools=tools)
        assert isinstance(text, Completion) and text.tool_calls is None and "Paris" in text.text
    bare = simulate(
        "sim/perfect@v1", CaseHint(id="w1", expected="get_weather"), MSGS, tools=[WEATHER]
    )
    assert (
        isinstance(bare, Completion) and bare.tool_calls and bare.tool_calls[0]["arguments"] == "{}"
    )


def test_a_wrong_simulated_call_has_a_perturbed_argument_and_a_broken_one_no_json():
    wrong = simulate(
        "sim/acme@v1?accuracy=0", CaseHint(id="w1", expected=PARIS), MSGS, tools=[WEATHER]
    )
    assert isinstance(wrong, Completion) and wrong.tool_calls
    args = json.loads(wrong.tool_calls[0]["arguments"])
    assert args.keys() == {"city"} and args["city"] != "Paris"
    broken = simulate(
        "sim/acme@v1?format_error_rate=1", CaseHint(id="w1", expected=PARIS), MSGS, tools=[WEATHER]
    )
    assert isinstance(broken, Completion) and broken.tool_calls
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.tool_calls[0]["arguments"])


# ---- over HTTP: the fast client and litellm --------------------------------------------------


async def _capturing(
    seen: list[dict[str, Any]], use: Callable[[str], Awaitable[Completion]]
) -> Completion:
    """An OpenAI-compatible server that records each body and answers with a tool call."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        seen.append(body)
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        }
        return web.json_response(
            {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
             "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
             "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}}
        )  # fmt: skip

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        return await use(f"http://127.0.0.1:{runner.addresses[0][1]}/v1")
    finally:
        await runner.cleanup()


CALLED = [{"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}]


def _sent_and_got(client: str) -> None:
    seen: list[dict[str, Any]] = []
    choice = {"type": "function", "function": {"name": "get_weather"}}

    async def use(url: str) -> Completion:
        p = create_provider(ModelConfig(id="openai/gpt-x", api_base=url, client=client))  # type: ignore[arg-type]
        try:
            return await p.complete(req(tool_choice=choice))
        finally:
            await p.aclose()

    out = asyncio.run(_capturing(seen, use))
    assert seen[0]["tools"] == [WEATHER] and seen[0]["tool_choice"] == choice
    assert (out.tool_calls, out.text, out.finish_reason) == (CALLED, "", "tool_calls")


def test_the_http_client_sends_tools_and_keeps_the_calls():
    _sent_and_got("http")


@pytest.mark.slow
def test_litellm_sends_tools_and_keeps_the_calls():
    _sent_and_got("litellm")


def test_a_sim_server_answers_with_tool_calls():
    async def main() -> Completion:
        async with SimServer() as url:
            p = create_provider(ModelConfig(id="sim/perfect@v1", api_base=url))
            try:
                return await p.complete(req())
            finally:
                await p.aclose()

    out = asyncio.run(main())
    assert out.tool_calls and out.tool_calls[0]["name"] == "get_weather"
    assert json.loads(out.tool_calls[0]["arguments"]) == {"city": "Paris"}


# ---- providers that cannot call tools ----------------------------------------------------------


def test_the_classifier_refuses_tools_unless_the_choice_is_none():
    p = create_provider(ModelConfig(id="local/knn"))
    with pytest.raises(ProviderError) as err:
        asyncio.run(p.complete(req()))
    assert err.value.kind == "bad_request" and "cannot call tools" in str(err.value)
    assert "get_weather" in str(err.value) and "tool_choice: none" in str(err.value)
    served = CompletionRequest(
        model="m",
        messages=[{"role": "user", "content": json.dumps([{"label": "rent", "score": 0.9}])}],
        tools=[WEATHER],
        tool_choice="none",
        labels=["rent"],
    )
    assert asyncio.run(p.complete(served)).text == "rent"


# ---- the response cache -------------------------------------------------------------------------


def test_tools_are_part_of_the_cache_key_and_calls_are_cached(tmp_path: Path):
    base = cache_key("m", None, MSGS)
    assert cache_key("m", None, MSGS, tools=None, tool_choice=None) == base  # keys kept
    with_tools = cache_key("m", None, MSGS, tools=[WEATHER])
    assert with_tools != base
    assert cache_key("m", None, MSGS, tools=[WEATHER], tool_choice="required") != with_tools
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        cache.put(with_tools, Completion(text="", tool_calls=CALLED, finish_reason="tool_calls"))
        hit = cache.get(with_tools)
        assert hit is not None and hit.cached and hit.tool_calls == CALLED
    # Entries written before tool calls were kept (9 items, or 8) still decode.
    old = json.dumps(["rent", 1, 1, 0.0, 5.0, "m", "fp", "stop", None])
    assert _decode(old).tool_calls is None and _decode(old).text == "rent"
    assert _decode(json.dumps(["rent", 1, 1, 0.0, 5.0, "m", "fp", "stop"])).label_probs is None


# ---- replay files --------------------------------------------------------------------------------


def _replay(tmp_path: Path, name: str, text: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    ws = tmp_path / "ws"
    (ws / "outputs").mkdir(parents=True, exist_ok=True)
    (ws / "driftgate.yaml").write_text("suite: evalsets/main.suite.yaml\n")
    (ws / "outputs" / name).write_text(text)
    monkeypatch.setenv("DRIFTGATE_WORKSPACE", str(ws))
    return create_provider(ModelConfig(id=f"replay/outputs/{name}"))


def test_replay_rows_carry_recorded_tool_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    wire = [{"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]  # fmt: skip
    rows = [{"case_id": "w1", "tool_calls": wire}, {"case_id": "w2", "output": "hello"}]
    p = _replay(tmp_path, "r.jsonl", "".join(json.dumps(r) + "\n" for r in rows), monkeypatch)
    out = asyncio.run(p.complete(req()))
    assert (out.text, out.tool_calls, out.finish_reason) == ("", CALLED, "tool_calls")
    csv_text = 'id,output,tool_calls\nw1,,"[{""name"": ""get_weather"", ""arguments"": {""city"": ""Paris""}}]"\n'
    p = _replay(tmp_path, "r.csv", csv_text, monkeypatch)
    out = asyncio.run(p.complete(req()))
    assert out.tool_calls == [
        {"id": "call_0", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]


def test_replay_rows_without_tool_calls_keep_their_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    rows = [{"case_id": "c1", "output": "rent", "model": "m", "latency_ms": 12},
            {"case_id": "c2", "output": "dining", "model": "m"}]  # fmt: skip
    p = _replay(tmp_path, "rec.jsonl", "".join(json.dumps(r) + "\n" for r in rows), monkeypatch)
    # The value the code before tool calls gave for this file: no drift on upgrade.
    assert p.index.fingerprints == {"m": "0d0dd6aad44d"}


def test_a_replay_row_with_bad_tool_calls_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from driftgate.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        _replay(
            tmp_path,
            "b.jsonl",
            json.dumps({"case_id": "w1", "tool_calls": "{nope"}) + "\n",
            monkeypatch,
        )
    assert "b.jsonl:1" in str(err.value) and "tool_calls is not JSON" in str(err.value)
