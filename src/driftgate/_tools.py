"""Tool calling in OpenAI's shapes: tool definitions, chat histories that hold tool calls, the
calls a model makes, and the calls a case expects.

Kept in one base module because prompts and cases declare tools (layer 1), providers send
them and read calls back, and scorers compare calls (layer 2): each reads the same shapes.

* A tool: `{type: function, function: {name, description?, parameters?, strict?}}`, where
  `parameters` is a JSON schema of type object (checked against the JSON-schema meta-schema).
* A tool call, as stored and scored: `{id, name, arguments}`, `arguments` the JSON text the
  model wrote (as OpenAI returns it: it may not parse, which scorers then report).
* An expected call (a case's `expected`, or a scorer's options): `{name, arguments?}`, a list
  of them, `{tool_calls: [...]}`, or a bare tool name.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator

from ._strict import Strict

_NAME = r"^[A-Za-z0-9_-]{1,64}$"  # OpenAI's rule for function names


class FunctionDef(Strict):
    name: str = Field(pattern=_NAME, description="The function's name (letters, digits, _ -).")
    description: str | None = None
    parameters: dict[str, Any] | None = Field(
        None, description="A JSON schema of type object: the function's arguments."
    )
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _a_schema_of_an_object(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        if v.get("type") != "object":
            raise ValueError("parameters must be a JSON schema with `type: object`")
        import jsonschema  # lazy: only prompts and cases that declare tools pay for it

        try:
            jsonschema.Draft202012Validator.check_schema(v)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
            raise ValueError(
                f"parameters is not a valid JSON schema at {where}: {exc.message}"
            ) from None
        return v


class Tool(Strict):
    """One OpenAI function tool."""

    type: Literal["function"] = "function"
    function: FunctionDef

    @property
    def name(self) -> str:
        return self.function.name


class _ChoiceFunction(Strict):
    name: str = Field(pattern=_NAME)


class NamedChoice(Strict):
    """`tool_choice: {type: function, function: {name: X}}`: the model must call X."""

    type: Literal["function"] = "function"
    function: _ChoiceFunction


ToolChoice = Literal["auto", "none", "required"] | NamedChoice


def merge_tools(base: list[Tool] | None, extra: list[Tool] | None) -> list[Tool] | None:
    """`base` with `extra` added; a tool of `extra` replaces the one of `base` of its name."""
    if not extra:
        return base
    if not base:
        return extra
    names = {t.name for t in extra}
    return [t for t in base if t.name not in names] + extra


def tools_payload(tools: list[Tool] | None) -> list[dict[str, Any]] | None:
    """The `tools=` list a request sends (unset fields left out, as OpenAI documents them)."""
    return None if not tools else [t.model_dump(exclude_none=True) for t in tools]


def choice_payload(choice: ToolChoice | None) -> str | dict[str, Any] | None:
    return choice.model_dump() if isinstance(choice, NamedChoice) else choice


def check_unique(tools: list[Tool] | None) -> list[Tool] | None:
    """Two tools of one name would leave the model (and the scorers) guessing."""
    seen: set[str] = set()
    for t in tools or ():
        if t.name in seen:
            raise ValueError(f"two tools are named {t.name!r}")
        seen.add(t.name)
    return tools


# ---- chat histories ------------------------------------------------------------------------

_ROLES = ("system", "user", "assistant", "tool")


def history_message(m: Any, where: str) -> dict[str, Any]:
    """One message of a chat history, checked and copied: `{role, content}` with role system,
    user or assistant; an assistant's `tool_calls` (content may then be null); a `tool`
    message's `tool_call_id`; an optional `name`. Any other key is refused, not dropped."""
    if not isinstance(m, dict) or m.get("role") not in _ROLES:
        raise ValueError(
            f"{where} must be a chat message with role system, user, assistant or tool, "
            f"not {str(m)[:60]}"
        )
    role = m["role"]
    allowed = {"role", "content", "name"}
    allowed |= {"tool_calls"} if role == "assistant" else set()
    allowed |= {"tool_call_id"} if role == "tool" else set()
    extra = sorted(set(m) - allowed)
    if extra:
        raise ValueError(f"{where}: key {extra[0]!r} is not allowed in a {role} message")
    content = m.get("content")
    calls = m.get("tool_calls")
    if not (isinstance(content, str) or (content is None and calls)):
        raise ValueError(f"{where}: content must be text (null only beside tool_calls)")
    out: dict[str, Any] = {"role": role, "content": content}
    if "name" in m:
        out["name"] = str(m["name"])
    if calls is not None:
        out["tool_calls"] = [
            _history_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(calls or [])
        ]
    if role == "tool":
        if not isinstance(m.get("tool_call_id"), str):
            raise ValueError(f"{where}: a tool message needs the `tool_call_id` it answers")
        out["tool_call_id"] = m["tool_call_id"]
    return out


def _history_call(c: Any, where: str) -> dict[str, Any]:
    """An assistant's earlier tool call in OpenAI's request shape (arguments as JSON text)."""
    fn = c.get("function") if isinstance(c, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or "id" not in c:
        raise ValueError(f"{where} must be {{id, type: function, function: {{name, arguments}}}}")
    args = fn.get("arguments", "{}")
    text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    return {
        "id": str(c["id"]),
        "type": "function",
        "function": {"name": fn["name"], "arguments": text},
    }


# ---- the calls a model made --------------------------------------------------------------------


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def normalize_calls(raw: Any) -> list[dict[str, str]] | None:
    """A response's tool calls (OpenAI's `message.tool_calls`, as objects or dicts, or the
    stored `{id, name, arguments}` form) as `[{id, name, arguments}]`; None when there are none.
    Arguments given as a mapping (a hand-written replay file) become their JSON text."""
    if not raw:
        return None
    out = []
    for i, c in enumerate(raw):
        fn = _get(c, "function")
        name = _get(fn, "name") if fn is not None else _get(c, "name")
        args = _get(fn, "arguments") if fn is not None else _get(c, "arguments")
        if not isinstance(name, str):
            raise ValueError(f"tool call {i} has no function name")
        if args is None:
            args = "{}"
        elif not isinstance(args, str):
            args = json.dumps(args, ensure_ascii=False)
        out.append({"id": str(_get(c, "id") or f"call_{i}"), "name": name, "arguments": args})
    return out


def openai_calls(calls: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Stored calls in OpenAI's response shape (a server answering with them)."""
    return [
        {
            "id": c["id"],
            "type": "function",
            "function": {"name": c["name"], "arguments": c["arguments"]},
        }
        for c in calls
    ]


# ---- the calls a case expects ---------------------------------------------------------------


def expected_calls(
    value: Any, *, bare_name: bool = False
) -> list[tuple[str, dict[str, Any] | None]] | None:
    """`(name, arguments or None)` per expected call, or None when `value` names no tool call.

    Accepted: `{name, arguments?}`, a list of them, `{tool_calls: [...]}` (OpenAI's shapes too,
    `{function: {name, arguments}}`); arguments may be a mapping or JSON text. A string is a
    bare tool name only with `bare_name` (elsewhere it is a text answer)."""
    if isinstance(value, str):
        return [(value, None)] if bare_name and value else None
    if isinstance(value, dict) and "tool_calls" in value and len(value) == 1:
        value = value["tool_calls"]
    items = value if isinstance(value, list) else [value]
    out: list[tuple[str, dict[str, Any] | None]] = []
    for item in items:
        if not isinstance(item, dict):
            return None
        fn = item.get("function", item)
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            return None
        if set(item) - {"name", "arguments", "id", "type", "function"}:
            return None
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                return None
        if args is not None and not isinstance(args, dict):
            return None
        out.append((fn["name"], args))
    return out or None


def parse_arguments(call: dict[str, str]) -> dict[str, Any] | None:
    """A produced call's arguments as a mapping, or None when they are not a JSON object."""
    try:
        args = json.loads(call["arguments"] or "{}")
    except (json.JSONDecodeError, TypeError):
        return None
    return args if isinstance(args, dict) else None
