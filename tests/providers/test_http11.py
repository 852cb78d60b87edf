"""The lean HTTP/1.1 client against raw loopback servers: framing, keep-alive, bad input."""

import asyncio

import pytest

from driftgate.providers._http11 import ConnectionPool, HTTPProtocolError


async def serve(responses: list[bytes], *, close_after: int | None = None):
    """A server answering each request with the next canned response (split in two writes)."""
    seen: list[bytes] = []
    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    h.split(b":")[1]
                    for h in head.split(b"\r\n")
                    if h.lower().startswith(b"content-length")
                )
            )
            seen.append(head + await reader.readexactly(length))
            resp = responses[min(served, len(responses) - 1)]
            served += 1
            writer.write(resp[:7])
            await writer.drain()
            writer.write(resp[7:])
            await writer.drain()
            if close_after is not None and served % close_after == 0:
                writer.close()
                return

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


def run(coro):
    return asyncio.run(coro)


def test_content_length_and_keep_alive_reuse():
    async def main():
        ok = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a": true}'
        server, port, seen = await serve([ok])
        pool = ConnectionPool("127.0.0.1", port, default_headers={"Authorization": "Bearer k"})
        results = [
            await pool.post("/v1/chat/completions", b'{"x":1}', {"X-Case": "1"}) for _ in range(3)
        ]
        pool.close()
        server.close()
        return results, seen, pool

    results, seen, _ = run(main())
    assert all(
        r == (200, {"content-type": "application/json", "content-length": "11"}, b'{"a": true}')
        for r in results
    )
    assert seen[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert (
        b"Authorization: Bearer k\r\n" in seen[0]
        and b"X-Case: 1\r\n" in seen[0]
        and seen[0].endswith(b'{"x":1}')
    )


def test_chunked_body_and_error_status_headers():
    async def main():
        chunked = (
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4\r\nslow\r\n6\r\n down!\r\n0\r\n\r\n"
        )
        server, port, _ = await serve([chunked])
        pool = ConnectionPool("127.0.0.1", port, default_headers={})
        out = await pool.post("/", b"{}")
        server.close()
        return out

    status, headers, body = run(main())
    assert status == 429 and headers["retry-after"] == "2" and body == b"slow down!"


def test_server_closing_idle_connection_is_retried_once_on_a_fresh_one():
    async def main():
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        server, port, seen = await serve([ok], close_after=1)
        pool = ConnectionPool("127.0.0.1", port, default_headers={})
        first = await pool.post("/", b"1")
        await asyncio.sleep(0.05)  # the server has closed the kept-alive connection by now
        second = await pool.post("/", b"2")
        server.close()
        return first, second, seen

    first, second, seen = run(main())
    assert first[2] == second[2] == b"ok" and len(seen) == 2


def test_malformed_responses_are_protocol_errors():
    async def main(resp: bytes):
        server, port, _ = await serve([resp])
        pool = ConnectionPool("127.0.0.1", port, default_headers={})
        try:
            return await pool.post("/", b"{}")
        finally:
            server.close()

    with pytest.raises(HTTPProtocolError, match="status line"):
        run(main(b"garbage\r\n\r\n"))
    with pytest.raises(HTTPProtocolError, match="neither Content-Length"):
        run(main(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody"))


def test_timeout_closes_the_connection_instead_of_reusing_it():
    async def main():
        async def stall(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(5)

        server = await asyncio.start_server(stall, "127.0.0.1", 0)
        pool = ConnectionPool("127.0.0.1", server.sockets[0].getsockname()[1], default_headers={})
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await pool.post("/", b"")
        idle = len(pool._idle)
        server.close()
        return idle

    assert run(main()) == 0
