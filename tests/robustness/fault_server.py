"""An in-process OpenAI-compatible server that injects faults at the byte level.

Byte level because the faults that matter for lost or duplicated work live below HTTP
frameworks: a connection reset after the request was read, a body cut short of its
Content-Length, a keep-alive connection closed while the client reuses it. The simulator
server (`driftgate.providers.sim_server`, aiohttp) plays 429/5xx/garbage/stalls well but
cannot cut a body or reset a socket mid-exchange, so this one speaks HTTP/1.1 itself.

    with FaultServer(rate=0.1, seed=7) as server:      # server.url → http://127.0.0.1:PORT/v1
        ...
    server.sends         # every request the server read, per (case id, repeat)
    server.injected      # faults injected, per kind

Answers are right: the label in the `X-Driftgate-Case` header (sent to `sim/` models), so a
case that gets an answer passes and every failure is a fault. Whether a request faults is a
function of (seed, case, repeat, send number): a retried request may succeed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import struct
import threading
from collections import Counter
from pathlib import Path
from typing import Any

KINDS = (
    "rate_limit",  # 429 with Retry-After
    "server",  # 500 / 503
    "timeout",  # no answer within the client's timeout
    "reset",  # the connection is reset after the request was read
    "malformed",  # a 200 whose body is not JSON
    "empty_choices",  # a 200 with "choices": []
    "truncated",  # a 200 whose body stops short of its Content-Length
)


class FaultServer:
    def __init__(
        self,
        *,
        rate: float = 0.1,
        seed: int = 0,
        kinds: tuple[str, ...] = KINDS,
        stall_s: float = 1.0,
        retry_after_s: float = 0.01,
        echo_auth_401: bool = False,
        reset_idle_after: int | None = None,
    ) -> None:
        self.rate = rate
        self.seed = seed
        self.kinds = kinds
        self.stall_s = stall_s
        self.retry_after_s = retry_after_s
        self.echo_auth_401 = echo_auth_401  # a provider that echoes the Authorization header
        # Close a keep-alive connection without answering once it served this many requests
        # (the server-side race that makes a client's reused connection fail mid-request).
        self.reset_idle_after = reset_idle_after
        self.sends: Counter[tuple[str, int]] = Counter()
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._lock = threading.Lock()
        self._writers: set[asyncio.StreamWriter] = set()

    # ---- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> FaultServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0)
            )
            port = self._server.sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}/v1"
            ready.set()
            loop.run_forever()
            self._server.close()
            for writer in list(self._writers):  # open keep-alive connections
                writer.transport.abort()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="fault-server")
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # ---- one connection ----------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                headers, body = request
                if self.reset_idle_after is not None and served >= self.reset_idle_after:
                    with self._lock:
                        self.requests += 1
                        self.sends[_case_key(headers, body)] += 1
                        self.injected["reset_reused"] += 1
                    _reset(writer)
                    return
                served += 1
                if not await self._answer(headers, body, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            if not writer.is_closing():
                writer.close()

    async def _answer(
        self, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must not be used again."""
        key = _case_key(headers, body)
        with self._lock:
            self.requests += 1
            self.sends[key] += 1
            number = self.sends[key]
        if self.echo_auth_401:
            message = f"invalid api key: {headers.get('authorization', '')}"
            writer.write(_response(401, {"error": {"message": message}}))
            await writer.drain()
            return True
        kind = self._fault(key, number)
        if kind is not None:
            with self._lock:
                self.injected[kind] += 1
            return await self._inject(kind, writer)
        writer.write(_response(200, _completion(headers)))
        await writer.drain()
        return True

    def _fault(self, key: tuple[str, int], number: int) -> str | None:
        digest = hashlib.blake2b(f"{self.seed}|{key}|{number}".encode(), digest_size=8).digest()
        x = int.from_bytes(digest, "big") / 2**64
        if x >= self.rate:
            return None
        return self.kinds[int(x / self.rate * len(self.kinds)) % len(self.kinds)]

    async def _inject(self, kind: str, writer: asyncio.StreamWriter) -> bool:
        if kind == "rate_limit":
            writer.write(
                _response(
                    429,
                    {"error": {"message": "slow down"}},
                    {"Retry-After": f"{self.retry_after_s:g}"},
                )
            )
        elif kind == "server":
            writer.write(_response(503, {"error": {"message": "overloaded"}}))
        elif kind == "timeout":
            await asyncio.sleep(self.stall_s)
            return False  # the client gave up on this connection
        elif kind == "reset":
            _reset(writer)
            return False
        elif kind == "malformed":
            writer.write(_raw(200, b'{"choices": [{"message": {"content": "x"'))
        elif kind == "empty_choices":
            writer.write(_response(200, {"id": "x", "choices": []}))
        elif kind == "truncated":
            full = json.dumps({"choices": [{"message": {"content": "truncated answer"}}]})
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(full)}\r\n\r\n"
            )
            writer.write(head.encode() + full.encode()[: len(full) // 3])
            await writer.drain()
            writer.close()  # a clean close short of Content-Length
            return False
        else:  # pragma: no cover - a kind this server does not know
            raise ValueError(kind)
        await writer.drain()
        return True


def _case_key(headers: dict[str, str], body: bytes) -> tuple[str, int]:
    hint = headers.get("x-driftgate-case")
    if hint:
        data = json.loads(hint)
        return str(data["id"]), int(data.get("repeat") or 0)
    return hashlib.sha1(body).hexdigest(), 0


def _completion(headers: dict[str, str]) -> dict[str, Any]:
    hint = json.loads(headers.get("x-driftgate-case") or "{}")
    answer = hint.get("expected")
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "model": "fault",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": str(answer or "ok")},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1},
    }


async def _read_request(reader: asyncio.StreamReader) -> tuple[dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed an idle connection
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return headers, body


def _response(status: int, data: Any, headers: dict[str, str] | None = None) -> bytes:
    return _raw(status, json.dumps(data).encode(), headers)


def _raw(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed or overloaded server does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def fault_suite(root: Path, url: str, extra: str = "") -> None:
    """The workspace's main suite on an OpenAI-compatible model at `url` (this server):
    short timeouts and enough retries for the injected faults; `extra` adds model keys."""
    (root / "evalsets" / "main.suite.yaml").write_text(
        "prompts: [cat@v1]\nevalsets: [tx]\n"
        "models:\n"
        f"  - {{id: openai/sim/perfect@v1, api_base: '{url}', timeout_s: 0.3, "
        f"concurrency: 16, max_retries: 6{extra}}}\n"
        "scorers:\n  - {type: label-match, metric: category}\n"
        "pass_threshold: 0.9\nmax_error_rate: 0.05\n"
    )
