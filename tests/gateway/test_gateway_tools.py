"""Tools through the gateway, driven by the OpenAI SDK: a passed-through model gets the
client's `tools` and `tool_choice` and the conversation's tool calls and results, and its
calls come back as OpenAI's `message.tool_calls` (streamed too); bad tools are a 400."""

# ruff: noqa: F811 - pytest fixtures imported from gwkit are parameters by the same name
from __future__ import annotations

import json
from pathlib import Path

import openai
from gwkit import client, gw_root  # noqa: F401 - fixtures
from starlette.testclient import TestClient

from driftgate.providers import register_provider
from driftgate.providers.base import Completion, CompletionRequest, Provider

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}  # fmt: skip


class ToolBot(Provider):
    """Calls the first offered tool with the last user message as `city`; once a tool
    result is in the conversation, answers with it. Keeps what it was sent."""

    seen: list[CompletionRequest] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        type(self).seen.append(request)
        last = request.messages[-1]
        if last["role"] == "tool" or not request.tools or request.tool_choice == "none":
            return Completion(text=f"it is {last['content']}", finish_reason="stop")
        name = request.tools[0]["function"]["name"]
        args = json.dumps({"city": last["content"]})
        return Completion(text="", tool_calls=[{"id": "call_1", "name": name, "arguments": args}],
                          finish_reason="tool_calls")  # fmt: skip


register_provider("toolbot", ToolBot)


def _sdk(http: TestClient) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=http)


def test_tools_pass_through_and_calls_come_back(gw_root: Path, client: TestClient) -> None:
    oa = _sdk(client)
    first = oa.chat.completions.create(
        model="toolbot/x", messages=[{"role": "user", "content": "Oslo"}], tools=[WEATHER],
        tool_choice="auto",
    )  # fmt: skip
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {
        "city": "Oslo"
    }
    sent = ToolBot.seen[-1]
    assert sent.tools == [WEATHER] and sent.tool_choice == "auto"
    # The conversation goes on with the call and its result; the model sees both.
    second = oa.chat.completions.create(
        model="toolbot/x", tools=[WEATHER],
        messages=[
            {"role": "user", "content": "Oslo"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "4°C, rain"},
        ],
    )  # fmt: skip
    assert second.choices[0].message.content == "it is 4°C, rain"
    history = ToolBot.seen[-1].messages
    assert history[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert history[2] == {"role": "tool", "content": "4°C, rain", "tool_call_id": "call_1"}


def test_streamed_tool_calls(gw_root: Path, client: TestClient) -> None:
    stream = _sdk(client).chat.completions.create(
        model="toolbot/x", messages=[{"role": "user", "content": "Rome"}], tools=[WEATHER],
        stream=True,
    )  # fmt: skip
    chunks = list(stream)
    calls = [c for ch in chunks for c in (ch.choices[0].delta.tool_calls or [])]
    assert [(c.index, c.function.name) for c in calls] == [(0, "get_weather")]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_bad_tools_and_histories_are_400(gw_root: Path, client: TestClient) -> None:
    def post(**body: object) -> tuple[int, str]:
        r = client.post("/v1/chat/completions", json={"model": "toolbot/x", **body})
        return r.status_code, r.json()["error"]["message"]

    user = [{"role": "user", "content": "Oslo"}]
    code, message = post(messages=user, tools=[{"type": "function", "function": {}}])
    assert code == 400 and "tools" in message and "name" in message
    code, message = post(messages=user, tools=[WEATHER], tool_choice="sometimes")
    assert code == 400 and "tool_choice" in message
    code, message = post(messages=[*user, {"role": "tool", "content": "x", "bogus": 1}])
    assert code == 400 and "messages[1]" in message and "bogus" in message


WEATHER_PROMPT = """\
name: weather
version: v1
messages:
  - {role: user, content: "{{ city }}"}
tools:
  - type: function
    function:
      name: get_weather
      description: Weather in a city
      parameters: {type: object, properties: {city: {type: string}}, required: [city]}
tool_choice: auto
"""


def test_a_route_sends_its_prompts_tools_and_returns_the_calls(gw_root: Path) -> None:
    """A route's prompt version carries its tools (part of its identity): the arm's model
    gets them, and its calls come back as OpenAI's and are logged as the parsed answer."""
    from driftgate.gateway import create_app
    from driftgate.router.log import read_decisions
    from driftgate.workspace import Workspace

    (gw_root / "prompts" / "weather.yaml").write_text(WEATHER_PROMPT)
    (gw_root / "routes" / "weather.yaml").write_text(
        "arms:\n  - {name: main, prompt: weather@v1, model: toolbot/x, weight: 100}\n"
    )
    with TestClient(create_app(gw_root)) as http:
        reply = _sdk(http).chat.completions.create(
            model="route/weather", messages=[{"role": "user", "content": "Oslo"}]
        )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    sent = ToolBot.seen[-1]
    assert sent.tools == [WEATHER] and sent.tool_choice == "auto"
    (decision,) = read_decisions(Workspace(gw_root), "weather")
    assert decision.parsed == {"tool_calls": [{"id": "call_1", "name": "get_weather",
                                               "arguments": '{"city": "Oslo"}'}]}  # fmt: skip
    assert decision.parse_error is None
