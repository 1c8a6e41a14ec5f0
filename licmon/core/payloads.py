"""What each destination receives of a server-license status: Butler's payloads, byte for byte.

Butler's keys, event names, texts and types are kept so existing dashboards, flows and
receivers go on working. Additions are only where Butler has no way to say it: `site` and
`checkId` in the MQTT status JSON, and headers on webhooks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from licmon.core.notices import InfluxPoint, Notice
from licmon.core.server_license import Level, LicenseStatus

INFLUX_MEASUREMENT = "qlik_sense_server_license"
EVENT_STATUS = "server license status"
EVENT_ABOUT_TO_EXPIRE = "server license about to expire alert"
EVENT_EXPIRED = "server license has expired alert"


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


def status_document(status: LicenseStatus, check_id: str) -> dict[str, Any]:
    """The MQTT status JSON: Butler's three keys first, then ours."""
    return butler_fields(status) | {
        "expiryDate": status.expiryDate,
        "site": status.site,
        "checkId": check_id,
    }


def mqtt_status_json(status: LicenseStatus, check_id: str) -> str:
    return json.dumps(status_document(status, check_id), separators=(",", ":"))


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


def status_text(status: LicenseStatus) -> str:
    """One line for people about a routine check."""
    if status.daysUntilExpiry is None:
        return f"Qlik Sense server license of {status.site}: {status.status.value}, no end date"
    return (
        f"Qlik Sense server license of {status.site}: {status.status.value}, "
        f"{status.daysUntilExpiry} days left, valid until {status.expiryDate}"
    )


def notices(status: LicenseStatus) -> list[Notice]:
    """The routine status, then Butler's alert when the license is at or past its threshold."""
    said = [
        Notice(
            alert=False,
            event=EVENT_STATUS,
            text=status_text(status),
            title=f"Qlik Sense license status: {status.site}",
            body=status_text(status),
            params=webhook_params(status, alert=False),
        )
    ]
    if status.needs_alert:
        text = alert_text(status)
        said.append(
            Notice(
                alert=True,
                event=webhook_event(status, alert=True),
                text=text,
                title=f"Qlik Sense license alert: {status.site}",
                body=f"{status.site}: {text}",
                params=webhook_params(status, alert=True),
            )
        )
    return said
