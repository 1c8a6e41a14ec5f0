"""A site's license status: the one value every destination, the CLI and the tasks share.

`evaluate_license` is pure: the QRS answer, the check's instant and the threshold in, the
status out. A failed check is a status too (`unknown`, with the reason), so one broken site
never hides the others. The answer is checked for shape first (`LicenseAnswer`), and "no end
date" means perpetual only for an answer that is positively a license.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from licmon.core.dates import DateOrder, utc_date
from licmon.core.expiry import ExpiryUnreadable, find_expiry, lef_rows
from licmon.core.text import printable


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


# Values quoted in an error: short, and shallow (a deeply nested value must not recurse).
# Attributes, not keywords: Repr takes none before Python 3.12.
_QUOTE = reprlib.Repr()
_QUOTE.maxlevel, _QUOTE.maxstring, _QUOTE.maxother = 2, 40, 40
_QUOTE.maxlist = _QUOTE.maxdict = 4
_TEXT_FIELDS = ("key", "keyDetails", "lef")


def _quoted(value: object) -> str:
    return printable(_QUOTE.repr(value), 80)


@dataclass(frozen=True)
class LicenseAnswer:
    """The fields of the QRS License entity this check reads, each of the type QRS sends.

    Every field may be absent or null (QRS leaves out what a site's license does not have);
    present, it must have its type. Whether the answer is a license at all is a separate
    question (`not_a_license`): an object of the right types may still hold none.
    """

    key: str
    key_details: str
    lef: str
    serial: str | None
    is_expired: bool
    fields: tuple[str, ...]

    @classmethod
    def read(cls, answer: Mapping[str, Any]) -> LicenseAnswer:
        schema_path = answer.get("schemaPath")
        if schema_path is not None and schema_path != "License":
            raise BadLicenseAnswer(
                f"QRS answered a {_quoted(schema_path)} entity where a License was expected"
            )
        texts = {name: _text_field(answer, name) for name in _TEXT_FIELDS}
        return cls(
            key=texts["key"],
            key_details=texts["keyDetails"],
            lef=texts["lef"],
            serial=_serial_field(answer),
            is_expired=_server_expired(answer),
            fields=tuple(str(name) for name in answer),
        )

    def not_a_license(self) -> str | None:
        """Why this answer is no license, or None when it positively is one: a signed key
        (`key` and `keyDetails`) or a License Enabler File (`lef` with LEF lines)."""
        if (self.key.strip() and self.key_details.strip()) or lef_rows(self.lef):
            return None
        shown = ", ".join(printable(name, 40) for name in self.fields[:8])
        if len(self.fields) > 8:
            shown += f", … ({len(self.fields)} fields)"
        return (
            "the QRS answer holds no license: neither a signed key (key and keyDetails) nor "
            "a License Enabler File (lef); "
            + (f"its fields: {shown}" if shown else "it is an empty object")
        )


def _text_field(answer: Mapping[str, Any], name: str) -> str:
    value = answer.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadLicenseAnswer(f"QRS license field {name!r} should be text, got {_quoted(value)}")
    return value


def _server_expired(answer: Mapping[str, Any]) -> bool:
    value = answer.get("isExpired", False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadLicenseAnswer(
            f"QRS license field 'isExpired' should be true/false, got {_quoted(value)}"
        )
    return value


def _serial_field(answer: Mapping[str, Any]) -> str | None:
    serial = answer.get("serial")
    if serial is None or serial == "":
        return None
    if isinstance(serial, bool) or not isinstance(serial, str | int):
        raise BadLicenseAnswer(
            f"QRS license field 'serial' should be text or a number, got {_quoted(serial)}"
        )
    return printable(str(serial), 64)


def _serial(answer: Mapping[str, Any]) -> str | None:
    """The serial for a status that is unknown anyway: best effort, never an error."""
    try:
        return _serial_field(answer)
    except BadLicenseAnswer:
        return None


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
        license_ = LicenseAnswer.read(answer)
    except BadLicenseAnswer as exc:
        return LicenseStatus(**base, status=Level.UNKNOWN, serial=_serial(answer), error=str(exc))
    server_expired, serial = license_.is_expired, license_.serial
    try:
        expiry = find_expiry(license_.key_details, license_.lef, date_order)
    except ExpiryUnreadable as exc:
        # The server's own verdict still counts when the dates cannot be read.
        level = Level.EXPIRED if server_expired else Level.UNKNOWN
        return LicenseStatus(
            **base,
            status=level,
            serial=serial,
            expiryDateStr=exc.raw,
            expirySource=exc.source.value,
            licenseExpired=True if server_expired else None,
            error=str(exc),
        )
    if expiry is None and not server_expired:
        # No end date is a perpetual license only if the answer is a license at all: an
        # empty object or an error document must not read as "ok, never expires".
        reason = license_.not_a_license()
        if reason is not None:
            return LicenseStatus(**base, status=Level.UNKNOWN, serial=serial, error=reason)

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
        serial=serial,
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
