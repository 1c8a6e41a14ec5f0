"""What each destination receives of a server-license status: Butler's payloads, byte for byte.

Butler's keys, event names, texts and types are kept so existing dashboards, flows and
receivers go on working. Additions are only where Butler has no way to say it: `site` and
`checkId` in the MQTT status JSON, and headers on webhooks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from licmon.core.alerts import Message
from licmon.core.failure_notices import failure_notice, rendered
from licmon.core.license_alerts import ABOUT_TO_EXPIRE, EXPIRED, RENEWED, LevelPolicy, judge
from licmon.core.notices import InfluxPoint, Notice
from licmon.core.server_license import Level, LicenseStatus
from licmon.core.templates import DEFAULTS, MessageTemplate

INFLUX_MEASUREMENT = "qlik_sense_server_license"
EVENT_STATUS = "server license status"
EVENT_ABOUT_TO_EXPIRE = "server license about to expire alert"
EVENT_EXPIRED = "server license has expired alert"
EVENT_RENEWED = "server license renewed"
LABEL = "server license"
CHECK_MEASUREMENT = "qlik_sense_server_license_check"


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
    return butler_alerts(status)[0].text


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


def routine_notice(status: LicenseStatus) -> Notice:
    """The status of a routine check, sent every run to the status targets."""
    return Notice(
        alert=False,
        event=EVENT_STATUS,
        text=status_text(status),
        title=f"Qlik Sense license status: {status.site}",
        body=status_text(status),
        params=webhook_params(status, alert=False),
    )


def alert_notice(
    message: Message, chosen: Mapping[str, MessageTemplate], check_id: str = ""
) -> Notice:
    """One alert of the server license's policy, its texts from the templates `chosen`."""
    common = failure_notice(LABEL, message, chosen, check_id)
    if common is not None:
        return common
    fields = dict(message.fields)
    values = fields | {"license": LABEL, "checkId": check_id}
    days, expiry = fields.get("daysLeft"), fields.get("expiryDate")
    if message.what == RENEWED:
        params = {
            "event": EVENT_RENEWED,
            "site": fields.get("site"),
            "expiryDateStr": fields.get("expiryDateStr"),
            "daysUntilExpiry": days,
        }
        name = "renewed" if expiry is not None else "renewedPerpetual"
        return rendered(chosen[name], values, EVENT_RENEWED, params)
    if message.what == EXPIRED:
        event, name = EVENT_EXPIRED, "expired" if expiry is not None else "expiredUndated"
    elif message.what == ABOUT_TO_EXPIRE:
        event, name = EVENT_ABOUT_TO_EXPIRE, "aboutToExpire"
    else:
        raise ValueError(f"not a server license message: {message.what!r}")
    # Butler's four parameters, exactly.
    params = {
        "event": event,
        "licenseExpired": bool(fields.get("licenseExpired")),
        "expiryDateStr": fields.get("expiryDateStr"),
        "daysUntilExpiry": days,
    }
    return rendered(chosen[name], values, event, params)


def butler_alerts(status: LicenseStatus) -> list[Notice]:
    """Butler's alert of one check, as Butler decides it (every check at or past the
    threshold), in Butler's words."""
    # No history: nothing to have renewed, so only Butler's own two alerts can come out.
    messages, _ = judge(LevelPolicy(), status, {})
    return [alert_notice(message, DEFAULTS) for message in messages]


def notices(status: LicenseStatus) -> list[Notice]:
    """Butler's notices of one check: the routine status, then the alert when the license
    is at or past its threshold (the pipeline decides alerts with the policy instead)."""
    return [routine_notice(status), *butler_alerts(status)]
