"""``later.parse.recur``: the builder the text parser drives, one constraint at a time.

It keeps later.js's odd state machine on purpose: values, ``every``, modifier and first/last
flags are consumed by the next period call; a second ``except`` reopens the first exception
schedule and leaves an empty one behind; ``between`` rewrites the values the last ``every``
added. Values that only arise after a parse error are modelled loosely (NaN), since a text
with an error is refused anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from licmon.laterjs.jsvalue import NAN, Num, is_nan


class RecurCrash(Exception):
    """later.js would throw a TypeError here (only reachable after a parse error)."""


@dataclass(frozen=True)
class _LastEvery:
    name: str
    every: Num
    count_before: int
    maximum: Num


def _number(value: Any) -> Num:
    """``Number(value)`` for what the parser hands over: an int, or anything else (NaN)."""
    return value if isinstance(value, int) else NAN


def _time_seconds(value: Any) -> Num:
    """``HH:MM`` (as converted by the parser) to seconds of the day."""
    if not isinstance(value, str):
        return NAN
    parts = value.split(":")
    try:
        return int(parts[0]) * 3600 + int(parts[1]) * 60
    except (ValueError, IndexError):
        return NAN


class Recur:
    def __init__(self) -> None:
        self.schedules: list[dict[str, list[Num]]] = []
        self.exceptions: list[dict[str, list[Num]]] = []
        self._cur_array = self.schedules
        self._cur: dict[str, list[Num]] | None = None
        self._values: list[Any] = []
        self._every: Num = 0
        self._modifier = ""
        self._apply_min = False
        self._apply_max = False
        self._last: _LastEvery | None = None

    def _add(self, name: str, minimum: Num = NAN, maximum: Num = NAN) -> None:
        if self._modifier:
            name = f"{name}_{self._modifier}"
        if self._cur is None:
            self._cur_array.append({})
            # later.js takes element 0, not the one just appended (see the module doc).
            self._cur = self._cur_array[0]
        current = self._cur.setdefault(name, [])
        values: list[Any] = self._values
        if self._every:
            values = []
            if not (is_nan(minimum) or is_nan(maximum)):
                values = list(range(int(minimum), int(maximum) + 1, int(self._every)))
            self._last = _LastEvery(name, self._every, len(current), maximum)
        if self._apply_min:
            values = [minimum]
        elif self._apply_max:
            values = [maximum]
        seen = set(current)
        for value in values:
            if value not in seen:
                current.append(value)
                seen.add(value)
        self._values, self._every, self._modifier = [], 0, ""
        self._apply_min = self._apply_max = False

    # Setters consumed by the next period call.
    def on(self, values: list[Any]) -> Recur:
        self._values = list(values)
        return self

    def every(self, step: Any) -> Recur:
        # `x || 1`: a failed number token still leaves a truthy step in later.js.
        self._every = step if isinstance(step, int) and step > 0 else 1
        return self

    def after(self, value: Any) -> Recur:
        self._modifier, self._values = "a", [value]
        return self

    def before(self, value: Any) -> Recur:
        self._modifier, self._values = "b", [value]
        return self

    def first(self) -> Recur:
        self._apply_min = True
        return self

    def last(self) -> Recur:
        self._apply_max = True
        return self

    # Periods.
    def time(self) -> Recur:
        self._values = [_time_seconds(v) for v in self._values]
        self._add("t")
        return self

    def second(self) -> Recur:
        self._add("s", 0, 59)
        return self

    def minute(self) -> Recur:
        self._add("m", 0, 59)
        return self

    def hour(self) -> Recur:
        self._add("h", 0, 23)
        return self

    def day_of_month(self) -> Recur:
        self._add("D", 1, 0 if self._apply_max else 31)
        return self

    def day_of_week(self) -> Recur:
        self._add("d", 1, 7)
        return self

    def day_of_week_count(self) -> Recur:
        self._add("dc", 1, 0 if self._apply_max else 5)
        return self

    def day_of_year(self) -> Recur:
        self._add("dy", 1, 0 if self._apply_max else 366)
        return self

    def week_of_month(self) -> Recur:
        self._add("wm", 1, 0 if self._apply_max else 5)
        return self

    def week_of_year(self) -> Recur:
        self._add("wy", 1, 0 if self._apply_max else 53)
        return self

    def month(self) -> Recur:
        self._add("M", 1, 12)
        return self

    def year(self) -> Recur:
        self._add("Y", 1970, 2450)
        return self

    # Structure.
    def starting_on(self, start: Any) -> Recur:
        if self._last is None:
            raise RecurCrash("'starting on' without a preceding 'every N <period>'")
        return self.between(start, self._last.maximum)

    def between(self, start: Any, end: Any) -> Recur:
        last = self._last
        if last is None or self._cur is None or last.name not in self._cur:
            raise RecurCrash("'between' without a preceding 'every N <period>'")
        self._cur[last.name] = self._cur[last.name][: last.count_before]
        self._every = last.every
        self._add(last.name, _number(start), _number(end))
        return self

    def also(self) -> Recur:
        self._cur_array.append({})
        self._cur = self._cur_array[-1]
        return self

    def except_(self) -> Recur:
        self._cur_array = self.exceptions
        self._cur = None
        return self
