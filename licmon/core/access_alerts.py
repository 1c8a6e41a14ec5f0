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
from licmon.core.failure_notices import rendered
from licmon.core.notices import Notice
from licmon.core.templates import DEFAULTS, MessageTemplate

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


_TEMPLATES = {
    ACCESS_LOW: "accessLow",
    ACCESS_RECOVERED: "accessRecovered",
    ACCESS_EXHAUSTS: "accessExhausts",
}


def alert_text(message: Message, chosen: Mapping[str, MessageTemplate] = DEFAULTS) -> str:
    """The MQTT alert sentence (and the chat text)."""
    return notice(message, chosen).text


def notice(message: Message, chosen: Mapping[str, MessageTemplate] = DEFAULTS) -> Notice:
    """A message of this module as what destinations deliver, its texts from `chosen`."""
    event = EVENTS[message.what]
    data = message.fields
    params = {
        "event": event,
        "site": data["site"],
        "licenseType": data["licenseType"],
        "available": data["available"],
        "total": data["total"],
    }
    if message.what == ACCESS_EXHAUSTS:
        params["exhaustsInDays"] = data["exhaustsInDays"]
    # Numbers as people write them: 2, not 2.0.
    values = {name: None if value is None else _number(value) for name, value in data.items()}
    values["license"] = "access license"
    return rendered(chosen[_TEMPLATES[message.what]], values, event, params)
