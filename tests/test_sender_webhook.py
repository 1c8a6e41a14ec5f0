"""send_webhook against a real HTTP(S) receiver on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from pydantic import SecretStr

from licmon.senders.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from licmon.senders.webhook import WebhookTarget, redact_url, send_webhook
from tests.http_receiver import HttpReceiver, Pki, make_test_pki, run_receiver

PARAMS = {
    "event": "server license about to expire alert",
    "licenseExpired": False,
    "expiryDateStr": "2026-12-28",
    "daysUntilExpiry": 30.0,
}
SECRET = "s3cr3t-t0ken"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    yield from run_receiver()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_test_pki(tmp_path_factory.mktemp("webhook-pki"))


@pytest.fixture
def tls_receiver(pki: Pki) -> Iterator[HttpReceiver]:
    yield from run_receiver(pki)


def target(url: str, method: str = "POST", **kwargs: object) -> WebhookTarget:
    return WebhookTarget(
        key="alert-1",
        kind="alert",
        description="ops channel",
        url=SecretStr(url),
        method=method,
        **(
            {
                "rate_limit_seconds": 300,
                "ca_file": None,
                "reject_unauthorized": True,
                "timeout": 10.0,
            }
            | kwargs
        ),  # type: ignore[arg-type]
    )


def test_get_merges_params_into_existing_query(receiver: HttpReceiver) -> None:
    url = receiver.url(f"/license-alert/get?token={SECRET}&channel=ops&event=old")
    send_webhook(target(url, "get"), PARAMS, {})

    (request,) = receiver.received("/license-alert/get")
    assert request.method == "GET"
    assert request.params == [
        ("token", SECRET),
        ("channel", "ops"),
        ("event", "server license about to expire alert"),
        ("licenseExpired", "false"),
        ("expiryDateStr", "2026-12-28"),
        ("daysUntilExpiry", "30"),
    ]
    assert request.body == b""


def test_get_without_query_matches_butler_capture(receiver: HttpReceiver) -> None:
    send_webhook(target(receiver.url("/license-alert/get"), "GET"), PARAMS, {})
    (request,) = receiver.received()
    assert request.query == (
        "event=server+license+about+to+expire+alert&licenseExpired=false"
        "&expiryDateStr=2026-12-28&daysUntilExpiry=30"
    )


def test_get_leaves_out_none_and_keeps_fractions(receiver: HttpReceiver) -> None:
    params = {"event": "server license status", "daysUntilExpiry": None, "ratio": 1.5}
    send_webhook(target(receiver.url("/g"), "GET"), params, {})
    (request,) = receiver.received()
    assert request.params == [("event", "server license status"), ("ratio", "1.5")]


@pytest.mark.parametrize("method", ["POST", "put", "Post"])
def test_post_and_put_send_json_body_and_headers(receiver: HttpReceiver, method: str) -> None:
    params = {**PARAMS, "daysUntilExpiry": None}
    send_webhook(
        target(receiver.url("/license-monitor/post?x=1"), method),
        params,
        {"X-Api-Key": "k-123", "X-Site": "prod"},
    )
    (request,) = receiver.received("/license-monitor/post")
    assert request.method == method.upper()
    assert request.query == "x=1"  # the URL's own query string is kept as is
    assert request.json() == params
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-api-key"] == "k-123"
    assert request.headers["x-site"] == "prod"


def test_get_passes_headers(receiver: HttpReceiver) -> None:
    send_webhook(target(receiver.url("/h"), "GET"), PARAMS, {"Authorization": "Bearer abc"})
    assert receiver.received("/h")[0].headers["authorization"] == "Bearer abc"


def test_uses_a_given_session(receiver: HttpReceiver) -> None:
    with requests.Session() as session:
        session.headers["User-Agent"] = "licmon-test"
        send_webhook(target(receiver.url("/s")), PARAMS, {}, session=session)
        send_webhook(target(receiver.url("/s")), PARAMS, {}, session=session)
    assert [r.headers["user-agent"] for r in receiver.received("/s")] == ["licmon-test"] * 2


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_timeout_on_hanging_receiver(receiver: HttpReceiver, method: str) -> None:
    receiver.on("/hang", hang=True)
    started = time.monotonic()
    with pytest.raises(TransientDeliveryError) as info:
        send_webhook(target(receiver.url(f"/hang?token={SECRET}"), method, timeout=0.5), PARAMS, {})
    assert time.monotonic() - started < 3
    assert "no answer within 0.5 s" in str(info.value)
    assert info.value.transient is True


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (500, TransientDeliveryError),
        (503, TransientDeliveryError),
        (408, TransientDeliveryError),
        (429, TransientDeliveryError),
        (404, PermanentDeliveryError),
        (401, PermanentDeliveryError),
        (400, PermanentDeliveryError),
    ],
)
def test_http_status_classification(
    receiver: HttpReceiver, status: int, error_type: type[DeliveryError]
) -> None:
    receiver.on("/status", status=status)
    url = receiver.url(f"/status?token={SECRET}")
    with pytest.raises(error_type) as info:
        send_webhook(target(url), PARAMS, {})
    error = info.value
    assert error.destination == "webhook"
    assert error.target.startswith("alert-1 (ops channel)")
    assert f"HTTP {status}" in str(error)
    assert error.transient is (error_type is TransientDeliveryError)


def test_connection_refused_is_transient_and_url_stays_secret() -> None:
    from tests.services import free_port

    url = f"http://user:{SECRET}@127.0.0.1:{free_port()}/hook/{SECRET}?token={SECRET}"
    with pytest.raises(TransientDeliveryError) as info:
        send_webhook(target(url, "GET"), PARAMS, {})
    text = str(info.value)
    assert "connection refused" in text
    assert SECRET not in text and "/hook" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_url_never_in_error_text(receiver: HttpReceiver) -> None:
    receiver.on(f"/hook/{SECRET}", status=500)
    url = receiver.url(f"/hook/{SECRET}?token={SECRET}")
    for method in ("GET", "POST"):
        with pytest.raises(DeliveryError) as info:
            send_webhook(target(url, method), PARAMS, {})
        for text in (str(info.value), repr(info.value), info.value.target, info.value.detail):
            assert SECRET not in text
            assert url not in text
    assert redact_url(url) in str(info.value)


def test_unsupported_method_is_permanent(receiver: HttpReceiver) -> None:
    with pytest.raises(PermanentDeliveryError, match="unsupported HTTP method"):
        send_webhook(target(receiver.url("/x"), "DELETE"), PARAMS, {})
    assert receiver.received() == []


def test_custom_ca_accepted(tls_receiver: HttpReceiver, pki: Pki) -> None:
    send_webhook(target(tls_receiver.url("/tls"), ca_file=pki.ca_file), PARAMS, {})
    assert tls_receiver.received("/tls")[0].json() == PARAMS


def test_unknown_ca_refused_permanently(tls_receiver: HttpReceiver, pki: Pki) -> None:
    url = tls_receiver.url(f"/tls?token={SECRET}")
    with pytest.raises(PermanentDeliveryError) as info:
        send_webhook(target(url, ca_file=pki.other_ca_file), PARAMS, {})
    assert "TLS certificate verification failed" in str(info.value)
    assert SECRET not in str(info.value)
    # The system trust store does not know our CA either.
    with pytest.raises(PermanentDeliveryError, match="certificate verification failed"):
        send_webhook(target(url), PARAMS, {})
    assert tls_receiver.received() == []


def test_reject_unauthorized_false_accepted(tls_receiver: HttpReceiver) -> None:
    with pytest.warns(Warning):  # urllib3 says the certificate went unchecked
        send_webhook(target(tls_receiver.url("/insecure"), reject_unauthorized=False), PARAMS, {})
    assert len(tls_receiver.received("/insecure")) == 1


def test_redact_url() -> None:
    assert redact_url("https://u:p@hooks.example.com/services/T0/B1/XYZ?x=1#f") == (
        "https://hooks.example.com/…"
    )
    assert redact_url("http://127.0.0.1:8080/a?token=1") == "http://127.0.0.1:8080/…"
    assert redact_url("http://[::1]:81/p") == "http://[::1]:81/…"
    assert redact_url("not a url") == "<unparseable url>"
    assert redact_url("http://host:notaport/x") == "<unparseable url>"


def test_errors_pickle_for_celery_results() -> None:
    import pickle

    for error in (
        TransientDeliveryError("webhook", "alert-1", "HTTP 500"),
        PermanentDeliveryError("mqtt", "broker:1883", "Not authorized"),
        DeliveryError("influxdb", "db", "x", transient=True),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (copy.destination, copy.target, copy.transient, str(copy)) == (
            error.destination,
            error.target,
            error.transient,
            str(error),
        )


def test_is_transient_http_status() -> None:
    from licmon.senders.errors import is_transient_http_status

    assert [c for c in (400, 401, 403, 404, 408, 409, 422, 429) if is_transient_http_status(c)] == [
        408,
        429,
    ]
    assert all(is_transient_http_status(c) for c in (500, 502, 503, 504))
