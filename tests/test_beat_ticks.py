"""Which tick a beat run stands for, and the check id it gets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.beat import check_id, due_tick, instant_text
from worker.schedules import LaterJsSchedule

pytestmark = pytest.mark.fast


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_tick_on_time_is_that_tick() -> None:
    daily = LaterJsSchedule("every 24 hours")
    assert due_tick(daily, at("2026-11-28T03:17:00Z"), at("2026-11-29T00:00:00.4Z")) == at(
        "2026-11-29T00:00:00Z"
    )


def test_after_an_outage_the_newest_missed_tick_is_used() -> None:
    hourly = LaterJsSchedule("every 1 hour")
    last_run = at("2026-11-28T03:17:00Z")
    assert due_tick(hourly, last_run, at("2026-11-28T09:42:10Z")) == at("2026-11-28T09:00:00Z")


def test_naive_last_run_is_taken_as_utc() -> None:
    hourly = LaterJsSchedule("every 1 hour")
    assert due_tick(hourly, datetime(2026, 11, 28, 3, 17), at("2026-11-28T04:00:00Z")) == at(
        "2026-11-28T04:00:00Z"
    )


def test_check_ids_name_site_and_second() -> None:
    moment = datetime(2026, 11, 29, 0, 0, 0, 250_000, tzinfo=UTC)
    assert check_id("prod", moment) == "prod@2026-11-29T00:00:00Z"
    assert instant_text(moment) == "2026-11-29T00:00:00Z"
