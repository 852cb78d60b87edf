"""Every send is counted (issue #16 item 14): a request written on a reused keep-alive
connection that then fails is never re-sent behind the caller's back; the retry policy
re-sends it, and its attempts equal what the server received."""

from __future__ import annotations

import asyncio

from driftgate.providers._http11 import ConnectionPool, HTTPProtocolError, StaleConnectionError
from driftgate.providers.base import CaseHint, CompletionRequest, ModelConfig, ProviderError
from driftgate.providers.http import OpenAICompatibleProvider
from driftgate.providers.retry import complete_with_retries
from robustness.fault_server import FaultServer


def _request(case: str) -> CompletionRequest:
    return CompletionRequest(
        model="openai/sim/perfect@v1",
        messages=[{"role": "user", "content": case}],
        case=CaseHint(id=case, expected="food"),
        timeout_s=5,
    )


def test_a_reset_on_a_reused_connection_is_a_counted_retry() -> None:
    # Each connection answers one request, then reads the next one and resets.
    with FaultServer(rate=0, reset_idle_after=1) as server:
        provider = OpenAICompatibleProvider(
            ModelConfig(id="openai/sim/perfect@v1", api_base=server.url)
        )

        async def calls() -> list[int]:
            attempts = []
            for i in range(5):
                completion, n = await complete_with_retries(
                    provider, _request(f"c{i}"), max_retries=3
                )
                assert completion.text == "food"
                attempts.append(n)
            await provider.aclose()
            return attempts

        attempts = asyncio.run(calls())
    assert server.injected["reset_reused"] == 4  # every call after the first hit one
    assert attempts == [1, 2, 2, 2, 2]
    assert {k: v for k, v in server.sends.items()} == {
        (f"c{i}", 0): n for i, n in enumerate(attempts)
    }
    assert sum(attempts) == server.requests


def test_the_pool_never_re_sends_and_says_why_a_send_failed() -> None:
    with FaultServer(rate=0, reset_idle_after=1) as server:
        host, port = server.url.split("//")[1].split("/")[0].split(":")

        async def two_sends() -> tuple[ConnectionPool, Exception | None]:
            pool = ConnectionPool(host, int(port), default_headers={})
            await pool.post("/v1/chat/completions", b"{}")
            try:
                await pool.post("/v1/chat/completions", b"{}")
            except StaleConnectionError as exc:
                return pool, exc
            finally:
                pool.close()
            return pool, None

        pool, error = asyncio.run(two_sends())
    assert isinstance(error, ConnectionResetError) and "may have been processed" in str(error)
    assert pool.sends == server.requests == 2


def test_a_truncated_body_is_a_bad_response_not_a_silent_resend() -> None:
    with FaultServer(rate=1.0, kinds=("truncated",)) as server:
        provider = OpenAICompatibleProvider(
            ModelConfig(id="openai/sim/perfect@v1", api_base=server.url)
        )

        async def call() -> ProviderError:
            try:
                await complete_with_retries(provider, _request("c0"), max_retries=2, sleep=_nap)
            except ProviderError as exc:
                return exc
            finally:
                await provider.aclose()
            raise AssertionError("a truncated body must not pass")

        error = asyncio.run(call())
    assert error.kind == "bad_response" and "truncated" in str(error)
    assert error.attempts == 3 == server.requests  # type: ignore[attr-defined]


async def _nap(_: float) -> None:
    await asyncio.sleep(0)


def test_truncated_and_reset_are_distinguished_at_the_connection() -> None:
    assert issubclass(StaleConnectionError, ConnectionResetError)
    assert not issubclass(HTTPProtocolError, OSError)
