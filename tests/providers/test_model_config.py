"""`ModelConfig.api_base` must be an http(s) URL with a host (#16 item 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from driftgate.errors import ConfigError
from driftgate.providers.base import ModelConfig
from driftgate.suite import load_suite


@pytest.mark.parametrize(
    "url",
    ["not a url", "localhost:8000", "ftp://host/v1", "http://", "https:///v1", "http://h:99999/"],
)
def test_api_base_must_be_an_http_url_with_a_host(url: str):
    with pytest.raises(ValidationError, match="api_base must be an http"):
        ModelConfig(id="openai/x", api_base=url)


@pytest.mark.parametrize(
    "url", ["http://localhost:8000/v1", "https://api.example.com", "http://[::1]:8080/v1"]
)
def test_good_api_bases_pass(url: str):
    assert ModelConfig(id="openai/x", api_base=url).api_base == url


def test_a_bad_api_base_in_a_suite_names_file_line_and_field(tmp_path: Path):
    p = tmp_path / "s.suite.yaml"
    p.write_text(
        "prompts: [p]\nevalsets: [g]\nscorers: [{type: equals}]\n"
        "models:\n  - {id: openai/x, api_base: 'not a url'}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_suite(p)
    assert f"{p}:5 [models[0].api_base]" in str(err.value) and "http(s) URL" in str(err.value)
