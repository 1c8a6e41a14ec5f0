"""The startup check is the check of the schedule's current period, sent once per period:
the period's start, and the marks in Redis that ticks and startup checks leave."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from worker.beat import PeriodMarks, period_start
from worker.schedules import LaterJsSchedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("frequency", "now", "start"),
    [
        ("every 5 seconds", "2026-11-28T12:00:07.300", "2026-11-28T12:00:05"),
        ("every 5 seconds", "2026-11-28T12:00:05", "2026-11-28T12:00:05"),
        ("every 24 hours", "2026-11-28T14:00:00", "2026-11-28T00:00:00"),
        ("every 1 minute", "2026-11-28T12:00:59.999", "2026-11-28T12:00:00"),
        # Sunday afternoon: the last weekday 8:00 was Friday's.
        ("at 8:00 am on Mon through Fri", "2026-11-29T14:00:00", "2026-11-27T08:00:00"),
    ],
)
def test_the_period_starts_at_the_latest_fire_time(frequency: str, now: str, start: str) -> None:
    assert period_start(LaterJsSchedule(frequency), at(now)) == at(start)


def test_a_schedule_that_never_fired_has_no_period_yet() -> None:
    assert (
        period_start(LaterJsSchedule("every 5 seconds in 2099"), at("2026-11-28T12:00:00")) is None
    )


def test_the_first_to_mark_a_period_checks_it(redis_client: redis.Redis) -> None:
    marks = PeriodMarks(redis_client)
    schedule = LaterJsSchedule("every 24 hours")
    midnight = at("2026-11-28T00:00:00")
    assert marks.take("server_license", "prod", schedule, midnight)
    assert not marks.take("server_license", "prod", schedule, midnight)  # a second beat
    # Another site, another kind, another period: marks of their own.
    assert marks.take("server_license", "test", schedule, midnight)
    assert marks.take("other_kind", "prod", schedule, midnight)
    assert marks.take("server_license", "prod", schedule, at("2026-11-29T00:00:00"))
    # Kept until the period ends, and a minute more.
    key = marks.key("server_license", "prod", midnight)
    assert 24 * 3600 < redis_client.ttl(key) <= 24 * 3600 + 60


def test_a_tick_marks_its_period_so_a_starting_beat_skips_it(redis_client: redis.Redis) -> None:
    marks = PeriodMarks(redis_client)
    schedule = LaterJsSchedule("every 5 seconds")
    tick = at("2026-11-28T12:00:05")
    marks.mark("server_license", "prod", schedule, tick)
    assert not marks.take("server_license", "prod", schedule, tick)
    assert 5 < redis_client.ttl(marks.key("server_license", "prod", tick)) <= 65
