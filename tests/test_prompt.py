from pathlib import Path

import pytest

from driftgate.errors import ConfigError, TemplateError
from driftgate.prompt import load_prompt


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


BASE = """\
name: greet
model: sim/perfect@v1
messages:
  - role: user
    content: "Hello {{ name }}"
"""


def test_render_and_digest_is_content_identity(tmp_path):
    p = load_prompt(write(tmp_path, BASE))
    assert p.render({"name": "Ada"}) == [{"role": "user", "content": "Hello Ada"}]
    # Reformatting the file does not change the version identity; changing content does.
    same = load_prompt(
        write(
            tmp_path,
            BASE.replace("  - role: user\n    content:", "  - {role: user, content:").replace(
                '"Hello {{ name }}"', '"Hello {{ name }}"}'
            ),
            "q.yaml",
        )
    )
    assert same.digest == p.digest
    other = load_prompt(write(tmp_path, BASE.replace("Hello", "Hi"), "r.yaml"))
    assert other.digest != p.digest


def test_name_defaults_to_file_stem(tmp_path):
    p = load_prompt(write(tmp_path, BASE.replace("name: greet\n", ""), "welcome.v2.yaml"))
    assert p.name == "welcome"


def test_undefined_variable_names_case_and_variable(tmp_path):
    p = load_prompt(write(tmp_path, BASE))
    with pytest.raises(TemplateError) as err:
        p.render({}, case_id="case-7")
    assert "case-7" in str(err.value) and "'name'" in str(err.value)


def test_sandbox_blocks_class_traversal(tmp_path):
    p = load_prompt(write(tmp_path, BASE.replace("Hello {{ name }}", "{{ ''.__class__.__mro__ }}")))
    with pytest.raises(TemplateError, match="sandbox|undefined"):
        p.render({}, case_id="x")


def test_unknown_field_names_file_line_and_field(tmp_path):
    path = write(tmp_path, BASE + "temprature: 0.5\n")
    with pytest.raises(ConfigError) as err:
        load_prompt(path)
    msg = str(err.value)
    assert str(path) in msg and ":6" in msg and "temprature" in msg


def test_wrong_type_names_the_field(tmp_path):
    path = write(tmp_path, BASE + "params: {max_tokens: lots}\n")
    with pytest.raises(ConfigError) as err:
        load_prompt(path)
    assert "params.max_tokens" in str(err.value) and ":6" in str(err.value)


def test_template_syntax_error_at_load(tmp_path):
    with pytest.raises(ConfigError, match="template syntax error"):
        load_prompt(write(tmp_path, BASE.replace("{{ name }}", "{{ name ")))


def test_malformed_yaml_names_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_prompt(write(tmp_path, "name: x\nmessages: [\n  {role: user\n"))
    assert "invalid YAML" in str(err.value)


# ---- `{{ name }}` templates rendered without jinja ----------------------------------------


def test_substitution_renders_what_jinja_renders():
    import random

    from driftgate.prompt import _Substitution, template_env

    env = template_env()
    pieces = [
        "a",
        "b c",
        "\n",
        "  ",
        "{",
        "}",
        "}}",
        "{ ",
        "%",
        "#",
        "{{ x }}",
        "{{x}}",
        "{{\n y\t}}",
        "{{ n_1 }}",
        "{{ _u }}",
        "{{ x.y }}",
        "{{ x|upper }}",
        "{{- x }}",
        "{{ x -}}",
        "{% if x %}",
        "{# c #}",
        "{{ true }}",
        "{{ None }}",
        "{{ not }}",
        "{{ class }}",
        "{{ range }}",
        "{{{ x }}",
        "{{ x }}}",
        "\t",
        "é☃",
        "{{ x }}\n",
        "{{ missing }}",
        "\r\n",
    ]
    values = {"x": "X", "y": 3.5, "n_1": None, "_u": {"a": [1, 2]}, "class": 1}
    rng = random.Random(3)
    fast = 0
    for _ in range(5000):
        source = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) + "\n" * rng.randint(
            0, 2
        )
        sub = _Substitution.compile(source)
        try:
            tpl = env.from_string(source)
        except Exception:  # noqa: BLE001 - any syntax error: never compiled as a substitution
            assert sub is None, source
            continue
        if sub is None:
            continue
        got = sub.render(values)
        try:
            want = tpl.render(values)
        except Exception:  # noqa: BLE001 - undefined: the substitution defers to jinja
            assert got is None, source
            continue
        if got is not None:
            fast += 1
            assert got == want, source
    assert fast > 500  # the comparison covered many templates


def test_simple_prompt_renders_without_importing_jinja(tmp_path):
    import subprocess
    import sys

    path = write(tmp_path, BASE.replace("Hello {{ name }}", "Hello {{ name }}, case {{case}}\\n"))
    code = (
        "import sys\nfrom driftgate.prompt import load_prompt\n"
        f"p = load_prompt({str(path)!r})\n"
        "print(p.render({'name': 'Ada', 'case': 7})[0]['content'])\n"
        "print('jinja2' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == ["Hello Ada, case 7", "False"]


def test_substitution_defers_missing_names_to_jinja(tmp_path):
    p = load_prompt(write(tmp_path, BASE.replace("Hello {{ name }}", "{{ range }} and {{ name }}")))
    with pytest.raises(TemplateError) as err:
        p.render({"range": 1}, case_id="c9")
    assert "c9" in str(err.value) and "'name'" in str(err.value)
    # A jinja global the case does not override renders as jinja renders it.
    from driftgate.prompt import template_env

    want = template_env().from_string("{{ range }} and {{ name }}").render({"name": "x"})
    assert (
        p.render({"name": "x"})[0]["content"] == want
        and want.endswith(" and x")
        and "range" in want
    )


# ---- hostile templates (issue #16 item 8) --------------------------------------------------


def _with(tmp_path, content: str):
    return write(tmp_path, BASE.replace('"Hello {{ name }}"', repr(content)))


@pytest.mark.parametrize(
    "content",
    [
        "{% include '/etc/passwd' %}",
        "{% import 'macros.j2' as m %}{{ name }}",
        "{% from 'macros.j2' import x %}{{ name }}",
        "{% extends 'base.j2' %}",
    ],
)
def test_templates_may_not_read_other_files(tmp_path, content):
    path = _with(tmp_path, content)
    with pytest.raises(ConfigError) as err:
        load_prompt(path)
    assert str(path) in str(err.value) and "messages[0].content" in str(err.value)
    assert "not allowed" in str(err.value)


@pytest.mark.parametrize(
    "content, words",
    [
        ("{{ range(100000000)|list }}", "range"),
        ("{{ 'x' * 10000000000 }}", "repeating a str"),
        ("{{ name * 10000000000 }}", "repeating a str"),
        ("{{ [1, 2] * 10000000000 }}", "repeating a list"),
        ("{{ 10 ** 100000000 }}", "power"),
        (
            "{% for i in range(99999) %}{% for j in range(99999) %}xx{% endfor %}{% endfor %}",
            "over 1,000,000 characters",
        ),
    ],
)
def test_renders_are_bounded(tmp_path, content, words):
    import time

    prompt = load_prompt(_with(tmp_path, content))
    t0 = time.perf_counter()
    with pytest.raises(TemplateError, match="sandbox") as err:
        prompt.render({"name": "Ada"}, case_id="c1")
    assert time.perf_counter() - t0 < 2.0
    assert words in str(err.value) and "'c1'" in str(err.value)


def test_bounded_operators_still_work_in_range(tmp_path):
    prompt = load_prompt(_with(tmp_path, "{{ '-' * 3 }}{{ [0] * 2 }}{{ 2 ** 10 }}{{ 3 * 4 }}"))
    assert prompt.render({"name": "Ada"})[0]["content"] == "---[0, 0]102412"


# ---- a case's own chat messages: {insert: VAR} and the built-in passthrough (#18) --------

INSERT = """\
name: chat
messages:
  - {role: system, content: "Answer in one word about {{ topic }}."}
  - {insert: input}
"""


def test_insert_splices_a_cases_messages(tmp_path):
    p = load_prompt(write(tmp_path, INSERT))
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    assert p.render({"topic": "maths", "input": chat}) == [
        {"role": "system", "content": "Answer in one word about maths."},
        *chat,
    ]
    assert p.render({"topic": "x", "input": "2+2?"})[1] == {"role": "user", "content": "2+2?"}
    assert p.template_variables() == {"topic", "input"}


@pytest.mark.parametrize(
    "value, words",
    [
        (None, "undefined template variable 'input'"),
        ([{"role": "tool", "content": "x"}], "input[0]: a tool message needs the `tool_call_id`"),
        ([{"role": "user", "content": "x", "weight": 1}], "input[0]: key 'weight' is not allowed"),
        ([{"role": "critic", "content": "x"}], "input[0] must be a chat message with role"),
        ([{"role": "assistant", "content": None}], "null only beside tool_calls"),
        ([], "non-empty list"),
    ],
)
def test_insert_refuses_what_is_not_chat_messages(tmp_path, value, words):
    p = load_prompt(write(tmp_path, INSERT))
    variables = {"topic": "t"} if value is None else {"topic": "t", "input": value}
    with pytest.raises(TemplateError) as err:
        p.render(variables, case_id="c1")
    assert words in str(err.value) and "'c1'" in str(err.value)


def test_passthrough_is_built_in_and_a_file_of_that_name_wins(tmp_path):
    from driftgate.workspace import Workspace

    (tmp_path / "prompts").mkdir()
    (tmp_path / "driftgate.yaml").write_text("{}\n")
    ws = Workspace.find(tmp_path)
    built_in = ws.find_prompt("passthrough")
    assert built_in.render({"input": "hi"}) == [{"role": "user", "content": "hi"}]
    write(tmp_path / "prompts", INSERT.replace("name: chat", "name: passthrough"), "pt.yaml")
    ws = Workspace.find(tmp_path)
    assert ws.find_prompt("passthrough").source is not None


def test_a_bad_entry_names_its_own_field(tmp_path):
    bad = INSERT.replace("{insert: input}", "{insert: 'not a name'}")
    with pytest.raises(ConfigError) as err:
        load_prompt(write(tmp_path, bad))
    assert "[messages[1].insert]" in str(err.value) and "more errors" not in str(err.value)


TOOLS = """\
name: weather
messages:
  - {role: system, content: "Call a tool when one fits."}
  - {insert: messages}
tools:
  - type: function
    function:
      name: get_weather
      parameters: {type: object, properties: {city: {type: string}}, required: [city]}
tool_choice: auto
"""


def test_a_prompt_declares_tools_and_they_are_part_of_its_digest(tmp_path):
    from driftgate.prompt import Prompt

    plain = Prompt(
        name="cat", messages=[{"role": "user", "content": "{{ d }}"}], params={"temperature": 0}
    )
    assert plain.digest == "e6368a66159e"  # a prompt without tools keeps the digest it had
    p = load_prompt(write(tmp_path, TOOLS))
    assert [t.name for t in p.tools or []] == ["get_weather"]
    changed = load_prompt(
        write(tmp_path, TOOLS.replace("required: [city]", "required: []"), "q.yaml")
    )
    assert changed.digest != p.digest
    no_choice = load_prompt(write(tmp_path, TOOLS.replace("tool_choice: auto\n", ""), "r.yaml"))
    assert no_choice.digest != p.digest


def test_request_tools_merge_the_cases_over_the_prompts(tmp_path):
    from driftgate._tools import Tool

    p = load_prompt(write(tmp_path, TOOLS))
    assert p.request_tools() == (
        [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "auto",
    )  # fmt: skip
    extra = Tool.model_validate({"function": {"name": "get_time"}})
    same = Tool.model_validate({"function": {"name": "get_weather", "description": "v2"}})
    tools, choice = p.request_tools([extra, same], "none")
    assert [t["function"]["name"] for t in tools or []] == ["get_time", "get_weather"]
    assert tools and tools[1]["function"] == {"name": "get_weather", "description": "v2"}
    assert choice == "none"
    named = {"type": "function", "function": {"name": "get_time"}}
    assert p.request_tools(None, named)[1] == named  # type: ignore[arg-type]
    bare = load_prompt(write(tmp_path, INSERT, "s.yaml"))
    assert bare.request_tools() == (None, None)


def test_a_conversation_with_tool_calls_renders_as_it_is(tmp_path):
    p = load_prompt(write(tmp_path, TOOLS))
    history = [
        {"role": "user", "content": "Weather in Lima?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Lima"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 19}'},
        {"role": "user", "content": "And Quito?"},
    ]  # fmt: skip
    assert p.render({"messages": history})[1:] == history


@pytest.mark.parametrize(
    "edit, field, words",
    [
        ("name: get_weather", "tools[0].function.name", "should match pattern"),
        ("type: object, properties", "tools[0].function.parameters", "type: object"),
        ("tool_choice: auto", "tool_choice", "auto"),
    ],
)
def test_bad_tools_are_named_at_load(tmp_path, edit, field, words):
    bad = {
        "name: get_weather": "name: get weather",
        "type: object, properties": "type: string, properties",
        "tool_choice: auto": "tool_choice: sometimes",
    }[edit]
    with pytest.raises(ConfigError) as err:
        load_prompt(write(tmp_path, TOOLS.replace(edit, bad)))
    assert field in str(err.value) and words in str(err.value)


def test_two_tools_of_one_name_are_refused(tmp_path):
    twice = TOOLS + "  - {type: function, function: {name: get_weather}}\n"
    twice = twice.replace("tool_choice: auto\n", "").replace(
        "tools:\n", "tool_choice: auto\ntools:\n"
    )
    with pytest.raises(ConfigError, match="two tools are named 'get_weather'"):
        load_prompt(write(tmp_path, twice))


def test_passthrough_sends_a_conversation_cases_messages():
    from driftgate.prompt import passthrough_prompt

    p = passthrough_prompt()
    chat = [{"role": "user", "content": "hi"}]
    assert p.render({"messages": chat}) == chat
    assert p.render({"input": "x", "messages": chat}) == [{"role": "user", "content": "x"}]
    with pytest.raises(TemplateError, match="'input'"):
        p.render({"other": 1}, case_id="c1")
