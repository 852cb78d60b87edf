"""Prompt artifacts: chat messages as jinja2 templates plus model, params and output parser.

A prompt file (YAML or JSON) in `prompts/`:

    name: categorize            # defaults to the file stem
    version: few-shot           # optional label; `categorize@few-shot` selects this file
    model: local/smollm2-135m   # any litellm id, `sim/NAME@VERSION` or `local/...`
    params: {temperature: 0, max_tokens: 16}
    messages:
      - {role: system, content: "You label bank transactions."}
      - {role: user, content: "{{ description }}"}
    output: {type: label, labels: [groceries, rent]}

Templates render in jinja2's sandbox with StrictUndefined: an undefined variable is an
error naming the case and the variable, and attribute tricks such as
`{{ ''.__class__.__mro__ }}` are refused. Renders are bounded (`_sandbox`: output size,
`*` repetition, `**` powers, `range()`), and `{% include %}`, `{% import %}`
and `{% extends %}` are refused when the prompt is loaded. A template that is only text and `{{ name }}`
placeholders (most are) renders by plain substitution, to the same text, without jinja.

A case that carries its own chat messages (an OpenAI-evals `input`, a conversation) is
placed with an insert entry, which splices the variable's messages in where it stands (a
string becomes one user message):

    messages:
      - {role: system, content: "Answer in one word."}
      - {insert: input}

The inserted messages may be a whole conversation: assistant turns with `tool_calls` and
`tool` messages answering them, in OpenAI's shape (`_tools.history_message`). A case's
top-level `messages` is such a variable (evalset.py).

The built-in prompt `passthrough` (`prompts: [passthrough]`, when no prompt file has that
name) is just `[{insert: input}]`: the case's messages are sent as they are (its `messages`
when it has no `input`).

Tools the model may call are declared with the prompt, in OpenAI's shape, and are part of
its digest (a changed tool is a changed prompt); a case's own `tools` add to them, replacing
a prompt tool of the same name, and its `tool_choice` replaces the prompt's:

    tools:
      - type: function
        function: {name: get_weather, parameters: {type: object, properties: {city: {type: string}}}}
    tool_choice: auto
"""

from __future__ import annotations

import json
import keyword
import re
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Discriminator, Field, PrivateAttr, Tag, field_validator

from ._digest import digest
from ._files import NAME_SEGMENT, PROMPT_NAME
from ._strict import Strict
from ._tools import (
    Tool,
    ToolChoice,
    check_unique,
    choice_payload,
    history_message,
    merge_tools,
    tools_payload,
)
from .errors import ConfigError, TemplateError

if TYPE_CHECKING:  # jinja2 is imported when a template needs it, not with this module
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment


class Message(Strict):
    role: Literal["system", "user", "assistant"]
    content: str


class Insert(Strict):
    """A place in a prompt's messages where a case variable's chat messages go."""

    insert: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="A case variable.")

    @property
    def content(self) -> str:
        """No template text of its own (code reading every message's text reads "")."""
        return ""


def inserted_messages(value: Any, name: str) -> list[dict[str, Any]]:
    """The chat messages a case variable holds: a string is one user message; a list of
    messages (`{role, content}`, an assistant's `tool_calls`, a `tool` message's
    `tool_call_id`) is checked and copied (any other key is refused, not dropped)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise ValueError(f"{name!r} must be a string or a non-empty list of chat messages")
    return [history_message(m, f"{name}[{i}]") for i, m in enumerate(value)]


def _entry_kind(value: Any) -> str:
    return (
        "tag:insert"
        if isinstance(value, Insert) or (isinstance(value, dict) and "insert" in value)
        else "tag:message"
    )


# One kind per entry, chosen by its keys: an error names the entry's own field
# (`messages[0].role`), not every kind it failed to be.
_Entry = Annotated[
    Annotated[Message, Tag("tag:message")] | Annotated[Insert, Tag("tag:insert")],
    Discriminator(_entry_kind),
]


class Params(Strict):
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    stop: list[str] | None = None
    top_p: float | None = Field(None, gt=0, le=1)

    def as_kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class OutputSpec(Strict):
    """How the raw completion is parsed before scoring."""

    type: Literal["text", "json", "label"] = "text"
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    labels: list[str] | None = None

    @field_validator("labels")
    @classmethod
    def _labels_nonempty(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("labels must not be empty")
        return v


# `NAME` or `NAME@SELECTOR` of a few-shot set / index (artifact names have no '/').
_ARTIFACT_REF = rf"^{NAME_SEGMENT}(@[A-Za-z0-9_.\-]+)?$"


class Prompt(Strict):
    name: str = Field(pattern=PROMPT_NAME)
    version: str | None = Field(None, description="Optional label; NAME@VERSION selects this file.")
    description: str | None = None
    model: str | None = Field(None, description="Default model (litellm id, sim/..., local/...).")
    params: Params = Field(default_factory=Params)
    messages: list[_Entry] = Field(
        min_length=1, description="{role, content} templates, or {insert: VAR}: a case's messages."
    )
    output: OutputSpec = Field(default_factory=OutputSpec)
    fewshot: str | None = Field(
        None,
        pattern=_ARTIFACT_REF,
        description="Few-shot set exposed as `examples`: NAME or NAME@SELECTOR (sequence "
        "number, digest (prefix) or alias); pinned to NAME@DIGEST when the prompt is bound.",
    )
    index: str | None = Field(
        None,
        pattern=_ARTIFACT_REF,
        description="Retrieval index exposed as `retrieve`: NAME or NAME@SELECTOR, as `fewshot`.",
    )
    tools: list[Tool] | None = Field(
        None, description="OpenAI function tools the model may call (a case may add its own)."
    )
    tool_choice: ToolChoice | None = Field(
        None, description="auto, none, required or {type: function, function: {name}}."
    )

    _source: Path | None = PrivateAttr(None)
    _builtin: bool = PrivateAttr(False)

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, v: list[Tool] | None) -> list[Tool] | None:
        return check_unique(v)

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name

    @property
    def bound(self) -> bool:
        """Whether every artifact it reads is pinned to a digest (see `registry.binding`)."""
        return all(is_pinned(r) for r in (self.fewshot, self.index) if r)

    @cached_property
    def digest(self) -> str:
        """Version identity: hash of the normalized definition (not of file formatting).

        Bound (`registry.binding.bind_prompt`), the definition names its few-shot set and
        index by digest, so this identity covers everything the prompt renders."""
        # The `version` label and the description are names, not behaviour: relabelling a
        # file does not make a new version.
        # Tools are left out when unset, so prompts without tools keep the digests they had.
        unset = {k for k in ("tools", "tool_choice") if getattr(self, k) is None}
        return digest(
            self.model_dump(mode="json", exclude={"description", "version", *unset}, by_alias=True)
        )

    def request_tools(
        self, case_tools: list[Tool] | None = None, case_choice: ToolChoice | None = None
    ) -> tuple[list[dict[str, Any]] | None, str | dict[str, Any] | None]:
        """The `tools` and `tool_choice` a request for a case sends: the prompt's tools with
        the case's added (a case tool replaces the prompt tool of its name), and the case's
        choice over the prompt's. (None, None) when neither declares tools."""
        if self.tools is None and case_tools is None and case_choice is None:
            return None, choice_payload(self.tool_choice)
        tools = tools_payload(merge_tools(self.tools, case_tools))
        return tools, choice_payload(case_choice if case_choice is not None else self.tool_choice)

    @cached_property
    def _templates(self) -> list[tuple[str, str | _Template | Insert]]:
        """Each message's role and its text, or its template when it has template syntax.

        Templates that are more than `{{ name }}` placeholders are compiled now, so syntax
        errors surface at load time; the others cannot have any and need no jinja at all.
        """
        out: list[tuple[str, str | _Template | Insert]] = []
        for i, m in enumerate(self.messages):
            if isinstance(m, Insert):
                out.append(("insert", m))
                continue
            if not any(tag in m.content for tag in ("{{", "{%", "{#")):
                out.append((m.role, m.content))  # no template syntax: nothing to render per case
                continue
            tpl = _Template(m.content)
            if tpl.substitution is None:
                import jinja2

                try:
                    tpl.jinja()
                except jinja2.TemplateSyntaxError as exc:
                    raise ConfigError(
                        f"template syntax error: {exc.message}",
                        path=self._source,
                        field=f"messages[{i}].content (template line {exc.lineno})",
                    ) from None
            out.append((m.role, tpl))
        return out

    def request_labels(self) -> list[str] | None:
        """The label set every request of this prompt carries (`CompletionRequest.labels`):
        its labels when its output is a label, else None."""
        if self.output.type != "label" or not self.output.labels:
            return None
        return list(self.output.labels)

    def render(
        self, variables: dict[str, Any], *, case_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Render the chat messages for one case."""
        out: list[dict[str, Any]] = []
        for role, tpl in self._templates:
            if isinstance(tpl, str):
                out.append({"role": role, "content": tpl})
                continue
            if isinstance(tpl, Insert):
                out += self._inserted(tpl.insert, variables, case_id)
                continue
            content = tpl.substitution.render(variables) if tpl.substitution is not None else None
            if content is None:
                content = self._render_jinja(tpl, variables, case_id)
            out.append({"role": role, "content": content})
        return out

    def _inserted(
        self, name: str, variables: dict[str, Any], case_id: str | None
    ) -> list[dict[str, Any]]:
        if name not in variables and self._builtin and "messages" in variables:
            name = "messages"  # passthrough: a conversation case sends its `messages`
        if name not in variables:
            raise TemplateError(
                f"prompt {self.ref}: case {case_id!r}: undefined template variable {name!r}",
                hint=f"the prompt inserts the messages of {name!r}: add it to the case",
            )
        try:
            return inserted_messages(variables[name], name)
        except ValueError as exc:
            raise TemplateError(f"prompt {self.ref}: case {case_id!r}: {exc}") from None

    def _render_jinja(self, tpl: _Template, variables: dict[str, Any], case_id: str | None) -> str:
        import jinja2

        try:
            from ._sandbox import render_bounded

            return render_bounded(tpl.jinja(), variables)
        except jinja2.UndefinedError as exc:
            var = _undefined_name(str(exc))
            raise TemplateError(
                f"prompt {self.ref}: case {case_id!r}: undefined template variable {var!r}",
                hint=f"add {var!r} to the case's vars, or guard it with "
                f"{{% if {var} is defined %}}",
            ) from None
        except (jinja2.exceptions.SecurityError, OverflowError) as exc:
            # OverflowError: jinja's sandbox refusing a range() over its MAX_RANGE.
            raise TemplateError(
                f"prompt {self.ref}: case {case_id!r}: blocked by the template sandbox: {exc}"
            ) from None

    def template_variables(self) -> set[str]:
        from jinja2 import meta

        env = template_env()
        names: set[str] = set()
        for m in self.messages:
            if isinstance(m, Insert):
                names.add(m.insert)
            else:
                names |= meta.find_undeclared_variables(env.parse(m.content))
        return names


class _Template:
    """One message template: jinja2 (sandboxed, compiled on first need) and, when the
    template is plain text with `{{ name }}` placeholders, the substitution rendering it."""

    __slots__ = ("_jinja", "source", "substitution")

    def __init__(self, source: str) -> None:
        self.source = source
        self.substitution = _Substitution.compile(source)
        self._jinja: jinja2.Template | None = None

    def jinja(self) -> jinja2.Template:
        if self._jinja is None:
            from ._sandbox import check_template_source

            check_template_source(template_env(), self.source)
            self._jinja = template_env().from_string(self.source)
        return self._jinja


# `{{ name }}` placeholders: a template made of nothing else renders by substitution.
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Names jinja reads as something other than a variable (literals, operators), and Python
# keywords for good measure: a template using one goes through jinja.
_RESERVED = frozenset(
    {"true", "false", "none", "True", "False", "None", "not", "and", "or", "in", "is", "if", "else"}
    | set(keyword.kwlist)
)


class _Substitution:
    """A template of plain text and `{{ name }}` placeholders, rendered without jinja.

    Most prompts are just that, and jinja's per-render context set-up then costs more than
    the rest of a cached case together. The output is what jinja renders (tests compare
    the two): each value as `str(value)`, newlines as written, minus the one trailing
    newline jinja drops. Anything jinja could read differently (blocks, comments,
    filters, attributes, whitespace control, literals such as `{{ none }}`, carriage
    returns) is not compiled; a name missing from the variables (a global, or an error
    worded by jinja) is left to jinja.
    """

    __slots__ = ("_names", "_texts")

    def __init__(self, texts: list[str], names: list[str]) -> None:
        self._texts = texts
        self._names = names

    @classmethod
    def compile(cls, source: str) -> _Substitution | None:
        if "{%" in source or "{#" in source or "\r" in source:
            return None
        if source.endswith("\n"):
            source = source[:-1]  # keep_trailing_newline=False
        parts = _PLACEHOLDER.split(source)
        texts, names = parts[0::2], parts[1::2]
        if any("{{" in t for t in texts) or any(t.endswith("{") for t in texts[:-1]):
            return None  # an expression the pattern does not cover
        if any(n in _RESERVED for n in names):
            return None
        return cls(texts, names)

    def render(self, variables: dict[str, Any]) -> str | None:
        """The rendered text, or None when a name is not in `variables` (jinja decides)."""
        texts = self._texts
        out = [texts[0]]
        for i, name in enumerate(self._names, 1):
            value = variables.get(name, _MISSING)
            if value is _MISSING:
                return None
            out.append(value if type(value) is str else str(value))
            out.append(texts[i])
        return "".join(out)


_MISSING = object()


def _undefined_name(message: str) -> str:
    m = re.search(r"'([^']+)' is undefined", message)
    if m:
        return m.group(1)
    m = re.search(r"has no attribute '([^']+)'", message)
    return m.group(1) if m else message


_ENV: ImmutableSandboxedEnvironment | None = None


def template_env() -> ImmutableSandboxedEnvironment:
    global _ENV
    if _ENV is None:
        import jinja2

        from ._sandbox import bounded_sandbox, no_loading

        env = bounded_sandbox()(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            loader=jinja2.FunctionLoader(no_loading),
        )
        env.filters["tojson"] = lambda v: json.dumps(v, ensure_ascii=False)
        _ENV = env
    return _ENV


def load_prompt(path: Path) -> Prompt:
    from ._files import load_named

    prompt = load_named(Prompt, Path(path))
    prompt._source = path
    prompt._templates  # noqa: B018 - compile now so syntax errors surface at load time
    return prompt


PASSTHROUGH = "passthrough"


def passthrough_prompt() -> Prompt:
    """The built-in `passthrough` prompt: the case's `input` messages, sent as they are."""
    prompt = Prompt(
        name=PASSTHROUGH,
        description="The case's `input` chat messages (OpenAI-evals rows), or its `messages`, "
        "as they are.",
        messages=[Insert(insert="input")],
    )
    prompt._builtin = True
    return prompt


DIGEST_LENGTH = 12  # `_digest.digest`'s default: what registry versions are named by


_PINNED = re.compile(rf"^[0-9a-f]{{{DIGEST_LENGTH},64}}$")


def is_pinned(ref: str) -> bool:
    """`categorize@<12+ hex digits>`: a reference to one content-addressed version."""
    sel = artifact_selector(ref)
    return sel is not None and bool(_PINNED.match(sel))


def artifact_name(ref: str) -> str:
    """`categorize@3` → `categorize` (a prompt's `fewshot:` / `index:` value)."""
    return ref.partition("@")[0]


def artifact_selector(ref: str) -> str | None:
    """`categorize@3` → `3`; `categorize` → None."""
    return ref.partition("@")[2] or None


def parse_ref(ref: str) -> tuple[str, str | None]:
    """`name@version` → (name, version); `name` → (name, None)."""
    name, _, version = ref.partition("@")
    return name, (version or None)
