"""Hostile webhook receivers: dripping, flooding, redirecting, escaping; real sockets.

Before the fix: a receiver dripping its answer was waited for as long as it dripped (119 s
with a 10 s timeout), a 1 GiB answer was read whole (+2 GB RSS), and a 302 to a cloud
metadata address was followed (POST turned into GET, our headers forwarded).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from licmon.senders.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from licmon.senders.webhook import WebhookTarget, send_webhook
from tests.hostile.net_support import (
    Peer,
    dripping_relay,
    in_thread,
    measured,
    peer,
    raw_server,
)
from tests.http_receiver import HttpReceiver, make_test_pki, run_receiver

TOKEN = "hook-t0ken-5ecret"
PARAMS = {"event": "server license status", "licenseExpired": False, "daysUntilExpiry": 30}
TIMEOUT = 0.5
DEADLINE = 2 * TIMEOUT  # connect + read


def target(port: int, method: str = "POST") -> WebhookTarget:
    return WebhookTarget(
        key="status-1",
        kind="status",
        description="ops",
        url=SecretStr(f"http://127.0.0.1:{port}/hooks/{TOKEN}?token={TOKEN}"),
        method=method,
        rate_limit_seconds=0,
        ca_file=None,
        reject_unauthorized=True,
        timeout=TIMEOUT,
    )


def send(port: int, method: str = "POST") -> None:
    send_webhook(target(port, method), PARAMS, {"X-Licmon-Site": "prod"})


def assert_secret_free(error: BaseException) -> None:
    assert isinstance(error, DeliveryError)
    for text in (str(error), repr(error), error.detail, error.target):
        assert TOKEN not in text and "/hooks" not in text
    # Nothing chained that a traceback (Celery stores one) would print with the URL in it.
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    yield from run_receiver()


@pytest.mark.parametrize("what", ["body", "headers"])
def test_a_dripping_receiver_is_cut_off_at_connect_plus_read(what: str) -> None:
    # A byte every 0.2 s: always within the 0.5 s read timeout; 2 KB of it would take 400 s.
    body = b"{" + b" " * 2048 + b"}"
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    behaviour = Peer(head=head, body=body, drip=0.2)
    if what == "body":  # the status line and headers at once, then the drip
        behaviour = Peer(head=b"", body=head + body, drip=0.2)
    with peer(behaviour) as server:
        error, seconds = in_thread(lambda: send(server.port), limit=30)
    assert isinstance(error, TransientDeliveryError), error
    assert error.detail == (
        f"POST: no complete answer within {DEADLINE:g} s (connect and read timeouts of "
        f"{TIMEOUT:g} s each)"
    )
    assert seconds < DEADLINE + 2.0
    assert_secret_free(error)


def test_a_dripped_tls_handshake_is_cut_off(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path / "pki")
    receiver = run_receiver(pki)
    tls = next(receiver)
    try:
        with raw_server(dripping_relay(tls.port, 0.2)) as relay:
            hook = dataclasses.replace(
                target(relay.port),
                url=SecretStr(f"https://127.0.0.1:{relay.port}/hooks/{TOKEN}"),
                ca_file=pki.ca_file,
            )
            error, seconds = in_thread(lambda: send_webhook(hook, PARAMS, {}), limit=30)
    finally:
        receiver.close()
    assert isinstance(error, TransientDeliveryError), error
    assert error.detail == f"POST: TLS handshake not completed within {TIMEOUT:g} s"
    assert seconds < DEADLINE + 2.0
    assert tls.received() == []
    assert_secret_free(error)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "close-delimited"])
def test_a_flood_of_an_answer_is_not_read(declared: bool) -> None:
    size = 256 * 2**20
    length = f"Content-Length: {size + 2}\r\n" if declared else "Connection: close\r\n"
    behaviour = Peer(head=f"HTTP/1.1 200 OK\r\n{length}\r\n".encode(), body=b"{}", endless=size)
    with peer(behaviour) as server, measured() as cost:
        send(server.port)  # the status is all that matters: delivered
        assert behaviour.hung_up.wait(10), "the connection was not closed"
    assert cost.peak_mb < 8, cost  # before the fix: all of it, and more
    assert cost.seconds < 10, cost
    assert behaviour.sent < size // 4


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_refused_naming_the_host_only(
    receiver: HttpReceiver, method: str, status: int
) -> None:
    location = receiver.url(f"/latest/meta-data/?token={TOKEN}", host="localhost")
    head = f"HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
    with (
        peer(Peer(head=head.encode(), body=b"")) as server,
        pytest.raises(PermanentDeliveryError) as caught,
    ):
        send(server.port, method)
    assert caught.value.detail == (
        f"{method}: HTTP {status} Moved, a redirect to host 'localhost': not followed; "
        "configure the webhook's new address if it moved"
    )
    assert receiver.received() == []  # nothing reached the redirect's target
    assert "meta-data" not in str(caught.value)
    assert_secret_free(caught.value)


def test_escape_codes_in_the_status_line_are_stripped() -> None:
    head = b"HTTP/1.1 500 \x1b]0;pwned\x07\x1b[2JOops\r\nContent-Length: 0\r\n\r\n"
    with peer(Peer(head=head, body=b"")) as server, pytest.raises(TransientDeliveryError) as caught:
        send(server.port)
    assert caught.value.detail == "POST: HTTP 500 Oops"


def test_a_refused_port_says_refused() -> None:
    from tests.services import free_port

    with pytest.raises(TransientDeliveryError) as caught:
        send(free_port())
    assert caught.value.detail == "POST: connection refused"
    assert_secret_free(caught.value)


def test_a_small_answer_keeps_the_connection_alive(receiver: HttpReceiver) -> None:
    """Bounding the read must not cost keep-alive: a normal answer is read whole."""
    hook = dataclasses.replace(target(receiver.port), url=SecretStr(receiver.url("/h")))
    with requests.Session() as session:
        for _ in range(3):
            send_webhook(hook, PARAMS, {}, session=session)
        pools = session.get_adapter("http://").poolmanager.pools
        (pool,) = [pools[key] for key in pools.keys()]  # noqa: SIM118 (a RecentlyUsedContainer)
        assert pool.num_connections == 1
    assert len(receiver.received("/h")) == 3
