"""later.js time periods (constraints) and the after/before modifiers, UTC only.

Each constraint answers, for a date: its value (``val``), the value range in that date's
context (``extent``), the start and end of the period containing the date, and the start of
the next period having a given value (``next``). The code follows @breejs/later 4.2.0
line by line, including its quirks (a leap year is any year divisible by 4, ``0`` means "last",
values out of range wrap), because schedules must fire exactly when Butler's would. Only the
forward direction is ported: nothing here looks backwards except ``Year.prev``, which the ISO
week computation needs.
"""

from __future__ import annotations

from collections.abc import Sequence

from licmon.laterjs.jsdate import DAY, SEC, WEEK, JSDate, build, date_utc
from licmon.laterjs.jsvalue import (
    Num,
    js_ceil,
    js_div,
    js_floor,
    js_index,
    js_max,
    js_min,
    js_or,
    js_rem,
    truthy,
)

DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class LaterRuntimeError(Exception):
    """later.js itself would throw a TypeError here (it dereferences a missing date)."""


def date_next(
    year: Num,
    month: Num | None = None,
    day: Num | None = None,
    hour: Num = 0,
    minute: Num = 0,
    second: Num = 0,
) -> JSDate:
    """``later.date.next``: the first instant of the given (possibly overflowing) fields.

    ``None`` stands for an argument not passed; NaN is a passed but undefined value, which
    later.js treats differently for month and day than for the time fields.
    """
    return JSDate(
        date_utc(
            year,
            month - 1 if month is not None else 0,
            day if day is not None else 1,
            js_or(hour, 0),
            js_or(minute, 0),
            js_or(second, 0),
        )
    )


def date_prev(year: Num, *rest: Num) -> JSDate:
    """``later.date.prev``: the last second of the period named by however many fields."""
    count = 1 + len(rest)
    month0 = 11 if count < 2 else rest[0] - 1
    day = DAY_OF_MONTH.extent(date_next(year, month0 + 1))[1] if count < 3 else rest[1]
    hour = 23 if count < 4 else rest[2]
    minute = 59 if count < 5 else rest[3]
    second = 59 if count < 6 else rest[4]
    return build(year, month0, day, hour, minute, second)


def next_rollover(d: JSDate, value: Num, constraint: Constraint, period: Constraint) -> JSDate:
    """Start of the period (e.g. month) in which to look for ``value`` of ``constraint``."""
    cur = constraint.val(d)
    maximum = constraint.extent(d)[1]
    if js_or(value, maximum) <= cur or value > maximum:
        return JSDate(period.end(d).t + SEC)
    return period.start(d)


class Constraint:
    """One time period of later.js; subclasses port its functions."""

    name: str = ""
    range: Num = 0

    def val(self, d: JSDate) -> Num:
        raise NotImplementedError

    def is_valid(self, d: JSDate, value: Num) -> bool:
        raise NotImplementedError

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        raise NotImplementedError

    def start(self, d: JSDate) -> JSDate:
        raise NotImplementedError

    def end(self, d: JSDate) -> JSDate:
        raise NotImplementedError

    def next(self, d: JSDate, value: Num) -> JSDate | None:
        """Start of the next period with ``value``; None is later.NEVER."""
        raise NotImplementedError


class Second(Constraint):
    name, range = "second", 1

    def val(self, d: JSDate) -> Num:
        return d.seconds

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == value

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        return (0, 59)

    def start(self, d: JSDate) -> JSDate:
        return d

    def end(self, d: JSDate) -> JSDate:
        return d

    def next(self, d: JSDate, value: Num) -> JSDate:
        s = self.val(d)
        inc = 60 - s if value > 59 else 60 - s + value if value <= s else value - s
        return JSDate(d.t + inc * SEC)


class Minute(Constraint):
    name, range = "minute", 60

    def val(self, d: JSDate) -> Num:
        return d.minutes

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == value

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        return (0, 59)

    def start(self, d: JSDate) -> JSDate:
        return date_next(d.year, d.month0 + 1, d.date, d.hours, d.minutes)

    def end(self, d: JSDate) -> JSDate:
        return date_prev(d.year, d.month0 + 1, d.date, d.hours, d.minutes)

    def next(self, d: JSDate, value: Num) -> JSDate:
        m = self.val(d)
        s = SECOND.val(d)
        inc = 60 - m if value > 59 else 60 - m + value if value <= m else value - m
        # Keeps the milliseconds of d, as later.js does.
        return JSDate(d.t + inc * 60 * SEC - s * SEC)


class Hour(Constraint):
    name, range = "hour", 3600

    def val(self, d: JSDate) -> Num:
        return d.hours

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == value

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        return (0, 23)

    def start(self, d: JSDate) -> JSDate:
        return date_next(d.year, d.month0 + 1, d.date, d.hours)

    def end(self, d: JSDate) -> JSDate:
        return date_prev(d.year, d.month0 + 1, d.date, d.hours)

    def next(self, d: JSDate, value: Num) -> JSDate:
        value = 0 if value > 23 else value
        return date_next(d.year, d.month0 + 1, d.date + (1 if value <= self.val(d) else 0), value)


class Time(Constraint):
    name, range = "time", 1

    def val(self, d: JSDate) -> Num:
        return d.hours * 3600 + d.minutes * 60 + d.seconds

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == value

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        return (0, 86399)

    def start(self, d: JSDate) -> JSDate:
        return d

    def end(self, d: JSDate) -> JSDate:
        return d

    def next(self, d: JSDate, value: Num) -> JSDate:
        value = 0 if value > 86399 else value
        return date_next(
            d.year, d.month0 + 1, d.date + (1 if value <= self.val(d) else 0), 0, 0, value
        )


class DayOfMonth(Constraint):
    name, range = "day", 86400

    def val(self, d: JSDate) -> Num:
        return d.date

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == js_or(value, self.extent(d)[1])

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        month = MONTH.val(d)
        maximum = js_index(DAYS_IN_MONTH, month - 1)
        if month == 2 and DAY_OF_YEAR.extent(d)[1] == 366:
            maximum += 1
        return (1, maximum)

    def start(self, d: JSDate) -> JSDate:
        return date_next(d.year, d.month0 + 1, d.date)

    def end(self, d: JSDate) -> JSDate:
        return date_prev(d.year, d.month0 + 1, d.date)

    def next(self, d: JSDate, value: Num) -> JSDate:
        value = 1 if value > self.extent(d)[1] else value
        month = next_rollover(d, value, self, MONTH)
        day_max = self.extent(month)[1]
        value = 1 if value > day_max else js_or(value, day_max)
        return date_next(month.year, month.month0 + 1, value)


class DayOfWeekCount(Constraint):
    """``dc``: the nth occurrence of a weekday in the month (days 1-7 are 1, 8-14 are 2...)."""

    name, range = "day of week count", 604800

    def val(self, d: JSDate) -> Num:
        return js_floor((DAY_OF_MONTH.val(d) - 1) / 7) + 1

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == value or (
            value == 0 and DAY_OF_MONTH.val(d) > DAY_OF_MONTH.extent(d)[1] - 7
        )

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        return (1, js_ceil(js_div(DAY_OF_MONTH.extent(d)[1], 7)))

    def start(self, d: JSDate) -> JSDate:
        return date_next(d.year, d.month0 + 1, js_max(1, js_or((self.val(d) - 1) * 7 + 1, 1)))

    def end(self, d: JSDate) -> JSDate:
        return date_prev(d.year, d.month0 + 1, js_min(self.val(d) * 7, DAY_OF_MONTH.extent(d)[1]))

    def _first_day(self, month: JSDate, value: Num) -> JSDate:
        day = DAY_OF_MONTH.extent(month)[1] - 6 if value == 0 else 1 + 7 * (value - 1)
        return date_next(month.year, month.month0 + 1, day)

    def next(self, d: JSDate, value: Num) -> JSDate:
        value = 1 if value > self.extent(d)[1] else value
        month = next_rollover(d, value, self, MONTH)
        value = 1 if value > self.extent(month)[1] else value
        candidate = self._first_day(month, value)
        if candidate.t <= d.t:
            month = MONTH.next(d, MONTH.val(d) + 1)
            return self._first_day(month, value)
        return candidate


class DayOfWeek(Constraint):
    """``d``: 1 = Sunday ... 7 = Saturday."""

    name, range = "day of week", 86400

    def val(self, d: JSDate) -> Num:
        return d.day + 1

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == js_or(value, 7)

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        return (1, 7)

    def start(self, d: JSDate) -> JSDate:
        return DAY_OF_MONTH.start(d)

    def end(self, d: JSDate) -> JSDate:
        return DAY_OF_MONTH.end(d)

    def next(self, d: JSDate, value: Num) -> JSDate:
        value = 1 if value > 7 else js_or(value, 7)
        dw = self.val(d)
        return date_next(d.year, d.month0 + 1, d.date + (value - dw) + (7 if value <= dw else 0))


class DayOfYear(Constraint):
    name, range = "day of year", 86400

    def val(self, d: JSDate) -> Num:
        return js_ceil(1 + (DAY_OF_MONTH.start(d).t - YEAR.start(d).t) / DAY)

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == js_or(value, self.extent(d)[1])

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        # later.js's own leap rule: every fourth year, 2100 included.
        return (1, 365 if truthy(js_rem(YEAR.val(d), 4)) else 366)

    def start(self, d: JSDate) -> JSDate:
        return DAY_OF_MONTH.start(d)

    def end(self, d: JSDate) -> JSDate:
        return DAY_OF_MONTH.end(d)

    def next(self, d: JSDate, value: Num) -> JSDate:
        value = 1 if value > self.extent(d)[1] else value
        year = next_rollover(d, value, self, YEAR)
        day_max = self.extent(year)[1]
        value = 1 if value > day_max else js_or(value, day_max)
        return date_next(year.year, year.month0 + 1, value)


class WeekOfMonth(Constraint):
    """``wm``: weeks run Sunday to Saturday; the week holding the 1st is week 1."""

    name, range = "week of month", 604800

    def val(self, d: JSDate) -> Num:
        first_dw = DAY_OF_WEEK.val(MONTH.start(d))
        return js_div(d.date + (first_dw - 1) + (7 - DAY_OF_WEEK.val(d)), 7)

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == js_or(value, self.extent(d)[1])

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        first_dw = DAY_OF_WEEK.val(MONTH.start(d))
        last_dw = DAY_OF_WEEK.val(MONTH.end(d))
        return (1, js_div(DAY_OF_MONTH.extent(d)[1] + (first_dw - 1) + (7 - last_dw), 7))

    def start(self, d: JSDate) -> JSDate:
        return date_next(d.year, d.month0 + 1, js_max(d.date - DAY_OF_WEEK.val(d) + 1, 1))

    def end(self, d: JSDate) -> JSDate:
        return date_prev(
            d.year,
            d.month0 + 1,
            js_min(d.date + (7 - DAY_OF_WEEK.val(d)), DAY_OF_MONTH.extent(d)[1]),
        )

    def next(self, d: JSDate, value: Num) -> JSDate:
        value = 1 if value > self.extent(d)[1] else value
        month = next_rollover(d, value, self, MONTH)
        week_max = self.extent(month)[1]
        value = 1 if value > week_max else js_or(value, week_max)
        return date_next(
            month.year,
            month.month0 + 1,
            js_max(1, (value - 1) * 7 - (DAY_OF_WEEK.val(month) - 2)),
        )


class WeekOfYear(Constraint):
    """``wy``: ISO 8601 week number (weeks start on Monday)."""

    name, range = "week of year (ISO)", 604800

    def val(self, d: JSDate) -> Num:
        week_thursday = DAY_OF_WEEK.next(self.start(d), 5)
        previous_year = YEAR.prev(week_thursday, YEAR.val(week_thursday) - 1)
        if previous_year is None:
            # later.js calls a Date method on later.NEVER (0) here and throws.
            raise LaterRuntimeError("week of year before 1971 (later.js throws a TypeError)")
        year_thursday = DAY_OF_WEEK.next(previous_year, 5)
        return 1 + js_ceil((week_thursday.t - year_thursday.t) / WEEK)

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == js_or(value, self.extent(d)[1])

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        year = DAY_OF_WEEK.next(self.start(d), 5)
        dw_first = DAY_OF_WEEK.val(YEAR.start(year))
        dw_last = DAY_OF_WEEK.val(YEAR.end(year))
        return (1, 53 if dw_first == 5 or dw_last == 5 else 52)

    def start(self, d: JSDate) -> JSDate:
        dw = DAY_OF_WEEK.val(d)
        return date_next(d.year, d.month0 + 1, d.date - (dw - 2 if dw > 1 else 6))

    def end(self, d: JSDate) -> JSDate:
        dw = DAY_OF_WEEK.val(d)
        return date_prev(d.year, d.month0 + 1, d.date + (8 - dw if dw > 1 else 0))

    def next(self, d: JSDate, value: Num) -> JSDate:
        value = 1 if value > self.extent(d)[1] else value
        week_thursday = DAY_OF_WEEK.next(self.start(d), 5)
        year = next_rollover(week_thursday, value, self, YEAR)
        if self.val(year) != 1:
            year = DAY_OF_WEEK.next(year, 2)
        week_max = self.extent(year)[1]
        week_start = self.start(year)
        value = 1 if value > week_max else js_or(value, week_max)
        return date_next(week_start.year, week_start.month0 + 1, week_start.date + 7 * (value - 1))


class Month(Constraint):
    name, range = "month", 2629740

    def val(self, d: JSDate) -> Num:
        return d.month0 + 1

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == js_or(value, 12)

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        return (1, 12)

    def start(self, d: JSDate) -> JSDate:
        return date_next(d.year, d.month0 + 1)

    def end(self, d: JSDate) -> JSDate:
        return date_prev(d.year, d.month0 + 1)

    def next(self, d: JSDate, value: Num) -> JSDate:
        value = 1 if value > 12 else js_or(value, 12)
        return date_next(d.year + (0 if value > self.val(d) else 1), value)


class Year(Constraint):
    name, range = "year", 31556900

    def val(self, d: JSDate) -> Num:
        return d.year

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.val(d) == value

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        return (1970, 2099)

    def start(self, d: JSDate) -> JSDate:
        return date_next(d.year)

    def end(self, d: JSDate) -> JSDate:
        return date_prev(d.year)

    def next(self, d: JSDate, value: Num) -> JSDate | None:
        return date_next(value) if self.val(d) < value <= 2099 else None

    def prev(self, d: JSDate, value: Num) -> JSDate | None:
        return date_prev(value) if 1970 <= value < self.val(d) else None


SECOND = Second()
MINUTE = Minute()
HOUR = Hour()
TIME = Time()
DAY_OF_MONTH = DayOfMonth()
DAY_OF_WEEK_COUNT = DayOfWeekCount()
DAY_OF_WEEK = DayOfWeek()
DAY_OF_YEAR = DayOfYear()
WEEK_OF_MONTH = WeekOfMonth()
WEEK_OF_YEAR = WeekOfYear()
MONTH = Month()
YEAR = Year()

# later.js's constraint keys, as they appear in a parsed schedule.
CONSTRAINTS: dict[str, Constraint] = {
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
    "t": TIME,
    "D": DAY_OF_MONTH,
    "dc": DAY_OF_WEEK_COUNT,
    "d": DAY_OF_WEEK,
    "dw": DAY_OF_WEEK,
    "dy": DAY_OF_YEAR,
    "wm": WEEK_OF_MONTH,
    "wy": WEEK_OF_YEAR,
    "M": MONTH,
    "Y": YEAR,
}


class After(Constraint):
    """``<key>_a``: valid from the first listed value up to the end of the period."""

    def __init__(self, constraint: Constraint, values: Sequence[Num], today: JSDate) -> None:
        self.inner = constraint
        self.value = js_index(values, 0)
        self.name = "after " + constraint.name
        # later.js measures this against the real current date, so the order in which it
        # checks constraints can depend on today's month length.
        self.range = (constraint.extent(today)[1] - self.value) * constraint.range

    def val(self, d: JSDate) -> Num:
        return self.inner.val(d)

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.inner.val(d) >= self.value

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        return self.inner.extent(d)

    def start(self, d: JSDate) -> JSDate:
        return self.inner.start(d)

    def end(self, d: JSDate) -> JSDate:
        return self.inner.end(d)

    def next(self, d: JSDate, value: Num) -> JSDate | None:
        if value != self.value:
            value = self.inner.extent(d)[0]
        return self.inner.next(d, value)


class Before(Constraint):
    """``<key>_b``: valid from the start of the period up to (excluding) the last value."""

    def __init__(self, constraint: Constraint, values: Sequence[Num], today: JSDate) -> None:
        self.inner = constraint
        self.value = js_index(values, len(values) - 1)
        self.name = "before " + constraint.name
        self.range = constraint.range * (self.value - 1)

    def val(self, d: JSDate) -> Num:
        return self.inner.val(d)

    def is_valid(self, d: JSDate, value: Num) -> bool:
        return self.inner.val(d) < self.value

    def extent(self, d: JSDate) -> tuple[Num, Num]:
        return self.inner.extent(d)

    def start(self, d: JSDate) -> JSDate:
        return self.inner.start(d)

    def end(self, d: JSDate) -> JSDate:
        return self.inner.end(d)

    def next(self, d: JSDate, value: Num) -> JSDate | None:
        value = self.inner.extent(d)[0] if value == self.value else self.value
        return self.inner.next(d, value)


MODIFIERS: dict[str, type[After] | type[Before]] = {"a": After, "b": Before}

__all__ = ["CONSTRAINTS", "MODIFIERS", "Constraint", "LaterRuntimeError"]
