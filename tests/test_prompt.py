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
    same = load_prompt(write(tmp_path, BASE.replace("  - role: user\n    content:", "  - {role: user, content:").replace('"Hello {{ name }}"', '"Hello {{ name }}"}'), "q.yaml"))
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
