"""Reading the expiry dates Qlik writes in the server's .NET culture.

A date is read only when it is complete: year (four digits), month and day all written in the
text, in one of the documented shapes (`2024-03-16 12:00:00 AM`, `3/16/2024 12:00:00 AM`,
`16.03.2024 00:00:00`, `2024-03-16T00:00:00Z`, `2024-03-16`) or with an English month name
(`16 March 2024`, `March 16, 2024`). dateutil does the parsing, but it fills whatever is
missing from today's date (`16 March` is this year's, `Friday` the coming one): that is
refused here twice, by the shape and by parsing against two different defaults.

This module only decides which order the numbers are in, because that is the one thing the
text cannot always tell: `03/04/2025` is 4 March in en-US and 3 April in en-GB. Dots are
day-first in every culture that uses them, a leading four-digit year is year-month-day, and
what remains follows the configured `DateOrder`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum

from dateutil import parser as dateutil_parser

from licmon.core.text import printable

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_ORDINAL = r"\d{1,2}(?:st|nd|rd|th)?"
# A date, optionally followed by a time of day, AM/PM and a zone: what a `Valid To:` may hold.
# Case-insensitive (month names, AM/PM, `T`, `Z`) wherever it is embedded.
DATE_PATTERN = (
    r"(?i:"
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"
    rf"|{_ORDINAL}[ -]{_MONTH}\.?,?[ -]\d{{4}}|{_MONTH}\.?[ ]{_ORDINAL},?[ ]\d{{4}})"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s?[AP]\.?M\.?)?"
    r"(?:\s?(?:Z|UTC|[+-]\d{2}:?\d{2}))?)?"
    r")"
)
_DATE = re.compile(DATE_PATTERN)
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,4})([-/.])(\d{1,2})\2(\d{1,4})")
# The shapes Qlik writes itself, in the invariant order (`2024-03-16`, `2024-03-16 12:00:00
# AM`, `2024-03-16T00:00:00Z`): read without dateutil, whose parse costs about 0.3 ms, twice
# per date. Anything else, and any of these that names no real moment, goes to dateutil.
_QLIK_SHAPE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2}):(\d{2})(?: ([AP]M)|Z)?)?"
)
# Longer than any date the pattern accepts; a longer text is not looked at further.
_MAX_DATE_TEXT = 64
# Two defaults that differ in year, month and day: a part dateutil took from the default
# instead of the text makes the two readings differ.
_DEFAULTS = (datetime(2001, 1, 1), datetime(2002, 2, 2))


class DateOrder(StrEnum):
    """How to read an ambiguous numeric date such as 03/04/2025."""

    MONTH_FIRST = "month-first"  # .NET en-US, Qlik's default server culture
    DAY_FIRST = "day-first"


class UnreadableDate(ValueError):
    """The text is not a complete date, or names no real day."""


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
    `2024-03-16T23:30:00-02:00` is the 17th. Raises UnreadableDate for anything that is not
    a complete date.
    """
    cleaned = text.strip()
    if not cleaned:
        raise UnreadableDate("empty date")
    quick = _qlik_shape_date(cleaned)
    return quick if quick is not None else read_with_dateutil(cleaned, order)


def read_with_dateutil(cleaned: str, order: DateOrder) -> date:
    """`parse_license_date` for any shape, by dateutil (the text stripped, not empty)."""
    shown = printable(cleaned, 60)
    if len(cleaned) > _MAX_DATE_TEXT or _DATE.fullmatch(cleaned) is None:
        raise UnreadableDate(f"not a complete date (year, month and day): {shown!r}")
    dayfirst, yearfirst = _day_first(cleaned, order)
    try:
        readings = {
            dateutil_parser.parse(cleaned, default=default, dayfirst=dayfirst, yearfirst=yearfirst)
            for default in _DEFAULTS
        }
    except (ValueError, OverflowError) as exc:
        raise UnreadableDate(f"not a date: {shown!r}") from exc
    if len(readings) != 1:
        raise UnreadableDate(f"not a complete date (year, month and day): {shown!r}")
    (moment,) = readings
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def _qlik_shape_date(text: str) -> date | None:
    """The date of a text in one of Qlik's own shapes (UTC, or no zone: the same day), as
    dateutil reads it; None for any other text."""
    match = _QLIK_SHAPE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, half = match.groups()
    hours = 0 if hour is None else int(hour)
    if half is not None:
        if not 1 <= hours <= 12:
            return None
        hours = hours % 12 + (12 if half == "PM" else 0)
    try:
        moment = datetime(
            int(year), int(month), int(day), hours, int(minute or 0), int(second or 0)
        )
    except ValueError:
        return None  # dateutil says what is wrong with it
    return moment.date()


def utc_date(moment: datetime) -> date:
    """The UTC calendar date of an aware instant (naive instants are taken as UTC)."""
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(UTC).date()
