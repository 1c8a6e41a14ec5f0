"""Alert texts from templates: `string.Template` (`$site`, `${daysLeft}`), which substitutes
values and nothing else, so a template can never run code or reach an attribute.

Each message has three templates: `text` (the MQTT alert topic's plain text; Butler's text
by default), `title` and `body` (chat and e-mail through Apprise). Webhooks carry Butler's
structured parameters instead of a text, so existing receivers keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

# What a template may use. A message leaves out what it has not got (a check failure has
# no expiry date); those expand to the empty text.
FIELDS: Mapping[str, str] = {
    "site": "the site's name",
    "license": "what was checked, e.g. 'server license'",
    "daysLeft": "days until the license ends (negative once past)",
    "expiryDate": "the expiry date, YYYY-MM-DD",
    "expiryDateStr": "the expiry date as the QRS wrote it",
    "level": "the threshold level crossed, in days",
    "serial": "the license serial number",
    "checkId": "the check's id (also in webhooks' X-Licmon-Check-Id header)",
    "errorKind": "why the check failed, a short code (e.g. connection_refused)",
    "reason": "why the check failed, one line",
    "sites": "the digest's lines, one per site",
    "licenseType": "access licenses: professional, analyzer or tokens_available",
    "available": "access licenses: seats or tokens available",
    "total": "access licenses: seats or tokens in all",
    "exhaustsInDays": "access licenses: the forecast's days until none is left",
}


@dataclass(frozen=True)
class MessageTemplate:
    text: str
    title: str
    body: str


_ABOUT = "Qlik Sense server license is about to expire in ${daysLeft} days, on ${expiryDate}"
_EXPIRED = "Qlik Sense server license expired on ${expiryDate}"
_UNDATED = "Qlik Sense server license has expired (the license gives no expiry date)"
_RENEWED = "Qlik Sense ${license} renewed, now valid until ${expiryDate} (${daysLeft} days)"
_PERPETUAL = "Qlik Sense ${license} renewed, now with no end date"
_FAILING = "Qlik Sense ${license} check failing for ${site}: ${reason}"
_RECOVERED = "Qlik Sense ${license} check recovered for ${site}"
_COUNTS = "${available} of ${total} available"
_LOW = "Qlik Sense ${licenseType} access licenses low on ${site}: " + _COUNTS
_BACK = "Qlik Sense ${licenseType} access licenses recovered on ${site}: " + _COUNTS
_SOON = (
    "Qlik Sense ${licenseType} access licenses run out on ${site} in about ${exhaustsInDays}"
    " days at the current trend: " + _COUNTS
)
_ACCESS_TITLE = "Qlik Sense access licenses: ${site}"

# Butler's texts where Butler has one; the names are the keys under licmon.alerts.templates.
DEFAULTS: Mapping[str, MessageTemplate] = {
    "aboutToExpire": MessageTemplate(
        _ABOUT, "Qlik Sense license alert: ${site}", "${site}: " + _ABOUT
    ),
    "expired": MessageTemplate(
        _EXPIRED, "Qlik Sense license alert: ${site}", "${site}: " + _EXPIRED
    ),
    "expiredUndated": MessageTemplate(
        _UNDATED, "Qlik Sense license alert: ${site}", "${site}: " + _UNDATED
    ),
    "renewed": MessageTemplate(
        _RENEWED, "Qlik Sense ${license} renewed: ${site}", "${site}: " + _RENEWED
    ),
    "renewedPerpetual": MessageTemplate(
        _PERPETUAL, "Qlik Sense ${license} renewed: ${site}", "${site}: " + _PERPETUAL
    ),
    "checkFailing": MessageTemplate(
        _FAILING,
        "Qlik Sense ${license} check failing: ${site}",
        _FAILING + " (${errorKind}, check ${checkId})",
    ),
    "checkRecovered": MessageTemplate(
        _RECOVERED, "Qlik Sense ${license} check recovered: ${site}", _RECOVERED
    ),
    "accessLow": MessageTemplate(_LOW, _ACCESS_TITLE, _LOW),
    "accessRecovered": MessageTemplate(_BACK, _ACCESS_TITLE, _BACK),
    "accessExhausts": MessageTemplate(_SOON, _ACCESS_TITLE, _SOON),
    "digest": MessageTemplate(
        "Qlik Sense licenses at or below a threshold: ${sites}",
        "Qlik Sense license digest",
        "Qlik Sense licenses at or below a threshold:\n${sites}",
    ),
}


def problems(template: str, fields: Mapping[str, str] = FIELDS) -> list[str]:
    """What is wrong with a template: a `$` that starts no field, or an unknown field
    (`fields`: these and the check kinds' own)."""
    parsed = Template(template)
    if not parsed.is_valid():
        return ["a '$' that starts no field (write '$$' for a dollar sign)"]
    return [
        f"unknown field ${name} (fields: {', '.join(fields)})"
        for name in parsed.get_identifiers()
        if name not in fields
    ]


def render(template: str, values: Mapping[str, Any]) -> str:
    """`template` with `values`; a field left out or None becomes the empty text."""
    shown = {name: "" if value is None else str(value) for name, value in values.items()}
    parsed = Template(template)
    return parsed.safe_substitute(dict.fromkeys(parsed.get_identifiers(), "") | shown)
