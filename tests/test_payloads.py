"""Payloads are Butler's, as docs/configuration.md's "What it sends" lists them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from licmon.core import payloads
from licmon.core.server_license import LicenseStatus, evaluate_license

pytestmark = pytest.mark.fast

NOW = datetime(2026, 11, 28, 3, 17, tzinfo=UTC)
TICK = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
CHECK_ID = "prod@2026-11-28T00:00:00Z"


def status_for(key_details: str, is_expired: bool = False) -> LicenseStatus:
    answer = {"keyDetails": key_details, "isExpired": is_expired}
    return evaluate_license("prod", answer, NOW, 60)


THIRTY_DAYS = status_for("Valid To: 2026-12-28")
EXPIRED = status_for("Valid To: 2026-11-18 12:00:00 AM")
PERPETUAL = status_for("")


def test_mqtt_status_starts_with_butlers_three_keys_and_types() -> None:
    payload = json.loads(payloads.mqtt_status_json(THIRTY_DAYS, CHECK_ID))
    assert list(payload)[:3] == ["licenseExpired", "expiryDateStr", "daysUntilExpiry"]
    assert payload == {
        "licenseExpired": False,
        "expiryDateStr": "2026-12-28",
        "daysUntilExpiry": 30,
        "expiryDate": "2026-12-28",
        "site": "prod",
        "checkId": CHECK_ID,
    }
    assert payloads.mqtt_status_json(THIRTY_DAYS, CHECK_ID).startswith(
        '{"licenseExpired":false,"expiryDateStr":"2026-12-28","daysUntilExpiry":30,'
    )


def test_alert_texts() -> None:
    assert (
        payloads.alert_text(THIRTY_DAYS)
        == "Qlik Sense server license is about to expire in 30 days, on 2026-12-28"
    )
    assert payloads.alert_text(EXPIRED) == "Qlik Sense server license expired on 2026-11-18"
    no_date = status_for("", is_expired=True)
    assert payloads.alert_text(no_date) == (
        "Qlik Sense server license has expired (the license gives no expiry date)"
    )


def test_webhook_params_are_exactly_butlers() -> None:
    assert payloads.webhook_params(THIRTY_DAYS, alert=False) == {
        "event": "server license status",
        "licenseExpired": False,
        "expiryDateStr": "2026-12-28",
        "daysUntilExpiry": 30,
    }
    assert payloads.webhook_params(THIRTY_DAYS, alert=True)["event"] == (
        "server license about to expire alert"
    )
    assert payloads.webhook_params(EXPIRED, alert=True) == {
        "event": "server license has expired alert",
        "licenseExpired": True,
        "expiryDateStr": "2026-11-18 12:00:00 AM",
        "daysUntilExpiry": -10,
    }


def test_notices_are_the_status_then_butlers_alert() -> None:
    status, alert = payloads.notices(THIRTY_DAYS)
    assert (status.alert, status.event, status.params) == (
        False,
        "server license status",
        payloads.webhook_params(THIRTY_DAYS, alert=False),
    )
    assert (
        status.text
        == "Qlik Sense server license of prod: warning, 30 days left, valid until 2026-12-28"
    )
    assert (alert.alert, alert.event, alert.text) == (
        True,
        "server license about to expire alert",
        "Qlik Sense server license is about to expire in 30 days, on 2026-12-28",
    )
    assert alert.params == payloads.webhook_params(THIRTY_DAYS, alert=True)
    # Chat readers see the site, the days left and the date in the title and body.
    assert alert.title == "Qlik Sense license alert: prod"
    assert alert.body == f"prod: {alert.text}"
    (_, expired_alert) = payloads.notices(EXPIRED)
    assert expired_alert.text == "Qlik Sense server license expired on 2026-11-18"
    assert [notice.alert for notice in payloads.notices(PERPETUAL)] == [False]


def test_influx_point_keeps_butlers_field_types() -> None:
    point = payloads.influx_point(THIRTY_DAYS, [("foo", "bar"), ("site", "overridden")], TICK)
    assert point.measurement == "qlik_sense_server_license"
    assert point.tags == {"foo": "bar", "site": "prod"}
    assert point.fields == {
        "license_expired": False,
        "expiry_date": "2026-12-28",
        "days_until_expiry": 30.0,
    }
    assert isinstance(point.fields["days_until_expiry"], float)
    assert point.timestamp == TICK


def test_influx_point_of_perpetual_license_has_no_null_fields() -> None:
    point = payloads.influx_point(PERPETUAL, [], TICK)
    assert point.fields == {"license_expired": False}


def test_influx_point_of_expired_license() -> None:
    point = payloads.influx_point(EXPIRED, [], TICK)
    assert point.fields == {
        "license_expired": True,
        "expiry_date": "2026-11-18",
        "days_until_expiry": -10.0,
    }
