"""OpenAI's Chat Completions wire format: the request as the gateway reads it, the answer,
the streamed chunks and the error body.

What a request may carry besides OpenAI's fields: `vars` (a JSON object), the variables a
route's or prompt's template renders; when it is absent, `metadata` (OpenAI's string map)
is taken as the variables. Sampling fields (`temperature`, `max_tokens`…), `tools` and
`tool_choice` are passed on to a model called directly; a route or prompt keeps its own
params and tools (they are part of its version identity). A conversation may hold the
assistant's `tool_calls` and `tool` results (checked as a golden set's are:
`_tools.history_message`); an answer that calls tools carries them as OpenAI does
(`message.tool_calls`, `finish_reason: "tool_calls"`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .._tools import Tool, ToolChoice, choice_payload, history_message, openai_calls, tools_payload
from ..errors import GatewayError
from .settings import GatewaySettings

_TOOLS = TypeAdapter(list[Tool])
_CHOICE = TypeAdapter(ToolChoice)

# OpenAI request fields passed on to a model called directly (pass-through).
SAMPLING_FIELDS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "n",
)


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    user: str | None = None
    vars: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None

    def last_user_text(self) -> str | None:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), None)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def parse_chat(body: bytes, settings: GatewaySettings) -> ChatRequest:
    """The request in `body`, checked against OpenAI's shape and the gateway's limits."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("the request body is not JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise bad_request("the request body must be a JSON object", code="invalid_json")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("`model` is required (a string)", param="model")
    raw = data.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad_request("`messages` must be a non-empty list", param="messages")
    if len(raw) > settings.max_messages:
        raise GatewayError(
            413,
            f"{len(raw)} messages; at most {settings.max_messages} are accepted",
            param="messages",
            code="too_many_messages",
        )
    messages = [_message(m, i, settings) for i, m in enumerate(raw)]
    vars_ = data.get("vars")
    if vars_ is None and isinstance(data.get("metadata"), dict) and data["metadata"]:
        vars_ = data["metadata"]
    if vars_ is not None and not isinstance(vars_, dict):
        raise bad_request("`vars` must be a JSON object of template variables", param="vars")
    user = data.get("user")
    if user is not None and not isinstance(user, str):
        raise bad_request("`user` must be a string", param="user")
    params = {k: data[k] for k in SAMPLING_FIELDS if data.get(k) is not None}
    if params.get("n", 1) != 1:
        raise bad_request("only n=1 is served", param="n")
    params.pop("n", None)
    tools, choice = _tools(data)
    return ChatRequest(
        model, messages, bool(data.get("stream")), user, vars_, params, tools, choice
    )


def _tools(data: dict[str, Any]) -> tuple[list[dict[str, Any]] | None, Any]:
    """The request's `tools` and `tool_choice`, checked against OpenAI's shapes."""
    tools = _checked(_TOOLS, data, "tools")
    choice = _checked(_CHOICE, data, "tool_choice")
    return tools_payload(tools), choice_payload(choice)


def _checked(adapter: TypeAdapter[Any], data: dict[str, Any], param: str) -> Any:
    if data.get(param) is None:
        return None
    try:
        return adapter.validate_python(data[param])
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise bad_request(f"`{param}`: {where}: {err['msg']}", param=param) from None


def _message(m: Any, i: int, settings: GatewaySettings) -> dict[str, Any]:
    if not isinstance(m, dict) or not isinstance(m.get("role"), str):
        raise bad_request(f"messages[{i}] must be an object with a `role`", param="messages")
    content = m.get("content")
    if isinstance(content, list):  # content parts: only text is served
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if len(texts) != len(content) or not all(isinstance(t, str) for t in texts):
            raise bad_request(
                f"messages[{i}]: only text content parts are served", param="messages"
            )
        content = "".join(texts)  # type: ignore[arg-type]
    if isinstance(content, str) and len(content) > settings.max_message_chars:
        raise GatewayError(
            413,
            f"messages[{i}] has {len(content)} characters; at most "
            f"{settings.max_message_chars} are accepted",
            param="messages",
            code="message_too_long",
        )
    if m["role"] == "tool" or m.get("tool_calls"):
        try:  # a conversation's tool calls and results, as a golden set's are checked
            return history_message({**m, "content": content}, f"messages[{i}]")
        except ValueError as exc:
            raise bad_request(str(exc), param="messages") from None
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise bad_request(f"messages[{i}].content must be a string", param="messages")
    return {"role": m["role"], "content": content}


def _assistant(text: str, tool_calls: list[dict[str, str]] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["content"] = text or None  # OpenAI's shape: null beside tool calls
        message["tool_calls"] = openai_calls(tool_calls)
    return message


def completion_body(
    request_id: str,
    model: str,
    text: str,
    *,
    finish_reason: str = "stop",
    usage: dict[str, int] | None = None,
    tool_calls: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A `chat.completion` object. Its `id` is the request id `POST /v1/feedback` takes."""
    body: dict[str, Any] = {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": _assistant(text, tool_calls),
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def stream_events(
    request_id: str,
    model: str,
    text: str,
    *,
    finish_reason: str = "stop",
    tool_calls: list[dict[str, str]] | None = None,
) -> list[bytes]:
    """The server-sent events of a streamed answer: the whole answer in one content chunk
    (no provider driftgate calls streams tokens, so the answer is complete before the first
    byte), then the finish chunk, then `[DONE]`."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        body = {
            "id": request_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    first = _assistant(text, tool_calls)
    if tool_calls:  # streamed tool calls carry their position
        first["tool_calls"] = [{"index": i, **c} for i, c in enumerate(first["tool_calls"])]
    return [
        chunk(first, None),
        chunk({}, finish_reason),
        b"data: [DONE]\n\n",
    ]


def error_body(exc: GatewayError) -> dict[str, Any]:
    return {
        "error": {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}
    }
