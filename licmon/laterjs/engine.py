"""later.js's compile/schedule algorithm (forward direction), on millisecond time values.

``compile`` orders a schedule's constraints from the coarsest period to the finest and walks a
candidate date forward until every constraint holds; ``instances`` merges several schedules
and skips the ranges covered by exception schedules. Both keep later.js's iteration caps
(1000 attempts), because for impossible schedules (31 February) later.js returns whatever date
the cap leaves it on, and we must return the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from licmon.laterjs.arrays import next_invalid, next_value
from licmon.laterjs.constraints import CONSTRAINTS, MODIFIERS, Constraint
from licmon.laterjs.jsdate import SEC, JSDate
from licmon.laterjs.jsvalue import Num, is_nan, js_max, truthy

MAX_ATTEMPTS = 1000
# The most engine steps (one constraint checked against a candidate date, about 10 µs) a
# call may take per occurrence it asks for (beat asks for 2). later.js has no such limit: a
# text of many `also` clauses kept it busy for seconds per call, and beat does nothing else
# meanwhile. Ordinary schedules take a few steps per occurrence; an impossible date ("on the
# 31st day of feb"), which later.js gives up on after its 1000 attempts, about 2300.
STEP_BUDGET = 10_000

# A parsed schedule: constraint keys (``m``, ``D_a``...) with their values, in text order.
ScheduleDef = Sequence[tuple[str, Sequence[Num]]]


class LaterScheduleError(ValueError):
    """A schedule that later.js parses but cannot run (it throws in ``later.schedule``)."""


class LaterLimitError(LaterScheduleError):
    """later.js could run this schedule, but not within this service's limits (the length
    of its text, the work to find its next occurrence)."""


class WorkBudget:
    """What one call may still spend; raises :class:`LaterLimitError` once it is spent."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int = STEP_BUDGET) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, steps: int = 1) -> None:
        self.left -= steps
        if self.left < 0:
            raise LaterLimitError(
                f"finding its next occurrence takes more than {self.limit} steps "
                "(too many 'also' clauses, or exceptions that rule out most candidates)"
            )


def _later(a: JSDate | None, b: JSDate | None) -> bool:
    """later.js's ``compareFn('next')``: true when a is after b, or either is missing."""
    if a is None or b is None:
        return True
    return a.t > b.t


def _v8_sort(items: list[tuple[Constraint, Sequence[Num]]]) -> None:
    """Array.prototype.sort as V8 does it for short arrays, by descending range.

    A run scan followed by binary insertion sort; reproduced rather than using ``list.sort``
    so that NaN ranges (which make the comparator inconsistent) land where V8 puts them.
    """

    def compare(a: tuple[Constraint, Sequence[Num]], b: tuple[Constraint, Sequence[Num]]) -> int:
        ra, rb = a[0].range, b[0].range
        return -1 if rb < ra else 1 if rb > ra else 0

    n = len(items)
    if n < 2:
        return
    run = 2
    descending = compare(items[1], items[0]) < 0
    previous = items[1]
    for idx in range(2, n):
        order = compare(items[idx], previous)
        if (descending and order >= 0) or (not descending and order < 0):
            break
        previous = items[idx]
        run += 1
    if descending:
        items[:run] = items[:run][::-1]
    for start in range(run, n):
        pivot = items[start]
        left, right = 0, start
        while left < right:
            mid = left + ((right - left) >> 1)
            if compare(pivot, items[mid]) < 0:
                right = mid
            else:
                left = mid + 1
        items[left + 1 : start + 1] = items[left:start]
        items[left] = pivot


@dataclass(frozen=True)
class Compiled:
    """``later.compile``: one schedule's constraints, coarsest first."""

    constraints: tuple[tuple[Constraint, tuple[Num, ...]], ...]

    @property
    def tick_constraint(self) -> Constraint:
        return self.constraints[-1][0]

    def start(self, start_date: JSDate, budget: WorkBudget) -> JSDate | None:
        """The first date at or after ``start_date`` satisfying every constraint."""
        nxt: JSDate | None = start_date
        attempts = MAX_ATTEMPTS
        done = False
        while attempts and not done and nxt is not None:
            attempts -= 1
            done = True
            for constraint, values in self.constraints:
                budget.spend()
                new_value = next_value(constraint.val(nxt), values, constraint.extent(nxt))
                if not constraint.is_valid(nxt, new_value):
                    nxt = constraint.next(nxt, new_value)
                    done = False
                    break
        if nxt is not None:
            nxt = self.tick_constraint.start(nxt)
        return nxt

    def end(self, start_date: JSDate, budget: WorkBudget) -> JSDate | None:
        """The first date after ``start_date`` at which some constraint stops holding."""
        budget.spend(len(self.constraints))
        result: JSDate | None = None
        for constraint, values in reversed(self.constraints):
            new_value = next_invalid(
                constraint.val(start_date), values, constraint.extent(start_date)
            )
            if new_value is not None:
                nxt = constraint.next(start_date, new_value)
                if nxt is not None and (result is None or _later(result, nxt)):
                    result = nxt
        return result

    def tick(self, date: JSDate) -> JSDate:
        return JSDate(self.tick_constraint.end(date).t + SEC)


def compile_schedule(definition: ScheduleDef, today: JSDate) -> Compiled:
    """``later.compile``; ``today`` stands for the ``new Date()`` after/before ranges use."""
    items: list[tuple[Constraint, tuple[Num, ...]]] = []
    for key, values in definition:
        name, _, modifier = key.partition("_")
        constraint = CONSTRAINTS[name]
        if modifier:
            constraint = MODIFIERS[modifier](constraint, values, today)
        items.append((constraint, tuple(values)))
    if not items:
        raise LaterScheduleError("an empty schedule (later.js throws a TypeError on it)")
    _v8_sort(items)
    return Compiled(tuple(items))


def _clean(date: JSDate) -> int | None:
    """``cleanDate``: an Invalid Date becomes undefined."""
    return None if is_nan(date.t) else int(date.t)


def instances(
    schedules: Sequence[Compiled],
    exceptions: Sequence[Compiled],
    count: int,
    start_ms: int,
    budget: WorkBudget,
) -> list[int | None]:
    """``later.schedule(...).next(count, start)`` as a list of ms values (None: undefined).

    Returns [] where later.js returns later.NEVER; a count of 1 gives a one-item list where
    later.js would return the bare date. Raises :class:`LaterLimitError` once ``budget``
    is spent.
    """
    start_date = JSDate(start_ms)
    if not truthy(start_date.t):
        raise ValueError("Invalid start date.")
    starts = [schedule.start(start_date, budget) for schedule in schedules]
    ranges = [_range(exception, start_date, budget) for exception in exceptions]
    results: list[JSDate] = []
    loop_count = count
    attempts = MAX_ATTEMPTS
    while attempts and loop_count:
        attempts -= 1
        budget.spend(len(starts))
        nxt = _find_next(starts)
        if nxt is None:
            break
        if exceptions:
            _update_ranges(exceptions, ranges, nxt, budget)
            end = _range_overlap(ranges, nxt)
            if end is not None:
                for i, schedule in enumerate(schedules):
                    current = starts[i]
                    if current is not None and not _later(current, end):
                        starts[i] = schedule.start(end, budget)
                continue
        results.append(JSDate(js_max(start_date.t, nxt.t)))
        for i, schedule in enumerate(schedules):
            current = starts[i]
            if current is not None and current.t == nxt.t:
                starts[i] = schedule.start(schedule.tick(nxt), budget)
        loop_count -= 1
    return [_clean(result) for result in results]


Range = tuple[JSDate, JSDate | None] | None


def _range(exception: Compiled, date: JSDate, budget: WorkBudget) -> Range:
    nxt = exception.start(date, budget)
    return None if nxt is None else (nxt, exception.end(nxt, budget))


def _update_ranges(
    exceptions: Sequence[Compiled], ranges: list[Range], date: JSDate, budget: WorkBudget
) -> None:
    for i, exception in enumerate(exceptions):
        current = ranges[i]
        if current is not None and not _later(current[0], date):
            ranges[i] = _range(exception, date, budget)


def _range_overlap(ranges: Sequence[Range], date: JSDate) -> JSDate | None:
    """End of the exception range covering ``date``, if any.

    A range without an end matches but yields undefined, so later.js does not skip it: kept.
    """
    result: JSDate | None = None
    for current in ranges:
        if (
            current is not None
            and not _later(current[0], date)
            and (current[1] is None or _later(current[1], date))
            and (result is None or _later(current[1], result))
        ):
            result = current[1]
    return result


def _find_next(starts: Sequence[JSDate | None]) -> JSDate | None:
    if not starts:
        return None
    nxt = starts[0]
    for candidate in starts[1:]:
        if candidate is not None and _later(nxt, candidate):
            nxt = candidate
    return nxt
