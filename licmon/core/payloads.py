"""What each destination receives, built from a status: Butler's payloads, byte for byte.

Butler's keys, event names, texts and types are kept so existing dashboards, flows and
receivers go on working. Additions are only where Butler has no way to say it: `site` and
`checkId` in the MQTT status JSON, and headers on webhooks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from licmon.core.status import Level, LicenseStatus

INFLUX_MEASUREMENT = "qlik_sense_server_license"
EVENT_STATUS = "server license status"
EVENT_ABOUT_TO_EXPIRE = "server license about to expire alert"
EVENT_EXPIRED = "server license has expired alert"
HEADER_CHECK_ID = "X-Licmon-Check-Id"
HEADER_SITE = "X-Licmon-Site"


@dataclass(frozen=True)
class InfluxPoint:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, bool | float | str]
    timestamp: datetime


def influx_point(
    status: LicenseStatus, static_tags: Iterable[tuple[str, str]], timestamp: datetime
) -> InfluxPoint:
    """One point per check. Butler's field types are kept: InfluxDB fixes a field's type per
    shard, so `days_until_expiry` must stay a float. Null fields are left out, never written."""
    tags = dict(static_tags)
    tags["site"] = status.site
    fields: dict[str, bool | float | str] = {"license_expired": bool(status.licenseExpired)}
    if status.expiryDate is not None:
        fields["expiry_date"] = status.expiryDate
    if status.daysUntilExpiry is not None:
        fields["days_until_expiry"] = float(status.daysUntilExpiry)
    return InfluxPoint(INFLUX_MEASUREMENT, tags, fields, timestamp)


def butler_fields(status: LicenseStatus) -> dict[str, Any]:
    """Butler's three status keys, in Butler's order."""
    return {
        "licenseExpired": bool(status.licenseExpired),
        "expiryDateStr": status.expiryDateStr,
        "daysUntilExpiry": status.daysUntilExpiry,
    }


def mqtt_status_json(status: LicenseStatus, check_id: str) -> str:
    payload = butler_fields(status) | {
        "expiryDate": status.expiryDate,
        "site": status.site,
        "checkId": check_id,
    }
    return json.dumps(payload, separators=(",", ":"))


def alert_text(status: LicenseStatus) -> str:
    """Butler's plain-text alert. Only meaningful when `status.needs_alert`."""
    if status.status is Level.EXPIRED:
        if status.expiryDate is None:
            return "Qlik Sense server license has expired (the license gives no expiry date)"
        return f"Qlik Sense server license expired on {status.expiryDate}"
    return (
        f"Qlik Sense server license is about to expire in {status.daysUntilExpiry} days, "
        f"on {status.expiryDate}"
    )


def webhook_event(status: LicenseStatus, alert: bool) -> str:
    if not alert:
        return EVENT_STATUS
    return EVENT_EXPIRED if status.status is Level.EXPIRED else EVENT_ABOUT_TO_EXPIRE


def webhook_params(status: LicenseStatus, alert: bool) -> dict[str, Any]:
    """Butler's four keys: query parameters for GET, the JSON body for POST and PUT."""
    return {"event": webhook_event(status, alert)} | butler_fields(status)


def webhook_headers(status: LicenseStatus, check_id: str) -> dict[str, str]:
    """Receivers deduplicate redeliveries on the check id; the site tells replicas apart."""
    return {HEADER_CHECK_ID: check_id, HEADER_SITE: status.site}
