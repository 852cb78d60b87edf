"""A lean HTTP/1.1 client for plain-http endpoints on the hot path.

aiohttp's per-request CPU (`client_cpu_ms` in docs/architecture.md, Measured figures) alone keeps a run with 64 calls
in flight against a 50 ms server far from the ideal N·L/C. Self-hosted OpenAI-compatible
servers (vLLM, Ollama, LM Studio, the simulator) are usually plain http on a private address,
and need little of HTTP: a POST, a JSON body, keep-alive, and a response framed by
Content-Length or chunked encoding. This module does exactly that over asyncio protocols (no
streams, no header objects), at a fraction of the cost. https and anything unusual stays on
aiohttp (`providers/http.py` decides).
"""

from __future__ import annotations

import asyncio
from collections import deque

from ..errors import HTTPProtocolError as HTTPProtocolError  # defined there, re-exported
from ..errors import StaleConnectionError as StaleConnectionError


class _Connection(asyncio.Protocol):
    __slots__ = ("transport", "buf", "waiter", "closed", "used")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.used = False  # served a response before: a failure may be a stale keep-alive

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            try:
                parsed = _parse(self.buf)
            except HTTPProtocolError as exc:
                self.waiter.set_exception(exc)
                return
            if parsed is not None:
                self.waiter.set_result(parsed)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self._lost_error())

    def _lost_error(self) -> Exception:
        """Why a request sent on this connection got no whole answer."""
        if self.buf:
            return HTTPProtocolError(
                f"connection closed after {len(self.buf)} bytes of the response (truncated body)"
            )
        if self.used:
            return StaleConnectionError(
                "the server closed a reused keep-alive connection after the request was sent "
                "(it may have been processed)"
            )
        return ConnectionResetError("connection closed by the server before it answered")

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _parse(buf: bytearray) -> tuple[int, dict[str, str], bytes, bool] | None:
    """(status, lower-cased headers, body, keep_alive) once the whole response is in `buf`."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HTTPProtocolError(f"bad status line {head[0][:80]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise HTTPProtocolError(f"bad status line {head[0][:80]!r}") from None
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    start = end + 4
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        pos = start
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            try:
                size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            except ValueError:
                raise HTTPProtocolError("bad chunk size") from None
            if size == 0:
                trailer_end = buf.find(b"\r\n\r\n", eol)  # "0\r\n" [trailers] "\r\n"
                if trailer_end < 0:
                    return None
                consumed = trailer_end + 4
                break
            if len(buf) < eol + 2 + size + 2:
                return None
            body += buf[eol + 2 : eol + 2 + size]
            pos = eol + 2 + size + 2
        del buf[:consumed]
        data = bytes(body)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise HTTPProtocolError("bad Content-Length") from None
        if len(buf) < start + length:
            return None
        data = bytes(buf[start : start + length])
        del buf[: start + length]
    else:
        # Framed by closing the connection: not supported on this path (servers that do this
        # go through aiohttp); refuse rather than guess where the body ends.
        raise HTTPProtocolError("response has neither Content-Length nor chunked encoding")
    keep_alive = headers.get("connection", "").lower() != "close"
    return status, headers, data, keep_alive


class ConnectionPool:
    """Keep-alive connections to one host:port, reused last-in first-out."""

    def __init__(self, host: str, port: int, *, default_headers: dict[str, str]) -> None:
        self.host = host
        self.port = port
        self._idle: deque[_Connection] = deque()
        self._prefix = "".join(f"{k}: {v}\r\n" for k, v in default_headers.items())
        self._host_header = f"Host: {host}:{port}\r\n"
        self.sends = 0  # requests written: every one is an attempt the caller counts

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        return conn

    def _idle_connection(self) -> _Connection | None:
        """The most recently used idle connection still open. One the server closed while
        idle is noticed here, before any byte is written, and dropped: nothing was sent."""
        while self._idle:
            cand = self._idle.pop()
            if not cand.closed:
                return cand
        return None

    async def post(
        self, path: str, body: bytes, extra_headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One send of one request: never re-sent here. A failure once the request was
        written raises (`StaleConnectionError`, `ConnectionResetError`, `HTTPProtocolError`
        for a truncated body): the server may have processed it, so only the caller's retry
        policy may send it again, counted as an attempt (issue #16 item 14)."""
        head = f"POST {path} HTTP/1.1\r\n{self._host_header}{self._prefix}Content-Length: {len(body)}\r\n"
        if extra_headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in extra_headers.items())
        request = head.encode("latin-1") + b"\r\n" + body
        conn = self._idle_connection() or await self._connect()
        conn.waiter = asyncio.get_running_loop().create_future()
        try:
            assert conn.transport is not None
            self.sends += 1
            conn.transport.write(request)
            status, headers, data, keep_alive = await conn.waiter
        except BaseException:
            conn.close()  # reset, truncated, timed out or cancelled: never reuse it
            raise
        conn.waiter = None
        conn.used = True
        if keep_alive and not conn.closed and not conn.buf:
            self._idle.append(conn)
        else:
            conn.close()
        return status, headers, data

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
