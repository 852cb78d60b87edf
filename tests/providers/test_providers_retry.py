"""The retry policy: backoff with full jitter, Retry-After, timeouts, what is not retried."""

from __future__ import annotations

import asyncio
import random

import pytest

from driftgate.errors import MissingCredentialError
from driftgate.providers.base import (
    Completion,
    CompletionRequest,
    ModelConfig,
    Provider,
    ProviderError,
)
from driftgate.providers.retry import backoff_delay, complete_with_retries


class Scripted(Provider):
    """Fails with the scripted errors in order, then answers."""

    def __init__(self, *failures: BaseException, delay: float = 0.0) -> None:
        super().__init__(ModelConfig(id="test/scripted"))
        self.failures = list(failures)
        self.calls = 0
        self.delay = delay

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        return Completion(text="ok")


REQ = CompletionRequest(
    model="test/scripted", messages=[{"role": "user", "content": "hi"}], timeout_s=5
)


def _run(
    provider: Provider, **kw: object
) -> tuple[tuple[Completion, int] | ProviderError, list[float]]:
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)

    async def main() -> tuple[Completion, int] | ProviderError:
        try:
            return await complete_with_retries(
                provider, kw.pop("request", REQ), sleep=fake_sleep, **kw
            )  # type: ignore[arg-type]
        except ProviderError as exc:
            return exc

    return asyncio.run(main()), sleeps


def test_retry_after_is_honoured_and_capped() -> None:
    p = Scripted(
        ProviderError("rate_limit", "slow down", status=429, retry_after=2.0),
        ProviderError("rate_limit", "slow down", status=429, retry_after=120.0),
    )
    out, sleeps = _run(p, max_retries=3, rng=random.Random(1), max_delay=30.0)
    assert isinstance(out, tuple) and out[0].text == "ok" and out[1] == 3
    assert 2.0 <= sleeps[0] <= 2.2  # Retry-After plus at most 10 % jitter
    assert sleeps[1] == 30.0  # capped at max_delay


def test_exponential_full_jitter_bounds() -> None:
    p = Scripted(*[ProviderError("server", "boom", status=500) for _ in range(5)])
    out, sleeps = _run(p, max_retries=5, base_delay=0.5, max_delay=3.0, rng=random.Random(7))
    assert isinstance(out, tuple) and out[1] == 6
    ceilings = [0.5, 1.0, 2.0, 3.0, 3.0]
    assert all(0 <= s <= c for s, c in zip(sleeps, ceilings, strict=True))
    assert len(set(sleeps)) == 5  # jittered, not a fixed schedule
    rng = random.Random(3)
    samples = [
        backoff_delay(4, ProviderError("server", "x"), base_delay=1, rng=rng) for _ in range(500)
    ]
    assert 3.3 < sum(samples) / len(samples) < 4.7  # uniform on [0, 8]: mean 4


def test_exhausted_retries_raise_last_error_with_attempts() -> None:
    p = Scripted(*[ProviderError("server", f"boom {i}", status=500) for i in range(10)])
    out, sleeps = _run(p, max_retries=2, rng=random.Random(0))
    assert isinstance(out, ProviderError) and out.message == "boom 2"
    assert out.attempts == 3 and p.calls == 3 and len(sleeps) == 2


def test_non_retryable_kinds_fail_at_once() -> None:
    for kind in ("auth", "bad_request"):
        p = Scripted(ProviderError(kind, "no", status=401, retry_after=1.0))
        out, sleeps = _run(p, max_retries=4)
        assert isinstance(out, ProviderError) and out.kind == kind
        assert out.attempts == 1 and sleeps == []


def test_timeout_per_attempt() -> None:
    p = Scripted(delay=0.5)
    req = CompletionRequest(model="x", messages=[], timeout_s=0.05)
    out, sleeps = _run(p, max_retries=1, request=req, rng=random.Random(0))
    assert isinstance(out, ProviderError) and out.kind == "timeout" and out.attempts == 2
    assert "0.05s" in out.message and len(sleeps) == 1


def test_adapter_bugs_become_other_and_config_errors_propagate() -> None:
    out, _ = _run(Scripted(KeyError("choices")), max_retries=3)
    assert isinstance(out, ProviderError) and out.kind == "other" and "KeyError" in out.message
    assert out.attempts == 1
    with pytest.raises(MissingCredentialError):
        _run(Scripted(MissingCredentialError("OPENAI_API_KEY is not set")), max_retries=3)
