"""The daily digest: every site at or below a level, sorted by days left. Pure.

A site is in it when its last successful check found the license expired, or its days left
(counted from today, not from the check) at or below the highest level of its policy: the
level policy's highest level, or Butler's `thresholdDays`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from licmon.core import templates
from licmon.core.alerts import Message
from licmon.core.notices import Notice
from licmon.core.templates import MessageTemplate

DIGEST = "digest"
EVENT_DIGEST = "server license digest"


@dataclass(frozen=True)
class Standing:
    """One site as the digest sees it: its last license read and its policy's top level."""

    site: str
    status: Mapping[str, Any] | None
    highest_level: int


def days_left(expiry: str | None, today: date) -> int | None:
    return None if expiry is None else (date.fromisoformat(expiry) - today).days


def line(site: str, days: int | None, expiry: str | None, expired: bool) -> str:
    if not expired:
        return f"{site}: {days} days left, until {expiry}"
    return f"{site}: expired on {expiry}" if expiry else f"{site}: expired"


@dataclass(frozen=True)
class DigestRow:
    """One line of the digest, from any check kind: rows are sorted by `order` (days left;
    anything expired below zero), then by site."""

    order: int
    site: str
    text: str
    # What webhooks get for it (`entries`).
    entry: Mapping[str, Any]


def license_row(standing: Standing, today: date) -> DigestRow | None:
    """The server license's line for one site; None when it is above every level."""
    status = standing.status or {}
    expiry = status.get("expiryDate")
    days = days_left(expiry, today)
    expired = bool(status.get("licenseExpired")) or (days is not None and days < 0)
    entry = {"site": standing.site, "daysUntilExpiry": days, "expiryDate": expiry}
    if expired:
        order = min(days if days is not None else -1, -1)
        return DigestRow(order, standing.site, line(standing.site, days, expiry, True), entry)
    if days is not None and days <= standing.highest_level:
        return DigestRow(days, standing.site, line(standing.site, days, expiry, False), entry)
    return None


def digest_of(rows: Iterable[DigestRow]) -> Message | None:
    """The digest's message from every kind's rows; None when there are none."""
    ordered = sorted(rows, key=lambda row: (row.order, row.site, row.text))
    if not ordered:
        return None
    return Message(
        DIGEST,
        {
            "lines": [row.text for row in ordered],
            "entries": [dict(row.entry) for row in ordered],
        },
    )


def digest(standings: Iterable[Standing], today: date) -> Message | None:
    """The server license's digest alone; None when no site is at or below a level."""
    return digest_of(
        row for standing in standings if (row := license_row(standing, today)) is not None
    )


def digest_notice(message: Message, chosen: Mapping[str, MessageTemplate]) -> Notice:
    """The digest as an alert notice: `$sites` is one line per site in the body, the lines
    joined by "; " in the one-line text and title; webhooks get `count` and `sites`."""
    lines = list(message.fields["lines"])
    template = chosen["digest"]
    inline = {"sites": "; ".join(lines), "license": "server license"}
    return Notice(
        alert=True,
        event=EVENT_DIGEST,
        text=templates.render(template.text, inline),
        title=templates.render(template.title, inline),
        body=templates.render(template.body, inline | {"sites": "\n".join(lines)}),
        params={"event": EVENT_DIGEST, "count": len(lines), "sites": "; ".join(lines)},
    )
