"""Retries around one provider call: exponential backoff with full jitter, Retry-After aware.

Adapters never retry by themselves (litellm is called with `num_retries=0`); this one
policy decides for every backend, so attempts are counted and recorded the same way.

- Only retryable kinds (rate_limit, server, timeout, bad_response) are retried; an auth or
  bad-request error fails at once, because repeating it cannot help.
- The delay before attempt n+1 is uniform in [0, min(max_delay, base_delay·2^(n-1))]
  ("full jitter": thousands of concurrent callers that failed together do not retry
  together). A server's Retry-After replaces it, capped at max_delay, plus up to 10 %
  jitter for the same reason.
- Each attempt is bounded by `request.timeout_s`; running over is a `timeout` error.
- Every send is an attempt: the clients never re-send a request by themselves once it was
  written (the server may have processed it), so `attempts` counts what was sent.
- This is the provider boundary every answer and error crosses before it is stored: known
  secrets (the keys sent, secret-named environment variables, `Bearer …` tokens) are
  masked here, once (`_redact.redact_text`), so a 401 body that echoes the Authorization
  header never reaches a stored row, a log or a report.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from .._redact import redact_known, redact_text
from ..errors import DriftgateError
from .base import Completion, CompletionRequest, Provider, ProviderError

_RNG = random.Random()


def backoff_delay(
    attempt: int,
    error: ProviderError,
    *,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    rng = rng or _RNG
    if error.retry_after is not None and error.retry_after >= 0:
        return min(max_delay, error.retry_after * (1.0 + 0.1 * rng.random()))
    ceiling = min(max_delay, base_delay * (2.0 ** (attempt - 1)))
    return rng.uniform(0.0, ceiling)


async def complete_with_retries(
    provider: Provider,
    request: CompletionRequest,
    *,
    max_retries: int,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> tuple[Completion, int]:
    """Call the provider until it answers; return (completion, attempts made).

    On final failure the last ProviderError is raised with `attempts` set on it.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            # asyncio.timeout (3.11+) bounds the call without wrapping it in another task,
            # which asyncio.wait_for does: measurably cheaper on the hot path.
            async with asyncio.timeout(request.timeout_s):
                completion = await provider.complete(request)
            completion.text = redact_known(completion.text)
            return completion, attempt
        except TimeoutError:
            error = ProviderError("timeout", f"no answer within {request.timeout_s:g}s")
        except ProviderError as exc:
            error = exc
        except DriftgateError:
            raise  # missing credentials, bad configuration: the whole run must stop
        except Exception as exc:  # noqa: BLE001 - an adapter bug is one failed case, not a crash
            error = ProviderError("other", f"{type(exc).__name__}: {exc}")
            error.__cause__ = exc
        if not error.retryable or attempt > max_retries:
            error.attempts = attempt  # type: ignore[attr-defined]
            _redact_error(error)
            raise error
        await sleep(
            backoff_delay(attempt, error, base_delay=base_delay, max_delay=max_delay, rng=rng)
        )


def _redact_error(error: ProviderError) -> None:
    """Mask known secrets in what the caller stores of the error (`str(error)`)."""
    masked = redact_text(error.message)
    if masked != error.message:
        error.message = masked
        error.args = (masked,)
