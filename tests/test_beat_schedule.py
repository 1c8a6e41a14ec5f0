"""LaterJsSchedule: beat fires later.js text as Butler's ``later.setInterval`` would."""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from celery import Celery
from celery.beat import PersistentScheduler, ScheduleEntry
from celery.schedules import BaseSchedule

from licmon.laterjs import LaterParseError, LaterScheduleError
from worker.schedules import LaterJsSchedule

# A clock the schedules read through a module-level function, so it survives pickling.
_NOW: list[datetime] = [datetime(2026, 11, 28, 3, 17, tzinfo=UTC)]


def fake_now() -> datetime:
    return _NOW[0]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    saved = _NOW[0]
    yield _NOW
    _NOW[0] = saved


def test_is_a_celery_schedule_with_readable_repr() -> None:
    schedule = LaterJsSchedule("every 24 hours")
    assert isinstance(schedule, BaseSchedule)
    assert repr(schedule) == "<later.js: every 24 hours>"
    assert str(schedule) == "every 24 hours"


def test_invalid_text_is_refused_at_construction() -> None:
    with pytest.raises(LaterParseError) as caught:
        LaterJsSchedule("every 24 hourz")
    assert caught.value.position == 9
    with pytest.raises(LaterScheduleError):
        LaterJsSchedule("every 5 mins also")


def test_due_at_the_top_of_the_hour_not_before(clock: list[datetime]) -> None:
    schedule = LaterJsSchedule("every 1 hour", nowfun=fake_now)
    last_run = at("2026-11-28T03:17:00Z")
    clock[0] = at("2026-11-28T03:59:59Z")
    assert schedule.is_due(last_run) == (False, 1.0)
    clock[0] = at("2026-11-28T04:00:00Z")
    due, wait = schedule.is_due(last_run)
    assert due and wait == 3600.0


def test_just_after_running_the_same_tick_is_not_due_again(clock: list[datetime]) -> None:
    schedule = LaterJsSchedule("every 1 hour", nowfun=fake_now)
    ran_at = at("2026-11-28T04:00:00.050Z")
    clock[0] = at("2026-11-28T04:00:00.400Z")
    due, wait = schedule.is_due(ran_at)
    assert not due
    assert wait == pytest.approx(3599.6)


def test_one_second_skip_rule(clock: list[datetime]) -> None:
    # Armed 0.5 s before midnight, later.setTimeout skips that midnight: so do we.
    schedule = LaterJsSchedule("every 24 hours", nowfun=fake_now)
    armed = at("2026-11-28T23:59:59.500Z")
    assert schedule.next_fire(armed) == at("2026-11-30T00:00:00Z")
    clock[0] = at("2026-11-29T00:00:00.100Z")
    assert not schedule.is_due(armed).is_due
    # Exactly one second ahead is far enough.
    assert schedule.next_fire(at("2026-11-28T23:59:59Z")) == at("2026-11-29T00:00:00Z")
    # Inside a matching hour, "every 1 hour" counts "now" as the too-close occurrence and
    # fires at the next hour, so an hourly tick is never lost to the rule.
    hourly = LaterJsSchedule("every 1 hour", nowfun=fake_now)
    assert hourly.next_fire(at("2026-11-28T03:59:59.500Z")) == at("2026-11-28T04:00:00Z")


def test_missed_ticks_fire_once(clock: list[datetime]) -> None:
    schedule = LaterJsSchedule("every 1 hour", nowfun=fake_now)
    clock[0] = at("2026-11-28T07:30:00Z")
    due, wait = schedule.is_due(at("2026-11-28T03:17:00Z"))
    assert due
    assert wait == 1800.0  # the following tick, 08:00, counted from now


def test_calendar_aligned_days(clock: list[datetime]) -> None:
    schedule = LaterJsSchedule("every 14 days", nowfun=fake_now)
    assert schedule.next_fire(at("2026-11-28T03:17:00Z")) == at("2026-11-29T00:00:00Z")
    assert schedule.next_fire(at("2026-11-29T00:00:00.300Z")) == at("2026-12-01T00:00:00Z")


def test_remaining_estimate(clock: list[datetime]) -> None:
    schedule = LaterJsSchedule("at 10:15 am", nowfun=fake_now)
    clock[0] = at("2026-11-28T10:00:00Z")
    assert schedule.remaining_estimate(at("2026-11-28T03:17:00Z")) == timedelta(minutes=15)


def test_ended_schedule_is_never_due(clock: list[datetime]) -> None:
    schedule = LaterJsSchedule("in 2020", nowfun=fake_now)
    due, wait = schedule.is_due(at("2026-11-28T03:17:00Z"))
    assert not due and wait == 86400.0
    assert schedule.remaining_estimate(at("2026-11-28T03:17:00Z")) > timedelta(days=3650)


def test_utc_whatever_the_app_timezone(clock: list[datetime]) -> None:
    app = Celery("t", set_as_current=False)
    app.conf.timezone = "Asia/Kolkata"
    app.conf.enable_utc = False
    schedule = LaterJsSchedule("at 10:15 am", app=app)
    assert schedule.now().tzinfo is UTC
    kolkata = timezone(timedelta(hours=5, minutes=30))
    last_run = datetime(2026, 11, 28, 9, 0, tzinfo=kolkata)  # 03:30Z
    assert schedule.next_fire(last_run) == at("2026-11-28T10:15:00Z")
    # A naive last_run_at (old state files) is UTC, as Celery's naive_as_utc has it.
    assert schedule.next_fire(datetime(2026, 11, 28, 10, 15, 30)) == at("2026-11-29T10:15:00Z")


def test_default_now_is_utc_aware() -> None:
    now = LaterJsSchedule("every 1 hour").now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_pickle_round_trip() -> None:
    schedule = LaterJsSchedule("every weekday at 8:00 am")
    copy = pickle.loads(pickle.dumps(schedule))
    assert copy == schedule and hash(copy) == hash(schedule)
    assert repr(copy) == "<later.js: every weekday at 8:00 am>"
    start = at("2026-11-28T03:17:00Z")
    assert copy.next_fire(start) == schedule.next_fire(start) == at("2026-11-30T08:00:00Z")
    assert schedule != LaterJsSchedule("every 24 hours")
    with_clock = pickle.loads(pickle.dumps(LaterJsSchedule("every 1 hour", nowfun=fake_now)))
    assert with_clock.nowfun is fake_now


def _beat(tmp_path: Path, text: str) -> PersistentScheduler:
    app = Celery("t", set_as_current=False)
    app.conf.beat_schedule = {
        "check": {"task": "t.check", "schedule": LaterJsSchedule(text, nowfun=fake_now)}
    }
    return PersistentScheduler(app=app, schedule_filename=str(tmp_path / "beat-state"))


def _run(beat: PersistentScheduler) -> ScheduleEntry:
    """What beat does when an entry is due, minus sending: advance it and persist."""
    entry = beat.schedule["check"]
    beat.reserve(entry)
    beat.sync()
    return beat.schedule["check"]


def test_restart_neither_repeats_nor_skips_a_tick(tmp_path: Path, clock: list[datetime]) -> None:
    clock[0] = at("2026-11-28T03:17:00Z")
    beat = _beat(tmp_path, "every 1 hour")
    assert not beat.schedule["check"].is_due().is_due  # armed at 03:17: next is 04:00

    clock[0] = at("2026-11-28T04:00:00.200Z")
    assert beat.schedule["check"].is_due().is_due
    ran = _run(beat)
    assert ran.last_run_at == clock[0]
    beat.close()

    # Restarted right away: the 04:00 tick already ran and must not run again.
    clock[0] = at("2026-11-28T04:00:00.900Z")
    beat = _beat(tmp_path, "every 1 hour")
    entry = beat.schedule["check"]
    assert entry.last_run_at == at("2026-11-28T04:00:00.200Z")
    due, wait = entry.is_due()
    assert not due and wait == pytest.approx(3599.1)
    beat.close()

    # Down from 04:30 to 06:10: the ticks it slept through run once on start, not never.
    clock[0] = at("2026-11-28T06:10:00Z")
    beat = _beat(tmp_path, "every 1 hour")
    assert beat.schedule["check"].is_due().is_due
    _run(beat)
    due, wait = beat.schedule["check"].is_due()
    assert not due and wait == 50 * 60.0
    beat.close()


def test_module_does_not_import_the_project_app() -> None:
    code = (
        "import sys\n"
        "import worker.schedules\n"
        "print(sorted(n for n in sys.modules if n.startswith('worker.')))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "['worker.schedules']"
