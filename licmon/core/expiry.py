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
from licmon.core.text import printable

# What may follow a `Valid To:` value in keyDetails, on one line (Qlik's documented layout)
# or across lines.
_NEXT_LABEL = r"(?:Allotment|Valid[ \t]*(?:From|To)|License[ \t]*Number|isBlackListed)\b"
# The value of a `Valid To:`: a date (followed by a separator, so `2024-03-16abc` is not cut
# to its date), else whatever stands there up to the next label or the end of the line, so
# that `16 March` is quoted whole in the error instead of read as the 16th of this month.
_VALID_TO = re.compile(
    r"Valid[ \t]*To[ \t]*:[ \t]*(?P<value>"
    + DATE_PATTERN
    + r"(?=[\s;,]|$)"
    + rf"|[^\r\n]{{0,80}}?(?=[ \t]*(?:[\r\n]|$|{_NEXT_LABEL}))|[^\r\n]{{0,80}})",
    re.IGNORECASE,
)
# A license names a handful of end dates; more is not a license text but a flood, and reading
# each would cost two dateutil parses.
MAX_DATES = 200


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
    """A source names an end date we cannot read; guessing 'perpetual' would hide an expiry.

    `raw` is the text as found, made printable and capped: it is shown and sent on.
    """

    def __init__(self, source: ExpirySource, raw: str, reason: str | None = None) -> None:
        self.source = source
        self.raw = printable(raw, 60)
        super().__init__(reason or f"cannot read the expiry date {self.raw!r} in {source.value}")


def _earliest(candidates: list[str], source: ExpirySource, order: DateOrder) -> Expiry | None:
    unique = list(dict.fromkeys(candidates))
    if len(unique) > MAX_DATES:
        raise ExpiryUnreadable(
            source, unique[0], f"{source.value} names more than {MAX_DATES} expiry dates"
        )
    parsed: list[Expiry] = []
    for raw in unique:
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


def lef_rows(lef: str) -> list[list[str]]:
    """The `ATTRIBUTE;VALUE;VALIDFROM;VALIDTO` lines of a License Enabler File, as columns."""
    rows = []
    for line in lef.splitlines():
        columns = [column.strip() for column in line.strip().split(";")]
        if len(columns) >= 4 and columns[0]:
            rows.append(columns)
    return rows


def lef_dates(lef: str) -> list[str]:
    """Every non-empty VALIDTO column of a License Enabler File."""
    return [columns[3] for columns in lef_rows(lef) if columns[3]]


def find_expiry(
    key_details: str, lef: str, order: DateOrder = DateOrder.MONTH_FIRST
) -> Expiry | None:
    """The governing expiry, or None when neither source names an end date."""
    from_key = _earliest(key_details_dates(key_details), ExpirySource.KEY_DETAILS, order)
    if from_key is not None:
        return from_key
    return _earliest(lef_dates(lef), ExpirySource.LEF, order)
