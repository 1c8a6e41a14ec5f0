"""Hostile InfluxDB endpoints, 1.x (`/write`) and 2.x/3.x (`/api/v2/write`), on real sockets.

Before the fix: a refused 2.x port was reported as "connection not established within 10 s"
(urllib3's NewConnectionError is a subclass of its ConnectTimeoutError), a dripping server
was never cut off, an error body of any size was read whole, and a 2.x token with a newline
left as `Invalid header value b'Token …\\n'`, the token in clear, in the log, the dead letter
and the task result.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from licmon.senders.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from licmon.senders.influxdb import InfluxSettings, make_influx_writer, write_point
from tests.hostile.net_support import Peer, in_thread, measured, peer
from tests.services import free_port

TOKEN = "influx-t0ken-5ecret"
PASSWORD = "influx-pa55-5ecret"
TIMEOUT = 1.0
FIELDS = {"license_expired": False, "expiry_date": "2026-12-28", "days_until_expiry": 30.0}


def settings(version: int, port: int, **options: Any) -> InfluxSettings:
    base: dict[str, Any] = {
        "version": version,
        "url": f"http://127.0.0.1:{port}",
        "timeout": TIMEOUT,
        "database": "butler",
        "org": "qlik",
        "bucket": "butler",
        "username": "admin",
        "password": SecretStr(PASSWORD),
        "token": SecretStr(TOKEN),
    }
    return InfluxSettings(**(base | options))


def write(version: int, port: int, **options: Any) -> None:
    import datetime as dt

    writer = make_influx_writer(settings(version, port, **options))
    try:
        write_point(
            writer, "qlik_sense_server_license", {"site": "prod"}, FIELDS, dt.datetime.now(dt.UTC)
        )
    finally:
        writer.close()


def assert_secret_free(error: BaseException) -> None:
    assert isinstance(error, DeliveryError)
    for text in (str(error), repr(error), error.detail, error.target):
        assert TOKEN not in text and PASSWORD not in text
    # Nothing chained that a traceback (Celery stores one) would print.
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


VERSIONS = pytest.mark.parametrize("version", [1, 2, 3])


@VERSIONS
def test_a_refused_port_says_refused(version: int) -> None:
    with pytest.raises(TransientDeliveryError) as caught:
        write(version, free_port())
    assert caught.value.detail.endswith("connection refused"), caught.value
    assert_secret_free(caught.value)


@VERSIONS
@pytest.mark.parametrize("what", ["headers", "body"])
def test_a_dripping_server_is_cut_off_at_connect_plus_read(version: int, what: str) -> None:
    body = b'{"error": "' + b"x" * 2048 + b'"}'
    head = f"HTTP/1.1 500 Internal Server Error\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    behaviour = Peer(head=head, body=body, drip=0.3)
    if what == "body":
        behaviour = Peer(head=b"", body=head + body, drip=0.3)
    with peer(behaviour) as server:
        error, seconds = in_thread(lambda: write(version, server.port), limit=30)
    assert isinstance(error, TransientDeliveryError), error
    assert error.detail.endswith(
        "no complete answer within 2 s (connect and read timeouts of 1 s each)"
    ), error
    assert seconds < 2 * TIMEOUT + 2.0
    assert_secret_free(error)


@VERSIONS
def test_a_flood_of_an_error_body_is_not_read(version: int) -> None:
    size = 256 * 2**20
    head = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n"
    behaviour = Peer(head=head, body=b'{"error": "overloaded ', endless=size)
    with peer(behaviour) as server, measured() as cost:
        with pytest.raises(TransientDeliveryError) as caught:
            write(version, server.port)
        assert behaviour.hung_up.wait(10), "the connection was not closed"
    assert cost.peak_mb < 8, cost
    assert cost.seconds < 10, cost
    assert "HTTP 503" in caught.value.detail and len(caught.value.detail) < 400
    assert behaviour.sent < size // 4


@VERSIONS
def test_escape_codes_in_an_error_body_are_stripped(version: int) -> None:
    body = b'{"error": "\\u001b]0;pwned\\u0007\\u001b[2Jbad line", "message": "\\u001b[31mbad"}'
    head = f"HTTP/1.1 400 Bad Request\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with (
        peer(Peer(head=head, body=body)) as server,
        pytest.raises(PermanentDeliveryError) as caught,
    ):
        write(version, server.port)
    assert "\x1b" not in caught.value.detail and "\x07" not in caught.value.detail
    assert caught.value.detail.endswith("bad line" if version == 1 else "bad")


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("token", [f"{TOKEN}\n", f"{TOKEN}\r\nX-Injected: 1", f"{TOKEN}€"])
def test_a_token_http_cannot_carry_is_never_quoted(version: int, token: str) -> None:
    behaviour = Peer()
    with peer(behaviour) as server, pytest.raises(PermanentDeliveryError) as caught:
        write(version, server.port, token=SecretStr(token))
    assert behaviour.requests == []  # refused before anything was sent (no header injected)
    assert_secret_free(caught.value)
    assert "header" in caught.value.detail or "token" in caught.value.detail


def test_a_password_http_cannot_carry_is_never_quoted() -> None:
    with peer(Peer()) as server, pytest.raises(PermanentDeliveryError) as caught:
        write(1, server.port, password=SecretStr(f"{PASSWORD}€"))
    assert caught.value.detail == "credentials HTTP cannot carry (not Latin-1)"
    assert_secret_free(caught.value)
