"""A site's license status: the one value every destination, the CLI and the tasks share.

`evaluate_license` is pure: the QRS answer, the check's instant and the threshold in, the
status out. A failed check is a status too (`unknown`, with the reason), so one broken site
never hides the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from licmon.core.dates import DateOrder, utc_date
from licmon.core.expiry import ExpiryUnreadable, find_expiry


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LicenseStatus:
    """Field names are the JSON keys (Butler's where Butler has one)."""

    site: str
    checkedAt: str  # ISO 8601 UTC instant of the check
    thresholdDays: int
    status: Level
    serial: str | None = None
    expiryDateStr: str | None = None
    expiryDate: str | None = None
    expirySource: str | None = None
    daysUntilExpiry: int | None = None
    licenseExpired: bool | None = None
    error: str | None = None

    @property
    def needs_alert(self) -> bool:
        """Butler alerts at or below the threshold, and once expired; never for 'unknown'."""
        return self.status in (Level.WARNING, Level.EXPIRED)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LicenseStatus:
        fields = {name: data.get(name) for name in cls.__dataclass_fields__}
        fields["status"] = Level(data["status"])
        return cls(**fields)


class BadLicenseAnswer(ValueError):
    """The QRS answered, but not with a license we can read; names the field at fault."""


def _text_field(answer: Mapping[str, Any], name: str) -> str:
    value = answer.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadLicenseAnswer(f"QRS license field {name!r} should be text, got {value!r}")
    return value


def _server_expired(answer: Mapping[str, Any]) -> bool:
    value = answer.get("isExpired", False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadLicenseAnswer(f"QRS license field 'isExpired' should be true/false, got {value!r}")
    return value


def _serial(answer: Mapping[str, Any]) -> str | None:
    serial = answer.get("serial")
    return None if serial in (None, "") else str(serial)


def evaluate_license(
    site: str,
    answer: Mapping[str, Any],
    checked_at: datetime,
    threshold_days: int,
    date_order: DateOrder = DateOrder.MONTH_FIRST,
) -> LicenseStatus:
    """Judge one QRS `/qrs/license` answer at `checked_at`."""
    base = {"site": site, "checkedAt": _iso(checked_at), "thresholdDays": threshold_days}
    if not isinstance(answer, Mapping):
        return failed_status(
            site, checked_at, threshold_days, "QRS license answer is not an object"
        )
    try:
        server_expired = _server_expired(answer)
        key_details, lef = _text_field(answer, "keyDetails"), _text_field(answer, "lef")
    except BadLicenseAnswer as exc:
        return LicenseStatus(**base, status=Level.UNKNOWN, serial=_serial(answer), error=str(exc))
    try:
        expiry = find_expiry(key_details, lef, date_order)
    except ExpiryUnreadable as exc:
        # The server's own verdict still counts when the dates cannot be read.
        level = Level.EXPIRED if server_expired else Level.UNKNOWN
        return LicenseStatus(
            **base,
            status=level,
            serial=_serial(answer),
            expiryDateStr=exc.raw,
            expirySource=exc.source.value,
            licenseExpired=True if server_expired else None,
            error=str(exc),
        )

    days = None if expiry is None else (expiry.day - utc_date(checked_at)).days
    expired = server_expired or (days is not None and days < 0)
    if expired:
        level = Level.EXPIRED
    elif days is not None and days <= threshold_days:
        level = Level.WARNING
    else:
        level = Level.OK
    return LicenseStatus(
        **base,
        status=level,
        serial=_serial(answer),
        expiryDateStr=None if expiry is None else expiry.raw,
        expiryDate=None if expiry is None else expiry.day.isoformat(),
        expirySource=None if expiry is None else expiry.source.value,
        daysUntilExpiry=days,
        licenseExpired=expired,
    )


def failed_status(
    site: str, checked_at: datetime, threshold_days: int, reason: str
) -> LicenseStatus:
    """The status of a check that could not read the license at all."""
    return LicenseStatus(
        site=site,
        checkedAt=_iso(checked_at),
        thresholdDays=threshold_days,
        status=Level.UNKNOWN,
        error=reason,
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
