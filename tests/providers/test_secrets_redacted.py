"""Known secrets never reach what driftgate stores (issue #16 item 12): a provider that
echoes the Authorization header in its 401 body, an adapter error quoting a key, an answer
that repeats it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import driftgate
from driftgate._redact import REDACTED, redact_known, redact_text, remember_secret
from driftgate.providers.base import (
    Completion,
    CompletionRequest,
    ModelConfig,
    Provider,
    ProviderError,
)
from driftgate.providers.retry import complete_with_retries
from robustness.fault_server import FaultServer

PLANTED = "sk-planted-0123456789abcdefXYZ"


def test_known_values_env_secrets_and_tokens_are_masked_anywhere(monkeypatch) -> None:
    monkeypatch.setenv("ACME_API_KEY", "acme-secret-value-42")
    monkeypatch.setenv("ACME_REGION", "eu-west-1-long-name")  # not a secret's name
    remember_secret("remembered-key-value")
    text = (
        "401: header was 'Bearer tok_abcdefghijkl', key sk-abcdefghijklmnop, "
        "acme-secret-value-42 and remembered-key-value in eu-west-1-long-name"
    )
    masked = redact_text(text)
    for secret in ("tok_abcdefghijkl", "sk-abcdefghijklmnop", "acme-secret", "remembered-key"):
        assert secret not in masked
    assert "Bearer ***" in masked and "eu-west-1-long-name" in masked
    assert redact_known("says remembered-key-value") == f"says {REDACTED}"
    assert redact_known("nothing here") == "nothing here"


class _Echo(Provider):
    """An adapter whose errors and answers quote the key it was given."""

    def __init__(self, mode: str) -> None:
        super().__init__(ModelConfig(id="echo/x"))
        self.mode = mode

    async def complete(self, request: CompletionRequest) -> Completion:
        if self.mode == "auth":
            raise ProviderError("auth", f"invalid key: Authorization: Bearer {PLANTED}", status=401)
        if self.mode == "bug":
            raise RuntimeError(f"adapter crashed holding api_key={PLANTED}")
        return Completion(text=f"you sent {PLANTED}")


@pytest.mark.parametrize("mode", ["auth", "bug", "answer"])
def test_the_retry_boundary_masks_keys_in_errors_and_answers(mode: str) -> None:
    from driftgate.providers.http import Secret

    Secret(PLANTED)  # what the http client and litellm adapter do with the key they read
    request = CompletionRequest(model="echo/x", messages=[{"role": "user", "content": "hi"}])

    async def call() -> str:
        try:
            completion, _ = await complete_with_retries(_Echo(mode), request, max_retries=0)
        except ProviderError as exc:
            return str(exc)
        return completion.text

    out = asyncio.run(call())
    assert PLANTED not in out and REDACTED in out


def test_a_401_echoing_the_authorization_header_leaks_the_key_nowhere(
    ws_root: Path, monkeypatch, tmp_path: Path
) -> None:
    from driftgate.report import write_report
    from driftgate.store.runs import RunStore

    monkeypatch.setenv("DG_PLANTED_KEY", PLANTED)
    with FaultServer(echo_auth_401=True) as server:
        (ws_root / "evalsets" / "main.suite.yaml").write_text(
            "prompts: [cat@v1]\nevalsets: [tx]\n"
            "models:\n"
            f"  - {{id: openai/sim/perfect@v1, api_base: '{server.url}', "
            "api_key_env: DG_PLANTED_KEY, max_retries: 0}\n"
            "scorers:\n  - {type: label-match, metric: category}\n"
            "max_error_rate: 1.0\n"
        )
        try:
            run = driftgate.run(workspace=ws_root, limit=10, progress="off")
            run_id = run.id
        except driftgate.DriftgateError:
            run_id = RunStore(ws_root / "runs").resolve_id("latest")
        assert server.requests >= 1
    store = RunStore(ws_root / "runs")
    results = list(store.results(run_id))
    assert results and all(r.error and "auth" in r.error for r in results)
    assert all(REDACTED in (r.error or "") for r in results), results[0].error
    for ext in ("html", "json", "csv", "md"):
        write_report(tmp_path / f"report.{ext}", store.load(run_id), store.results(run_id))
    leaked = [
        str(p)
        for base in (ws_root, tmp_path)
        for p in base.rglob("*")
        if p.is_file() and PLANTED.encode() in p.read_bytes()
    ]
    assert leaked == []
