"""The server license's alert policy: Butler's, or one alert per level crossed. Pure.

Butler's policy (no `thresholdsDays`): every check at or below `thresholdDays` alerts, and
every check of an expired license.

The level policy (`licmon.alerts.thresholdsDays`, e.g. 60, 30, 14, 7, 1): one alert per
level crossed, per license. A check that jumps several levels sends one alert, for the
lowest level reached. Once expired: one "has expired" alert, then again every
`repeat_expired_seconds` while it stays expired.

Both: when a license is replaced (its expiry date moves later, or its serial changes), the
levels start again for the new license, with one "renewed" message if the old one had been
alerted about. A date that moves earlier is no renewal: levels crossed stay crossed.

The history part this module keeps for one site and one target:
`license` (serial|expiry date of the license the levels belong to), `levels` (sent),
`alerted` (an alert was sent for this license), `expiredAt` (the last "has expired" alert).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from licmon.core.alerts import Message
from licmon.core.server_license import Level, LicenseStatus

ABOUT_TO_EXPIRE = "about_to_expire"
EXPIRED = "expired"
RENEWED = "renewed"


@dataclass(frozen=True)
class LevelPolicy:
    # Empty: Butler's policy.
    levels: tuple[int, ...] = ()
    repeat_expired_seconds: float = 24 * 3600


def identity(status: LicenseStatus) -> str:
    """Which license this is: a new serial or a new expiry date is a new license."""
    return f"{status.serial or ''}|{status.expiryDate or ''}"


def fields(status: LicenseStatus, level: int | None = None) -> dict[str, Any]:
    """What a template may say about this license."""
    return {
        "site": status.site,
        "daysLeft": status.daysUntilExpiry,
        "expiryDate": status.expiryDate,
        "expiryDateStr": status.expiryDateStr,
        "serial": status.serial,
        "level": level,
        "licenseExpired": bool(status.licenseExpired),
    }


def _replaced(before: str, status: LicenseStatus) -> bool:
    """Whether the license now read replaces the one alerted about (renewed)."""
    serial, _, expiry = before.partition("|")
    if (status.serial or "") != serial:
        return True
    if status.expiryDate is None:  # now perpetual
        return True
    return bool(expiry) and status.expiryDate > expiry


def judge(
    policy: LevelPolicy, status: LicenseStatus, part: Mapping[str, Any]
) -> tuple[list[Message], dict[str, Any]]:
    """The alerts of one successful check for one target, and the target's new part."""
    messages: list[Message] = []
    current = identity(status)
    before = part.get("license")
    kept: dict[str, Any] = dict(part)
    if before is None or (before != current and _replaced(str(before), status)):
        if before is not None and part.get("alerted"):
            messages.append(Message(RENEWED, fields(status)))
        kept = {"license": current, "levels": [], "alerted": False, "expiredAt": None}
    elif before != current:
        # The date moved earlier on the same serial: not a renewal, so the levels already
        # crossed stay crossed (days left only fall faster).
        kept["license"] = current
    checked_at = datetime.fromisoformat(status.checkedAt)
    if status.status is Level.EXPIRED:
        last = kept.get("expiredAt")
        due = (
            not policy.levels
            or last is None
            or (checked_at - datetime.fromisoformat(last)).total_seconds()
            >= policy.repeat_expired_seconds
        )
        if due:
            messages.append(Message(EXPIRED, fields(status)))
            kept["expiredAt"] = status.checkedAt
            kept["alerted"] = True
        kept["levels"] = sorted(set(policy.levels), reverse=True)
        return messages, kept
    days = status.daysUntilExpiry
    if days is None or status.status is Level.UNKNOWN:
        return messages, kept
    if not policy.levels:
        if status.status is Level.WARNING:
            messages.append(Message(ABOUT_TO_EXPIRE, fields(status, status.thresholdDays)))
            kept["alerted"] = True
        return messages, kept
    reached = {level for level in policy.levels if days <= level}
    sent = set(kept.get("levels") or ())
    if reached - sent:
        messages.append(Message(ABOUT_TO_EXPIRE, fields(status, min(reached))))
        kept["alerted"] = True
    kept["levels"] = sorted(sent | reached, reverse=True)
    return messages, kept
