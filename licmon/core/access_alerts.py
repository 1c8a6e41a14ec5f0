"""The access licenses' alert policy, and its messages as notices. Pure.

`judge(status, minimums, forecasts, part)` is a kind's judgement for
`licmon.core.alerts.decide` (bind the first three with functools.partial): one target's
history part in, its messages and new part out. Per counted type (professional, analyzer,
tokens_available):
- `access_low` once when it falls to or below its minimum (the first reading included);
- `access_recovered` once when it is back above it;
- `access_exhausts` once when the forecast falls under `forecastDays`; again only after
  the forecast has been back at or above it (or gone: flat usage).

The part kept: `low` and `exhausts`, the types currently alerted about. A failed check
(no numbers) changes nothing: not reading a site is the common "check failing" alert's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from licmon.core.access_license import COUNTED_TYPES, AccessStatus, Minimum, is_low
from licmon.core.alerts import Message
from licmon.core.notices import Notice

ACCESS_LOW = "access_low"
ACCESS_RECOVERED = "access_recovered"
ACCESS_EXHAUSTS = "access_exhausts"

EVENTS = {
    ACCESS_LOW: "access license low",
    ACCESS_RECOVERED: "access license recovered",
    ACCESS_EXHAUSTS: "access license exhausts soon",
}


def fields(status: AccessStatus, license_type: str) -> dict[str, Any]:
    available, total = status.available(license_type) or (None, None)
    return {
        "site": status.site,
        "licenseType": license_type,
        "available": available,
        "total": total,
    }


def judge(
    status: AccessStatus,
    minimums: Mapping[str, Minimum],
    forecasts: Mapping[str, float | None],
    part: Mapping[str, Any],
) -> tuple[list[Message], dict[str, Any]]:
    """The access alerts of one successful check for one target, and the new part."""
    was_low = set(part.get("low") or ())
    was_exhausting = set(part.get("exhausts") or ())
    if status.error is not None:
        return [], {"low": sorted(was_low), "exhausts": sorted(was_exhausting)}
    messages: list[Message] = []
    low: set[str] = set()
    exhausting: set[str] = set()
    for license_type in COUNTED_TYPES:
        minimum = minimums.get(license_type)
        if minimum is None or status.available(license_type) is None:
            # Not watched, or not enabled any more: forget it, say nothing.
            continue
        if is_low(status, license_type, minimum):
            low.add(license_type)
            if license_type not in was_low:
                messages.append(Message(ACCESS_LOW, fields(status, license_type)))
        elif license_type in was_low:
            messages.append(Message(ACCESS_RECOVERED, fields(status, license_type)))
        days = forecasts.get(license_type)
        if minimum.forecast_days is not None and days is not None and days < minimum.forecast_days:
            exhausting.add(license_type)
            if license_type not in was_exhausting:
                messages.append(
                    Message(
                        ACCESS_EXHAUSTS, fields(status, license_type) | {"exhaustsInDays": days}
                    )
                )
    return messages, {"low": sorted(low), "exhausts": sorted(exhausting)}


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def alert_text(message: Message) -> str:
    """The MQTT alert sentence (and the chat text)."""
    data = message.fields
    site, license_type = data["site"], data["licenseType"]
    counts = f"{_number(data['available'])} of {_number(data['total'])} available"
    if message.what == ACCESS_LOW:
        return f"Qlik Sense {license_type} access licenses low on {site}: {counts}"
    if message.what == ACCESS_RECOVERED:
        return f"Qlik Sense {license_type} access licenses recovered on {site}: {counts}"
    return (
        f"Qlik Sense {license_type} access licenses run out on {site} in about "
        f"{_number(data['exhaustsInDays'])} days at the current trend: {counts}"
    )


def notice(message: Message) -> Notice:
    """A message of this module as what destinations deliver."""
    event = EVENTS[message.what]
    data = message.fields
    text = alert_text(message)
    params = {
        "event": event,
        "site": data["site"],
        "licenseType": data["licenseType"],
        "available": data["available"],
        "total": data["total"],
    }
    if message.what == ACCESS_EXHAUSTS:
        params["exhaustsInDays"] = data["exhaustsInDays"]
    return Notice(
        alert=True,
        event=event,
        text=text,
        title=f"Qlik Sense access licenses: {data['site']}",
        body=text,
        params=params,
    )
