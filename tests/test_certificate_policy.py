"""The certificate kind's pure parts: judging what was read, and its alert policy."""

from __future__ import annotations

import datetime as dt

import pytest

from licmon.checks.certificate import policy
from licmon.checks.certificate.reading import CertificateInfo
from licmon.checks.certificate.status import CertificateStatus, evaluate
from licmon.core.alerts import CHECK_FAILING, Message
from licmon.plugins import PLUGINS

pytestmark = pytest.mark.fast

NOW = dt.datetime(2026, 12, 7, 10, 30, tzinfo=dt.UTC)
LEVELS = (30, 14, 7, 1)
TEMPLATES = PLUGINS.templates()


def info(
    days: float, subject: str = "qlik.example.com", fingerprint: str = "aa"
) -> CertificateInfo:
    return CertificateInfo(
        subject=subject,
        issuer="Corp Issuing CA",
        not_after=NOW + dt.timedelta(days=days),
        serial="01",
        fingerprint=fingerprint,
    )


def read(proxy_days: float, client_days: float = 400) -> CertificateStatus:
    return evaluate(
        "prod",
        [
            ("qlik.example.com:443", [info(proxy_days)]),
            ("client:client.pem", [info(client_days, "QlikClient")]),
        ],
        NOW,
        LEVELS,
    )


@pytest.mark.parametrize(
    ("proxy_days", "status", "days"),
    [(100, "ok", 100), (30, "warning", 30), (0.25, "warning", 0), (-0.01, "expired", -1)],
)
def test_the_site_is_its_earliest_certificate(proxy_days: float, status: str, days: int) -> None:
    judged = read(proxy_days)
    assert (judged.status, judged.daysUntilExpiry) == (status, days)
    assert judged.earliest().endpoint == "qlik.example.com:443"  # type: ignore[union-attr]


def test_a_certificate_ending_later_today_has_zero_days_and_is_not_expired() -> None:
    (proxy, _) = read(0.25).certificates
    assert (proxy.daysUntilExpiry, proxy.expired) == (0, False)
    assert proxy.notAfter == "2026-12-07T16:30:00Z"


def test_status_json_round_trip() -> None:
    judged = read(10)
    assert CertificateStatus.from_json(judged.to_json()) == judged
    assert judged.to_json()["certificates"][0] == {
        "endpoint": "qlik.example.com:443",
        "subject": "qlik.example.com",
        "issuer": "Corp Issuing CA",
        "notAfter": "2026-12-17T10:30:00Z",
        "daysUntilExpiry": 10,
        "expired": False,
        "serial": "01",
        "fingerprint": "aa",
    }


def judge(status: CertificateStatus, part: dict) -> tuple[list[Message], dict]:
    return policy.judge(LEVELS, 24 * 3600, status, part)


def test_one_alert_per_level_crossed_for_the_lowest_level_on_a_jump() -> None:
    said, part = judge(read(100), {})
    assert said == []
    said, part = judge(read(10), part)  # 30 and 14 crossed at once: one alert, for 14
    assert [(m.what, m.fields["level"], m.fields["endpoint"]) for m in said] == [
        (policy.ABOUT_TO_EXPIRE, 14, "qlik.example.com:443")
    ]
    assert judge(read(9), part)[0] == []  # no new level
    said, part = judge(read(6), part)
    assert [m.fields["level"] for m in said] == [7]


def test_renewed_once_when_the_end_moves_later_then_levels_start_again() -> None:
    _, part = judge(read(10), {})
    said, part = judge(read(400), part)
    assert [(m.what, m.fields["daysLeft"]) for m in said] == [(policy.RENEWED, 400)]
    said, _ = judge(read(20), part)  # the new certificate crosses 30 again
    assert [m.fields["level"] for m in said] == [30]


def test_an_earlier_date_is_no_renewal() -> None:
    _, part = judge(read(10), {})
    said, _ = judge(read(9.5), part)
    assert said == []


def test_expired_once_then_again_after_the_repeat_interval() -> None:
    gone = read(-1)
    said, part = judge(gone, {})
    assert [m.what for m in said] == [policy.EXPIRED]
    assert judge(gone, part)[0] == []
    later = evaluate(
        "prod", [("qlik.example.com:443", [info(-1)])], NOW + dt.timedelta(hours=25), LEVELS
    )
    assert [m.what for m in judge(later, part)[0]] == [policy.EXPIRED]


def test_a_certificate_no_longer_read_is_forgotten() -> None:
    _, part = judge(read(10), {})
    assert set(part["certificates"]) == {
        "qlik.example.com:443|qlik.example.com",
        "client:client.pem|QlikClient",
    }
    only = evaluate("prod", [("client:client.pem", [info(400, "QlikClient")])], NOW, LEVELS)
    assert set(judge(only, part)[1]["certificates"]) == {"client:client.pem|QlikClient"}


def test_notices_name_the_site_endpoint_and_subject() -> None:
    (message,) = judge(read(10), {})[0]
    notice = policy.notice(message, TEMPLATES, "prod@1")
    assert notice.event == "certificate about to expire alert"
    assert notice.text == (
        "Certificate qlik.example.com of prod (qlik.example.com:443) expires in 10 days, "
        "on 2026-12-17T10:30:00Z"
    )
    assert notice.params == {
        "event": "certificate about to expire alert",
        "site": "prod",
        "endpoint": "qlik.example.com:443",
        "subject": "qlik.example.com",
        "issuer": "Corp Issuing CA",
        "notAfter": "2026-12-17T10:30:00Z",
        "daysUntilExpiry": 10,
        "level": 14,
    }
    expired = policy.notice(judge(read(-1), {})[0][0], TEMPLATES, "prod@2")
    assert expired.event == "certificate has expired alert"
    renewed = policy.notice(Message(policy.RENEWED, message.fields), TEMPLATES, "prod@3")
    assert renewed.event == "certificate renewed"
    failing = policy.notice(
        Message(CHECK_FAILING, {"site": "prod", "reason": "refused", "errorKind": "refused"}),
        TEMPLATES,
        "prod@4",
    )
    assert failing.event == "certificate check failing"
    assert failing.text == "Qlik Sense certificate check failing for prod: refused"
