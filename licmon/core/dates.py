"""Reading the expiry dates Qlik writes in the server's .NET culture.

dateutil does the parsing; this module only decides which order the numbers are in, because
that is the one thing the text cannot always tell: `03/04/2025` is 4 March in en-US and
3 April in en-GB. Dots are day-first in every culture that uses them, a leading four-digit
year is year-month-day, and what remains follows the configured `DateOrder`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum

from dateutil import parser as dateutil_parser

# A date, optionally followed by a time of day, AM/PM and a zone: what a `Valid To:` may hold.
DATE_PATTERN = (
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s?[AaPp]\.?[Mm]\.?)?"
    r"(?:\s?(?:Z|UTC|[+-]\d{2}:?\d{2}))?)?"
)
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,4})([-/.])(\d{1,2})\2(\d{1,4})")


class DateOrder(StrEnum):
    """How to read an ambiguous numeric date such as 03/04/2025."""

    MONTH_FIRST = "month-first"  # .NET en-US, Qlik's default server culture
    DAY_FIRST = "day-first"


class UnreadableDate(ValueError):
    """The text looks like a date but names no real day (or is no date at all)."""


def _day_first(text: str, order: DateOrder) -> tuple[bool, bool]:
    """(dayfirst, yearfirst) for dateutil, from the shape of the numeric date part."""
    match = _NUMERIC_DATE.match(text)
    if match is None:
        return order is DateOrder.DAY_FIRST, False
    first, separator = match.group(1), match.group(2)
    if len(first) == 4:
        return False, True
    if separator == ".":
        return True, False
    return order is DateOrder.DAY_FIRST, False


def parse_license_date(text: str, order: DateOrder = DateOrder.MONTH_FIRST) -> date:
    """The UTC calendar date of an expiry text such as `2024-03-16 12:00:00 AM`.

    Times without a zone are taken as UTC; a time with a zone is converted to UTC first, so
    `2024-03-16T23:30:00-02:00` is the 17th.
    """
    cleaned = text.strip()
    if not cleaned:
        raise UnreadableDate("empty date")
    dayfirst, yearfirst = _day_first(cleaned, order)
    try:
        moment = dateutil_parser.parse(cleaned, dayfirst=dayfirst, yearfirst=yearfirst)
    except (ValueError, OverflowError) as exc:
        raise UnreadableDate(f"not a date: {cleaned!r}") from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def utc_date(moment: datetime) -> date:
    """The UTC calendar date of an aware instant (naive instants are taken as UTC)."""
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(UTC).date()
