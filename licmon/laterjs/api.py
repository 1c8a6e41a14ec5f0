"""The public face of the engine: datetimes in, datetimes out, later.js semantics inside."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from licmon.laterjs.constraints import LaterRuntimeError
from licmon.laterjs.engine import (
    MAX_ATTEMPTS,
    STEP_BUDGET,
    Compiled,
    LaterScheduleError,
    WorkBudget,
    compile_schedule,
    instances,
)
from licmon.laterjs.jsdate import SEC, JSDate
from licmon.laterjs.schedule import LaterSchedule

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# datetime cannot hold later than this; later.js can go on (e.g. 31 February every 500 years).
_MAX_MS = int((datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH).total_seconds()) * SEC


def to_ms(moment: datetime) -> int:
    """A datetime as a JavaScript time value (naive means UTC; sub-millisecond dropped)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * SEC + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _compiled(
    schedule: LaterSchedule, today_ms: int | None
) -> tuple[list[Compiled], list[Compiled]]:
    today = JSDate(time.time_ns() // 1_000_000 if today_ms is None else today_ms)
    return (
        [compile_schedule(d, today) for d in schedule.schedules],
        [compile_schedule(d, today) for d in schedule.exceptions],
    )


def raw_next(
    schedule: LaterSchedule,
    start_ms: int,
    count: int,
    *,
    today_ms: int | None = None,
    budget: WorkBudget | None = None,
) -> list[int | None]:
    """``later.schedule(s).next(count, start)`` exactly, as ms values (None: undefined).

    ``today_ms`` is the clock later.js reads to rank after/before constraints (default: now).
    Raises :class:`LaterScheduleError` where later.js throws, and its subclass
    :class:`LaterLimitError` when the work exceeds ``budget`` (default: ``STEP_BUDGET`` per
    occurrence asked for, up to later.js's own 1000).
    """
    schedules, exceptions = _compiled(schedule, today_ms)
    if count <= 0:
        return []
    if budget is None:
        budget = WorkBudget(STEP_BUDGET * min(count, MAX_ATTEMPTS))
    try:
        return instances(schedules, exceptions, count, start_ms, budget)
    except LaterRuntimeError as exc:
        raise LaterScheduleError(str(exc)) from None


def validate(schedule: LaterSchedule, now: datetime | None = None) -> None:
    """Raise :class:`LaterScheduleError` if later.js cannot build this schedule at all, and
    :class:`LaterLimitError` if its next fire time after ``now`` (default: the current time)
    cannot be found within one call's budget."""
    _compiled(schedule, None)
    moment = datetime.now(UTC) if now is None else now
    raw_fire_ms(schedule, to_ms(moment))


def next_occurrences(schedule: LaterSchedule, start: datetime, count: int) -> list[datetime]:
    """``later.schedule(s).next(count, start)``: UTC datetimes, ``start`` included if it fits.

    Ends early when later.js runs out (a last year passed, an empty value list, or a date past
    year 9999, which later.js can still produce for impossible dates but datetime cannot hold).
    """
    result: list[datetime] = []
    for ms in raw_next(schedule, to_ms(start), count):
        if ms is None or ms > _MAX_MS or ms < -_MAX_MS:
            break
        result.append(from_ms(ms))
    return result


def raw_fire_ms(
    schedule: LaterSchedule,
    now_ms: int,
    *,
    today_ms: int | None = None,
    budget: WorkBudget | None = None,
) -> int | None:
    """The delay logic of ``later.setTimeout``, as an absolute ms time (None: never)."""
    upcoming = raw_next(schedule, now_ms, 2, today_ms=today_ms, budget=budget)
    if not upcoming or upcoming[0] is None:
        return None
    diff = upcoming[0] - now_ms
    if diff < SEC:
        # Too close to count as the next tick: later.js waits for the one after.
        second = upcoming[1] if len(upcoming) > 1 else None
        diff = second - now_ms if second is not None else SEC
    return now_ms + diff


def next_fire_time(
    schedule: LaterSchedule, now: datetime, *, budget: WorkBudget | None = None
) -> datetime | None:
    """When ``later.setTimeout``/``setInterval`` started at ``now`` would fire next."""
    ms = raw_fire_ms(schedule, to_ms(now), budget=budget)
    if ms is None or ms > _MAX_MS:
        return None
    return from_ms(ms)


# Fire times `latest_fire_time` walks one by one before it searches instead.
_WALK = 16
# Its whole budget, as much as 5 calls of beat: a walk, about 2 x 45 searching calls, a walk;
# ordinary schedules spend a few hundred steps on all of it.
LATEST_BUDGET = 10 * STEP_BUDGET


def latest_fire_time(
    schedule: LaterSchedule, armed: datetime, now: datetime, *, budget: WorkBudget | None = None
) -> datetime | None:
    """The newest time, not after ``now``, at which a timer armed at ``armed`` fired, the
    timer re-arming itself at each fire (``later.setInterval``); None if it has not fired.

    A few fire times are walked one by one, as the timer would have fired them. After a long
    pause there may be thousands (a per-second schedule and a day of downtime: 86,400 engine
    calls, 8 s of beat doing nothing else), so past a few the newest one is searched for: back
    from ``now`` in doubling steps until some fire time falls at or before ``now``, then
    halving the interval down to a second. That relies on a later fire time coming from a
    later start, which holds for any schedule without exceptions and for ordinary ones with.
    Raises :class:`LaterLimitError` when the whole search exceeds ``budget``.
    """
    budget = budget or WorkBudget(LATEST_BUDGET)
    tick = next_fire_time(schedule, armed, budget=budget)
    if tick is None or tick > now:
        return None
    tick, done = _walk(schedule, tick, now, budget)
    if done:
        return tick

    # Starts are whole seconds after `tick`: later.js keeps a start's milliseconds in what
    # it returns, and the timer's fire times all have the first one's.
    def fires_by_now(seconds: int) -> bool:
        fire = next_fire_time(schedule, tick + timedelta(seconds=seconds), budget=budget)
        return fire is not None and fire <= now

    # A fire time at or before now follows a start `low` seconds after tick; none follows
    # `high` (now itself: the timer never fires in the past).
    high = int((now - tick).total_seconds())
    back, low = 1, 0
    while back < high:
        if fires_by_now(high - back):
            low = high - back
            break
        high, back = high - back, back * 2
    while high - low > 1:
        middle = (low + high) // 2
        if fires_by_now(middle):
            low = middle
        else:
            high = middle
    found = next_fire_time(schedule, tick + timedelta(seconds=low), budget=budget)
    if found is None or found > now or found <= tick:
        return tick
    return _walk(schedule, found, now, budget)[0]


def _walk(
    schedule: LaterSchedule, tick: datetime, now: datetime, budget: WorkBudget
) -> tuple[datetime, bool]:
    """From fire time ``tick``, up to ``_WALK`` fire times on: (the last not after now, whether
    the next one is after now or never comes)."""
    for _ in range(_WALK):
        following = next_fire_time(schedule, tick, budget=budget)
        if following is None or following > now:
            return tick, True
        tick = following
    return tick, False
