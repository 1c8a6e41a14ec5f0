"""A tenant's alert policy. Pure.

Its end: the server license's level policy (licmon/core/license_alerts.py) with the levels
of `licmon.cloudAlerts.thresholdsDays`: one alert per level crossed (the lowest on a jump),
"has expired" once and again every `repeat_expired_seconds` while it stays so (a status
other than `Ok` counts as expired, and the alert says which), "renewed" once when the end
moves later or the license number changes, if it had been alerted about.
Its allotments: "low" once when one reaches its minimum, "recovered" once when it is above
it again.

The history part it keeps for one tenant and one target: `license` (number|end), `levels`,
`alerted`, `expiredAt`, and `low` (the allotments last said to be low).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from licmon.checks.qlik_cloud.status import EXPIRED as LEVEL_EXPIRED
from licmon.checks.qlik_cloud.status import CloudStatus, allotments_by_name
from licmon.core.alerts import Message
from licmon.core.failure_notices import failure_notice, rendered
from licmon.core.notices import Notice
from licmon.core.templates import MessageTemplate

ABOUT_TO_EXPIRE = "cloud_about_to_expire"
EXPIRED = "cloud_expired"
RENEWED = "cloud_renewed"
LOW = "cloud_allotment_low"
RECOVERED = "cloud_allotment_recovered"
LABEL = "Qlik Cloud license"

EVENTS = {
    ABOUT_TO_EXPIRE: "cloud license about to expire alert",
    EXPIRED: "cloud license has expired alert",
    RENEWED: "cloud license renewed",
    LOW: "cloud allotment low",
    RECOVERED: "cloud allotment recovered",
}
TEMPLATE_NAMES = {
    ABOUT_TO_EXPIRE: "cloudAboutToExpire",
    EXPIRED: "cloudExpired",
    RENEWED: "cloudRenewed",
    LOW: "cloudAllotmentLow",
    RECOVERED: "cloudAllotmentRecovered",
}
_ABOUT = "Qlik Cloud license of ${site} ends in ${daysLeft} days, on ${expiryDate}"
_EXPIRED = "Qlik Cloud license of ${site} is ${licenseStatus}: users cannot reach the tenant"
_RENEWED = "Qlik Cloud license of ${site} renewed, now valid until ${expiryDate}"
_LOW = "Qlik Cloud ${allotment} allotment low on ${site}: ${available} of ${total} available"
_BACK = "Qlik Cloud ${allotment} allotment recovered on ${site}: ${available} of ${total} available"
_TITLE = "Qlik Cloud license: ${site}"
TEMPLATES = {
    "cloudAboutToExpire": MessageTemplate(_ABOUT, _TITLE, _ABOUT),
    "cloudExpired": MessageTemplate(_EXPIRED, _TITLE, _EXPIRED + " (ends ${expiryDate})"),
    "cloudRenewed": MessageTemplate(_RENEWED, _TITLE, _RENEWED + " (${daysLeft} days)"),
    "cloudAllotmentLow": MessageTemplate(_LOW, _TITLE, _LOW),
    "cloudAllotmentRecovered": MessageTemplate(_BACK, _TITLE, _BACK),
}
TEMPLATE_FIELDS = {
    "licenseStatus": "Qlik Cloud: the license's status (Ok, Expired, Blacklisted, ...)",
    "allotment": "Qlik Cloud: professional, analyzer or analyzer_time",
    "product": "Qlik Cloud: the subscribed product",
}


def fields(status: CloudStatus, level: int | None = None) -> dict[str, Any]:
    return {
        "site": status.tenant,
        "daysLeft": status.daysUntilExpiry,
        "expiryDate": status.expiryDate,
        "licenseStatus": status.licenseStatus,
        "product": status.product,
        "trial": status.trial,
        "level": level,
    }


def identity(status: CloudStatus) -> str:
    return f"{status.licenseNumber or ''}|{status.expiresAt or ''}"


def _replaced(before: str, status: CloudStatus) -> bool:
    number, _, end = before.partition("|")
    if (status.licenseNumber or "") != number or status.expiresAt is None:
        return True
    return bool(end) and status.expiresAt > end


def judge(
    levels: Sequence[int],
    repeat_expired_seconds: float,
    status: CloudStatus,
    part: Mapping[str, Any],
) -> tuple[list[Message], dict[str, Any]]:
    """The alerts of one successful check for one target, and the target's new part."""
    messages: list[Message] = []
    kept = dict(part)
    current, before = identity(status), part.get("license")
    if before is None or (before != current and _replaced(str(before), status)):
        if before is not None and part.get("alerted"):
            messages.append(Message(RENEWED, fields(status)))
        kept |= {"license": current, "levels": [], "alerted": False, "expiredAt": None}
    kept["license"] = current  # an end moved earlier keeps the levels crossed
    checked_at = datetime.fromisoformat(status.checkedAt.replace("Z", "+00:00"))
    if status.status == LEVEL_EXPIRED:
        last = kept.get("expiredAt")
        if (
            last is None
            or (checked_at - datetime.fromisoformat(last)).total_seconds() >= repeat_expired_seconds
        ):
            messages.append(Message(EXPIRED, fields(status)))
            kept |= {"expiredAt": checked_at.isoformat(), "alerted": True}
        kept["levels"] = sorted(set(levels), reverse=True)
    elif status.daysUntilExpiry is not None:
        reached = {level for level in levels if status.daysUntilExpiry <= level}
        sent = set(kept.get("levels") or ())
        if reached - sent:
            messages.append(Message(ABOUT_TO_EXPIRE, fields(status, min(reached))))
            kept["alerted"] = True
        kept["levels"] = sorted(sent | reached, reverse=True)
    messages += _allotment_messages(status, set(part.get("low") or ()))
    kept["low"] = sorted(status.low)
    return messages, kept


def _allotment_messages(status: CloudStatus, were_low: set[str]) -> list[Message]:
    by_name = allotments_by_name(status.allotments)
    said = []
    for name in sorted(set(status.low) | were_low):
        allotment = by_name.get(name)
        if allotment is None:
            continue  # no longer reported: nothing to say about it
        if name in status.low and name not in were_low:
            what = LOW
        elif name not in status.low and name in were_low:
            what = RECOVERED
        else:
            continue
        said.append(
            Message(
                what,
                fields(status)
                | {
                    "allotment": name,
                    "available": _count(allotment.available),
                    "total": _count(allotment.units),
                },
            )
        )
    return said


def _count(value: float) -> float | int:
    """A whole count as an integer (texts say "4 of 50", not "4.0 of 50.0")."""
    return int(value) if value.is_integer() else value


def notice(message: Message, chosen: Mapping[str, MessageTemplate], check_id: str) -> Notice:
    common = failure_notice(LABEL, message, chosen, check_id)
    if common is not None:
        return common
    if message.what not in EVENTS:
        raise ValueError(f"not a Qlik Cloud message: {message.what!r}")
    values = dict(message.fields) | {"license": LABEL, "checkId": check_id}
    event = EVENTS[message.what]
    params = {
        "event": event,
        "tenant": values.get("site"),
        "daysUntilExpiry": values.get("daysLeft"),
        "expiryDate": values.get("expiryDate"),
        "licenseStatus": values.get("licenseStatus"),
        "trial": values.get("trial"),
        "level": values.get("level"),
    }
    if message.what in (LOW, RECOVERED):
        params |= {
            "allotment": values.get("allotment"),
            "available": values.get("available"),
            "units": values.get("total"),
        }
    return rendered(chosen[TEMPLATE_NAMES[message.what]], values, event, params)
