"""A UTC-only stand-in for the JavaScript ``Date`` that later.js computes with.

Times are integer milliseconds since the epoch (or NaN for an "Invalid Date"). Building a date
normalises overflowing fields the way ``Date.UTC`` does (day 32 rolls into the next month,
hour 24 into the next day), which later.js depends on everywhere. Our own calendar arithmetic
is used instead of :mod:`datetime` because later.js can wander past year 9999 and below 1 AD.
"""

from __future__ import annotations

import math

from licmon.laterjs.jsvalue import NAN, Num, is_nan

SEC = 1000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR
WEEK = 7 * DAY
# ECMAScript's time value range; past it Date.UTC yields NaN.
MAX_TIME = 8.64e15


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (month 1-12)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def time_clip(value: Num) -> Num:
    if type(value) is int:
        return value if -MAX_TIME <= value <= MAX_TIME else NAN
    if is_nan(value) or math.isinf(value) or abs(value) > MAX_TIME:
        return NAN
    return math.trunc(value)


def date_utc(year: Num, month: Num, day: Num, hour: Num, minute: Num, second: Num) -> Num:
    """``Date.UTC(year, month0, day, hour, minute, second)``."""
    if not (
        type(year) is int
        and type(month) is int
        and type(day) is int
        and type(hour) is int
        and type(minute) is int
        and type(second) is int
    ):
        # Rare: NaN or fractional fields (only from empty value lists or bad input).
        parts = (year, month, day, hour, minute, second)
        if any(is_nan(p) or math.isinf(p) for p in parts):
            return NAN
        year, month, day, hour, minute, second = (math.trunc(p) for p in parts)
    if 0 <= year <= 99:
        year += 1900
    days = days_from_civil(year + month // 12, month % 12 + 1, 1) + day - 1
    return time_clip(days * DAY + hour * HOUR + minute * MIN + second * SEC)


class JSDate:
    """An immutable instant with its UTC calendar fields (NaN for an Invalid Date).

    Fields are computed up front: nearly every date later.js builds is inspected at once.
    """

    __slots__ = ("date", "day", "hours", "minutes", "month0", "seconds", "t", "year")

    def __init__(self, t: Num) -> None:
        t = time_clip(t)
        self.t: Num = t
        if type(t) is int:
            days, ms = divmod(t, DAY)
            year, month, date = civil_from_days(days)
            self.year: Num = year
            self.month0: Num = month - 1  # getUTCMonth(): 0-11
            self.date: Num = date
            self.day: Num = (days + 4) % 7  # getUTCDay(): 0 = Sunday
            self.hours: Num = ms // HOUR
            self.minutes: Num = ms // MIN % 60
            self.seconds: Num = ms // SEC % 60
        else:
            self.year = self.month0 = self.date = self.day = NAN
            self.hours = self.minutes = self.seconds = NAN

    def __repr__(self) -> str:
        if is_nan(self.t):
            return "JSDate(Invalid)"
        return (
            f"JSDate({self.year:04d}-{self.month0 + 1:02d}-{self.date:02d}T{self.hours:02d}:"
            f"{self.minutes:02d}:{self.seconds:02d}.{self.t % 1000:03d}Z)"
        )


def build(year: Num, month0: Num, day: Num, hour: Num, minute: Num, second: Num) -> JSDate:
    return JSDate(date_utc(year, month0, day, hour, minute, second))
