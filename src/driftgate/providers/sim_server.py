"""The simulator served as an OpenAI-compatible HTTP API on loopback.

`POST /v1/chat/completions` answers with `simulate()`: the request's `model` names the
profile (`sim/acme@v1`, overrides allowed), ground truth arrives in the `X-Driftgate-Case`
header (JSON of the CaseHint; driftgate's clients send it only to `sim/` models), and
without it the answer is a deterministic function of the messages. Failures are real HTTP:
429 with Retry-After, 500, a 200 with a garbage body, a stall for timeouts. `GET /v1/models`
lists the profiles.

Used by integration tests and benchmarks (the fast client, litellm, any OpenAI SDK):

    with SimServer(latency_ms=50, process=True) as base_url:   # → http://127.0.0.1:PORT/v1
        ...

or `python -m driftgate.providers.sim_server --port 8000`. The handler is kept lean (one
json.loads, one json.dumps, no pydantic) so one core serves thousands of requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .._tools import openai_calls
from ..errors import ConfigError, UnknownNameError
from .base import CaseHint, Completion
from .simulator import SIM_HEADER, SimError, parse_case_header, profiles, simulate

_GARBAGE = b"<html><body><h1>502 Bad Gateway</h1>upstream sent garbage \x00\xff</body></html>"
_MAX_TRACKED = 200_000  # attempt counters kept before the table is reset


@dataclass
class _State:
    latency_ms: float | None = None
    stall_s: float = 30.0
    api_key: str | None = None
    attempts: dict[Any, int] = field(default_factory=dict)
    stats: Counter[Any] = field(default_factory=Counter)
    ids: Any = field(default_factory=itertools.count)


_STATE = web.AppKey("driftgate_sim_state", _State)


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        content_type="application/json",
        headers=headers,
    )


def _error(
    status: int, message: str, kind: str, code: str | None = None, **headers: str
) -> web.Response:
    return _json(
        status, {"error": {"message": message, "type": kind, "code": code}}, headers or None
    )


async def _chat(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    state.stats["requests"] += 1
    if state.api_key and request.headers.get("Authorization") != f"Bearer {state.api_key}":
        state.stats[401] += 1
        return _error(401, "invalid API key", "authentication_error", "invalid_api_key")
    raw = await request.read()
    try:
        data, hint = _parse_chat(raw, request.headers.get(SIM_HEADER))
    except (ValueError, KeyError, TypeError) as exc:
        state.stats[400] += 1
        return _error(400, f"bad request: {type(exc).__name__} {exc}", "invalid_request_error")
    model, messages = data["model"], data["messages"]
    key = (model, hint.id, hint.repeat) if hint else (model, hash(raw))
    try:
        result = simulate(
            model,
            hint,
            messages,
            response_format=data.get("response_format"),
            attempt=_next_attempt(state, key),
            tools=_offered_tools(data.get("tools")),
        )
    except UnknownNameError as exc:
        state.stats[404] += 1
        return _error(404, exc.message, "invalid_request_error", "model_not_found")
    except ConfigError as exc:
        state.stats[400] += 1
        return _error(400, exc.message, "invalid_request_error")
    delay = (result.latency_ms or 0.0) if state.latency_ms is None else state.latency_ms
    if isinstance(result, SimError):
        return await _failure(state, result, delay)
    if delay > 0:
        await asyncio.sleep(delay / 1000.0)
    state.stats[200] += 1
    return _json(200, _completion_body(result, next(state.ids)))


def _parse_chat(raw: bytes, header: str | None) -> tuple[dict[str, Any], CaseHint | None]:
    """The request body and the case hint of its header; raises ValueError, KeyError or
    TypeError (a 400) when either is malformed."""
    data = json.loads(raw)
    model, messages = data["model"], data["messages"]
    if not isinstance(model, str) or not isinstance(messages, list):
        raise TypeError("'model' must be a string and 'messages' a list")
    if not all(isinstance(m, dict) for m in messages):
        raise TypeError("every message must be an object")
    return data, parse_case_header(header) if header else None


def _offered_tools(tools: Any) -> list[dict[str, Any]] | None:
    """The request's function tools (anything else in the list is not the simulator's)."""
    if not isinstance(tools, list):
        return None
    return [
        t
        for t in tools
        if isinstance(t, dict)
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
    ] or None


def _next_attempt(state: _State, key: tuple[Any, ...]) -> int:
    """How many times this case was asked before (a profile's `fail_attempts` reads it)."""
    attempts = state.attempts
    if len(attempts) > _MAX_TRACKED:
        attempts.clear()
    attempt = attempts.get(key, 0)
    attempts[key] = attempt + 1
    return attempt


async def _failure(state: _State, result: SimError, delay: float) -> web.Response:
    """A simulated failure as real HTTP: a stall, a 429 with Retry-After, garbage, a 500."""
    if result.kind == "timeout":
        state.stats["stall"] += 1
        await asyncio.sleep(state.stall_s)  # the client gives up first
        return _error(504, "simulated stall", "timeout")
    if delay > 0:
        await asyncio.sleep(delay / 1000.0)
    state.stats[result.status] += 1
    if result.kind == "rate_limit":
        wait = result.retry_after or 0.0
        return _error(
            429,
            "rate limit reached (simulated)",
            "rate_limit_error",
            "rate_limit_exceeded",
            **{"Retry-After": f"{wait:g}", "retry-after-ms": str(round(wait * 1000))},
        )
    if result.kind == "bad_response":
        return web.Response(status=200, body=_GARBAGE, content_type="text/html")
    return _error(500, "internal server error (simulated)", "server_error")


def _completion_body(result: Completion, number: int) -> dict[str, Any]:
    """An OpenAI chat.completion response for a simulated answer."""
    message: dict[str, Any] = {"role": "assistant", "content": result.text}
    if result.tool_calls:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": openai_calls(result.tool_calls),
        }
    return {
        "id": f"chatcmpl-sim-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model,
        "system_fingerprint": result.fingerprint,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": result.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": result.input_tokens,
            "completion_tokens": result.output_tokens,
            "total_tokens": (result.input_tokens or 0) + (result.output_tokens or 0),
            "cost": result.cost_usd,
        },
    }


async def _models(request: web.Request) -> web.Response:
    data = [
        {"id": f"sim/{n}", "object": "model", "created": 0, "owned_by": "driftgate-sim"}
        for n in profiles()
    ]
    return _json(200, {"object": "list", "data": data})


def make_app(
    *, latency_ms: float | None = None, stall_s: float = 30.0, api_key: str | None = None
) -> web.Application:
    """The aiohttp application; `latency_ms` overrides every profile's latency."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_STATE] = _State(latency_ms=latency_ms, stall_s=stall_s, api_key=api_key)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_post("/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/health", _health)
    return app


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    # Case headers carry expected answers, which can be large JSON: allow 1 MB fields.
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=1.0,
        max_field_size=1 << 20,
        max_line_size=1 << 20,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1]  # the real port when port=0
    return runner, f"http://{host}:{bound}/v1"


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    latency_ms: float | None = None,
    *,
    stall_s: float = 30.0,
    api_key: str | None = None,
) -> None:
    """Serve until interrupted; prints `listening on BASE_URL` once bound."""

    async def main() -> None:
        runner, url = await _start(
            make_app(latency_ms=latency_ms, stall_s=stall_s, api_key=api_key), host, port
        )
        print(f"listening on {url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


class SimServer:
    """A sim server for tests and benchmarks: `async with` runs it in the current loop,
    `with` in a background thread, or in a child process with `process=True` (what a
    benchmark wants: the server then does not compete for the client's GIL).
    Both forms yield the base URL (`http://127.0.0.1:PORT/v1`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_ms: float | None = None,
        stall_s: float = 30.0,
        api_key: str | None = None,
        process: bool = False,
    ) -> None:
        self.host, self.port, self.process = host, port, process
        self._options = {"latency_ms": latency_ms, "stall_s": stall_s, "api_key": api_key}
        self.app: web.Application | None = None
        self.base_url: str | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proc: subprocess.Popen[str] | None = None

    @property
    def stats(self) -> Counter[Any]:
        """Requests seen and responses by status (not available with process=True)."""
        if self.app is None:
            raise RuntimeError("stats are only available for an in-process server")
        return self.app[_STATE].stats

    async def __aenter__(self) -> str:
        self.app = make_app(**self._options)  # type: ignore[arg-type]
        self._runner, self.base_url = await _start(self.app, self.host, self.port)
        return self.base_url

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def __enter__(self) -> str:
        if self.process:
            return self._start_process()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.__aenter__())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.__aexit__())
            loop.close()

        self._thread = threading.Thread(target=run, name="driftgate-sim-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        assert self.base_url is not None
        return self.base_url

    def _start_process(self) -> str:
        cmd = [
            sys.executable,
            "-m",
            "driftgate.providers.sim_server",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        env = dict(os.environ)
        for name, value in self._options.items():
            if name == "api_key":
                if value is not None:  # through the environment: argv is visible to `ps`
                    env["DRIFTGATE_SIM_API_KEY"] = str(value)
            elif value is not None:
                cmd += [f"--{name.replace('_', '-')}", str(value)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        if not line.startswith("listening on "):
            self._proc.kill()
            raise RuntimeError(f"sim server failed to start: {line!r}")
        self.base_url = line.split()[-1]
        return self.base_url

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop = self._thread = None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="driftgate simulator: OpenAI-compatible server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--latency-ms", type=float, default=None, help="override every profile's latency"
    )
    parser.add_argument(
        "--stall-s", type=float, default=30.0, help="how long simulated timeouts stall"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("DRIFTGATE_SIM_API_KEY"),
        help="require this Bearer key (default: $DRIFTGATE_SIM_API_KEY)",
    )
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.latency_ms, stall_s=args.stall_s, api_key=args.api_key)


if __name__ == "__main__":
    main()
