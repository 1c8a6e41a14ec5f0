"""The public face of the engine: datetimes in, datetimes out, later.js semantics inside."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from licmon.laterjs.constraints import LaterRuntimeError
from licmon.laterjs.engine import Compiled, LaterScheduleError, compile_schedule, instances
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
    schedule: LaterSchedule, start_ms: int, count: int, *, today_ms: int | None = None
) -> list[int | None]:
    """``later.schedule(s).next(count, start)`` exactly, as ms values (None: undefined).

    ``today_ms`` is the clock later.js reads to rank after/before constraints (default: now).
    Raises :class:`LaterScheduleError` where later.js throws.
    """
    schedules, exceptions = _compiled(schedule, today_ms)
    if count <= 0:
        return []
    try:
        return instances(schedules, exceptions, count, start_ms)
    except LaterRuntimeError as exc:
        raise LaterScheduleError(str(exc)) from None


def validate(schedule: LaterSchedule) -> None:
    """Raise :class:`LaterScheduleError` if later.js cannot build this schedule at all."""
    _compiled(schedule, None)


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


def raw_fire_ms(schedule: LaterSchedule, now_ms: int, *, today_ms: int | None = None) -> int | None:
    """The delay logic of ``later.setTimeout``, as an absolute ms time (None: never)."""
    upcoming = raw_next(schedule, now_ms, 2, today_ms=today_ms)
    if not upcoming or upcoming[0] is None:
        return None
    diff = upcoming[0] - now_ms
    if diff < SEC:
        # Too close to count as the next tick: later.js waits for the one after.
        second = upcoming[1] if len(upcoming) > 1 else None
        diff = second - now_ms if second is not None else SEC
    return now_ms + diff


def next_fire_time(schedule: LaterSchedule, now: datetime) -> datetime | None:
    """When ``later.setTimeout``/``setInterval`` started at ``now`` would fire next."""
    ms = raw_fire_ms(schedule, to_ms(now))
    if ms is None or ms > _MAX_MS:
        return None
    return from_ms(ms)
