"""A connection litellm could not make is recorded as one, with its reason, not "server 500"."""

import socket

from driftgate.providers.litellm_provider import _connection_failure


class APIConnectionError(Exception):  # the names litellm's and openai's wrappers carry
    pass


class InternalServerError(Exception):
    status_code = 500


class _Connector(OSError):
    host = "127.0.0.1"
    port = 9


def _chain(*excs: BaseException) -> BaseException:
    """excs[0] raised from excs[1] raised from …, as the SDKs wrap a failed connection."""
    for outer, inner in zip(excs, excs[1:], strict=False):
        outer.__cause__ = inner
    return excs[0]


def test_refused_connection_names_host_and_reason():
    exc = _chain(
        InternalServerError("Connection error."),
        APIConnectionError("Connection error."),
        _Connector("cannot connect"),
        ConnectionRefusedError(111, "Connect call failed"),
    )
    reason = _connection_failure(exc)
    assert reason == "127.0.0.1:9 (ConnectionRefusedError: [Errno 111] Connect call failed)"


def test_unresolved_host_and_an_unrelated_older_context_is_not_the_reason():
    old = socket.gaierror(-2, "Name or service not known (the price list)")
    refused = ConnectionRefusedError(111, "refused")
    refused.__context__ = old  # an earlier failure handled while this one was raised
    exc = _chain(InternalServerError("Connection error."), APIConnectionError("x"), refused)
    assert _connection_failure(exc) == "ConnectionRefusedError: [Errno 111] refused"


def test_a_real_server_error_or_a_timeout_is_not_a_connection_failure():
    assert _connection_failure(InternalServerError("boom")) is None

    class APITimeoutError(APIConnectionError):
        pass

    assert _connection_failure(_chain(APITimeoutError("slow"), TimeoutError())) is None
