"""Finding when a license ends in a QRS `/qrs/license` answer.

Two sources, in order: the signed key's `keyDetails` text (`Valid To: <date>`), then the
License Enabler File in `lef` (`ATTRIBUTE;VALUE;VALIDFROM;VALIDTO`). Several dates may be
present; the earliest governs, because the license stops working when its first part does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from licmon.core.dates import DATE_PATTERN, DateOrder, UnreadableDate, parse_license_date

_VALID_TO = re.compile(
    r"Valid[ \t]*To[ \t]*:[ \t]*(?P<value>" + DATE_PATTERN + r"|\S*)", re.IGNORECASE
)


class ExpirySource(StrEnum):
    KEY_DETAILS = "keyDetails"
    LEF = "lef"


@dataclass(frozen=True)
class Expiry:
    """The governing end date, the text it was read from and where that text was."""

    raw: str
    day: date
    source: ExpirySource


class ExpiryUnreadable(ValueError):
    """A source names an end date we cannot read; guessing 'perpetual' would hide an expiry."""

    def __init__(self, source: ExpirySource, raw: str) -> None:
        super().__init__(f"cannot read the expiry date {raw!r} in {source.value}")
        self.source = source
        self.raw = raw


def _earliest(candidates: list[str], source: ExpirySource, order: DateOrder) -> Expiry | None:
    parsed: list[Expiry] = []
    for raw in candidates:
        try:
            parsed.append(Expiry(raw=raw, day=parse_license_date(raw, order), source=source))
        except UnreadableDate as exc:
            raise ExpiryUnreadable(source, raw) from exc
    return min(parsed, key=lambda expiry: expiry.day, default=None)


def key_details_dates(key_details: str) -> list[str]:
    """Every `Valid To:` value in a keyDetails text, on one line or across lines."""
    values = (match.group("value").strip() for match in _VALID_TO.finditer(key_details))
    # An empty `Valid To:` is how a key without an end date may print; it is not a date.
    return [value for value in values if value]


def lef_dates(lef: str) -> list[str]:
    """Every non-empty VALIDTO column of a License Enabler File."""
    dates = []
    for line in lef.splitlines():
        columns = line.strip().split(";")
        if len(columns) >= 4 and columns[3].strip():
            dates.append(columns[3].strip())
    return dates


def find_expiry(
    key_details: str, lef: str, order: DateOrder = DateOrder.MONTH_FIRST
) -> Expiry | None:
    """The governing expiry, or None when nothing says the license ends (perpetual)."""
    from_key = _earliest(key_details_dates(key_details), ExpirySource.KEY_DETAILS, order)
    if from_key is not None:
        return from_key
    return _earliest(lef_dates(lef), ExpirySource.LEF, order)
