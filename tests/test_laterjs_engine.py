"""Unit tests of the later.js engine: next occurrences and timer fire times (offline;
expectations recorded from @breejs/later 4.2.0, start 2026-11-28T03:17:00Z)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from licmon.laterjs import (
    LaterScheduleError,
    next_fire_time,
    next_occurrences,
    parse_text,
    raw_fire_ms,
    raw_next,
)
from licmon.laterjs.api import to_ms
from licmon.laterjs.arrays import next_invalid, next_value
from licmon.laterjs.jsdate import JSDate, date_utc

pytestmark = pytest.mark.fast

START = datetime(2026, 11, 28, 3, 17, tzinfo=UTC)

# (text, next 4 from START as later.js prints them; None: later.js's undefined).
OCCURRENCES: list[tuple[str, list[str | None] | str]] = [
    (
        "every 24 hours",
        [
            "2026-11-29T00:00:00Z",
            "2026-11-30T00:00:00Z",
            "2026-12-01T00:00:00Z",
            "2026-12-02T00:00:00Z",
        ],
    ),
    (
        "every 14 days",
        [
            "2026-11-29T00:00:00Z",
            "2026-12-01T00:00:00Z",
            "2026-12-15T00:00:00Z",
            "2026-12-29T00:00:00Z",
        ],
    ),
    (
        "every 5 mins",
        [
            "2026-11-28T03:20:00Z",
            "2026-11-28T03:25:00Z",
            "2026-11-28T03:30:00Z",
            "2026-11-28T03:35:00Z",
        ],
    ),
    (
        "at 10:15 am",
        [
            "2026-11-28T10:15:00Z",
            "2026-11-29T10:15:00Z",
            "2026-11-30T10:15:00Z",
            "2026-12-01T10:15:00Z",
        ],
    ),
    (
        "every weekday at 8:00 am",
        [
            "2026-11-30T08:00:00Z",
            "2026-12-01T08:00:00Z",
            "2026-12-02T08:00:00Z",
            "2026-12-03T08:00:00Z",
        ],
    ),
    (
        "every 1 hour",
        [
            "2026-11-28T03:17:00Z",
            "2026-11-28T04:00:00Z",
            "2026-11-28T05:00:00Z",
            "2026-11-28T06:00:00Z",
        ],
    ),
    (
        "every 6 hours",
        [
            "2026-11-28T06:00:00Z",
            "2026-11-28T12:00:00Z",
            "2026-11-28T18:00:00Z",
            "2026-11-29T00:00:00Z",
        ],
    ),
    (
        "every 30 seconds",
        [
            "2026-11-28T03:17:00Z",
            "2026-11-28T03:17:30Z",
            "2026-11-28T03:18:00Z",
            "2026-11-28T03:18:30Z",
        ],
    ),
    (
        "every 2 weeks",
        [
            "2026-11-30T00:00:00Z",
            "2026-12-14T00:00:00Z",
            "2026-12-28T00:00:00Z",
            "2027-01-04T00:00:00Z",
        ],
    ),
    (
        "every 3 months",
        [
            "2027-01-01T00:00:00Z",
            "2027-04-01T00:00:00Z",
            "2027-07-01T00:00:00Z",
            "2027-10-01T00:00:00Z",
        ],
    ),
    (
        "every 2 years",
        [
            "2026-11-28T03:17:00Z",
            "2028-01-01T00:00:00Z",
            "2030-01-01T00:00:00Z",
            "2032-01-01T00:00:00Z",
        ],
    ),
    (
        "every 5 minutes starting on the 3rd minute",
        [
            "2026-11-28T03:18:00Z",
            "2026-11-28T03:23:00Z",
            "2026-11-28T03:28:00Z",
            "2026-11-28T03:33:00Z",
        ],
    ),
    (
        "every weekend at 12:00 pm",
        [
            "2026-11-28T12:00:00Z",
            "2026-11-29T12:00:00Z",
            "2026-12-05T12:00:00Z",
            "2026-12-06T12:00:00Z",
        ],
    ),
    (
        "at 12:30 am",
        [
            "2026-11-29T00:30:00Z",
            "2026-11-30T00:30:00Z",
            "2026-12-01T00:30:00Z",
            "2026-12-02T00:30:00Z",
        ],
    ),
    (
        "at 10:15 am and 5:30 pm and 23:59",
        [
            "2026-11-28T10:15:00Z",
            "2026-11-28T17:30:00Z",
            "2026-11-28T23:59:00Z",
            "2026-11-29T10:15:00Z",
        ],
    ),
    (
        "on the first day of the month at 09:00",
        [
            "2026-12-01T09:00:00Z",
            "2027-01-01T09:00:00Z",
            "2027-02-01T09:00:00Z",
            "2027-03-01T09:00:00Z",
        ],
    ),
    (
        "on the last day of the month",
        [
            "2026-11-30T00:00:00Z",
            "2026-12-31T00:00:00Z",
            "2027-01-31T00:00:00Z",
            "2027-02-28T00:00:00Z",
        ],
    ),
    (
        "on the last day of the week",
        [
            "2026-11-28T03:17:00Z",
            "2026-12-05T00:00:00Z",
            "2026-12-12T00:00:00Z",
            "2026-12-19T00:00:00Z",
        ],
    ),
    (
        "on the 1st,15th day",
        [
            "2026-12-01T00:00:00Z",
            "2026-12-15T00:00:00Z",
            "2027-01-01T00:00:00Z",
            "2027-01-15T00:00:00Z",
        ],
    ),
    (
        "on the 1st-5th,10th day of the year",
        [
            "2027-01-01T00:00:00Z",
            "2027-01-02T00:00:00Z",
            "2027-01-03T00:00:00Z",
            "2027-01-04T00:00:00Z",
        ],
    ),
    (
        "on the 2nd day instance on tue",
        [
            "2026-12-08T00:00:00Z",
            "2027-01-12T00:00:00Z",
            "2027-02-09T00:00:00Z",
            "2027-03-09T00:00:00Z",
        ],
    ),
    (
        "on the last day instance on fri",
        [
            "2026-12-25T00:00:00Z",
            "2027-01-29T00:00:00Z",
            "2027-02-26T00:00:00Z",
            "2027-03-26T00:00:00Z",
        ],
    ),
    (
        "on the 3rd week of the month",
        [
            "2026-12-13T00:00:00Z",
            "2027-01-10T00:00:00Z",
            "2027-02-14T00:00:00Z",
            "2027-03-14T00:00:00Z",
        ],
    ),
    (
        "on the last week of the month",
        [
            "2026-11-29T00:00:00Z",
            "2026-12-27T00:00:00Z",
            "2027-01-31T00:00:00Z",
            "2027-02-28T00:00:00Z",
        ],
    ),
    (
        "on the 10th through 12th week of the year",
        [
            "2027-03-08T00:00:00Z",
            "2027-03-15T00:00:00Z",
            "2027-03-22T00:00:00Z",
            "2028-03-06T00:00:00Z",
        ],
    ),
    (
        "on mon, wed and fri at 08:00",
        [
            "2026-11-30T08:00:00Z",
            "2026-12-02T08:00:00Z",
            "2026-12-04T08:00:00Z",
            "2026-12-07T08:00:00Z",
        ],
    ),
    (
        "on mon-fri at 17:00",
        [
            "2026-11-30T17:00:00Z",
            "2026-12-01T17:00:00Z",
            "2026-12-02T17:00:00Z",
            "2026-12-03T17:00:00Z",
        ],
    ),
    (
        "of march to may on the 1st day",
        [
            "2027-03-01T00:00:00Z",
            "2027-04-01T00:00:00Z",
            "2027-05-01T00:00:00Z",
            "2028-03-01T00:00:00Z",
        ],
    ),
    (
        "of ma",
        [
            "2026-12-01T00:00:00Z",
            "2027-12-01T00:00:00Z",
            "2028-12-01T00:00:00Z",
            "2029-12-01T00:00:00Z",
        ],
    ),
    ("in 2027", ["2027-01-01T00:00:00Z"]),
    (
        "in 2025-2030 of december",
        [
            "2026-12-01T00:00:00Z",
            "2027-12-01T00:00:00Z",
            "2028-12-01T00:00:00Z",
            "2029-12-01T00:00:00Z",
        ],
    ),
    (
        "after 10:00 before 17:00",
        [
            "2026-11-28T10:00:00Z",
            "2026-11-28T10:00:01Z",
            "2026-11-28T10:00:02Z",
            "2026-11-28T10:00:03Z",
        ],
    ),
    (
        "after 5th hour before 18th hour",
        [
            "2026-11-28T05:00:00Z",
            "2026-11-28T06:00:00Z",
            "2026-11-28T07:00:00Z",
            "2026-11-28T08:00:00Z",
        ],
    ),
    (
        "before 2nd month",
        [
            "2027-01-01T00:00:00Z",
            "2028-01-01T00:00:00Z",
            "2029-01-01T00:00:00Z",
            "2030-01-01T00:00:00Z",
        ],
    ),
    (
        "every 5 mins except at 10:00",
        [
            "2026-11-28T03:20:00Z",
            "2026-11-28T03:25:00Z",
            "2026-11-28T03:30:00Z",
            "2026-11-28T03:35:00Z",
        ],
    ),
    (
        "every 1 hour except on sat,sun",
        [
            "2026-11-30T00:00:00Z",
            "2026-11-30T01:00:00Z",
            "2026-11-30T02:00:00Z",
            "2026-11-30T03:00:00Z",
        ],
    ),
    (
        "every 1 hour also at 10:15 am",
        [
            "2026-11-28T03:17:00Z",
            "2026-11-28T04:00:00Z",
            "2026-11-28T05:00:00Z",
            "2026-11-28T06:00:00Z",
        ],
    ),
    (
        "at 10:00 also at 11:00 except on sat",
        [
            "2026-11-29T10:00:00Z",
            "2026-11-29T11:00:00Z",
            "2026-11-30T10:00:00Z",
            "2026-11-30T11:00:00Z",
        ],
    ),
    ("every 5 minutes except at 10:00 except at 11:00", "SCHEDTHROWS"),
    ("every 5 mins also", "SCHEDTHROWS"),
    (
        "on the 31st day of feb",
        [
            "2526-03-01T00:00:00Z",
            "3026-03-01T00:00:00Z",
            "3526-03-01T00:00:00Z",
            "4026-03-01T00:00:00Z",
        ],
    ),
    ("every 5 minutes between 50 and 10", [None, None, None, None]),
    (
        "EVERY 5 MINS",
        [
            "2026-11-28T03:20:00Z",
            "2026-11-28T03:25:00Z",
            "2026-11-28T03:30:00Z",
            "2026-11-28T03:35:00Z",
        ],
    ),
    ("", []),
    (
        "every 0 hours",
        [
            "2026-11-28T03:17:00Z",
            "2026-11-28T04:00:00Z",
            "2026-11-28T05:00:00Z",
            "2026-11-28T06:00:00Z",
        ],
    ),
    (
        "every 100 minutes",
        [
            "2026-11-28T04:00:00Z",
            "2026-11-28T05:00:00Z",
            "2026-11-28T06:00:00Z",
            "2026-11-28T07:00:00Z",
        ],
    ),
    (
        "on the first second",
        [
            "2026-11-28T03:17:00Z",
            "2026-11-28T03:18:00Z",
            "2026-11-28T03:19:00Z",
            "2026-11-28T03:20:00Z",
        ],
    ),
    ("on the last year", []),
    (
        "every 5 years",
        [
            "2030-01-01T00:00:00Z",
            "2035-01-01T00:00:00Z",
            "2040-01-01T00:00:00Z",
            "2045-01-01T00:00:00Z",
        ],
    ),
    ("in 2020", []),
    (
        "every 2 days of the week",
        [
            "2026-11-28T03:17:00Z",
            "2026-11-29T00:00:00Z",
            "2026-12-01T00:00:00Z",
            "2026-12-03T00:00:00Z",
        ],
    ),
    (
        "on the 53rd week",
        [
            "2026-12-28T00:00:00Z",
            "2032-12-27T00:00:00Z",
            "2037-12-28T00:00:00Z",
            "2043-12-28T00:00:00Z",
        ],
    ),
    (
        "after 2nd week of the month",
        [
            "2026-11-28T03:17:00Z",
            "2026-11-29T00:00:00Z",
            "2026-12-06T00:00:00Z",
            "2026-12-13T00:00:00Z",
        ],
    ),
    (
        "every 5 minutes and",
        [
            "2026-11-28T03:20:00Z",
            "2026-11-28T03:25:00Z",
            "2026-11-28T03:30:00Z",
            "2026-11-28T03:35:00Z",
        ],
    ),
]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    return _iso(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms))


@pytest.mark.parametrize(
    ("text", "expected"), OCCURRENCES, ids=[o[0] or "empty" for o in OCCURRENCES]
)
def test_next_matches_later_js(text: str, expected: list[str | None] | str) -> None:
    schedule = parse_text(text)
    if expected == "SCHEDTHROWS":
        with pytest.raises(LaterScheduleError):
            next_occurrences(schedule, START, 4)
        return
    assert [_iso_ms(ms) for ms in raw_next(schedule, to_ms(START), 4)] == expected
    public = [_iso(d) for d in next_occurrences(schedule, START, 4)]
    clean = []
    for item in expected:
        if item is None:
            break
        clean.append(item)
    assert public == clean


def test_verified_outputs_from_reference_doc() -> None:
    def nxt(text: str) -> list[str]:
        return [_iso(d) for d in next_occurrences(parse_text(text), START, 5)]

    assert nxt("every 24 hours")[:3] == [
        "2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z",
    ]  # fmt: skip
    assert nxt("every 14 days") == [
        "2026-11-29T00:00:00Z", "2026-12-01T00:00:00Z", "2026-12-15T00:00:00Z",
        "2026-12-29T00:00:00Z", "2027-01-01T00:00:00Z",
    ]  # fmt: skip
    assert nxt("every 5 mins") == [
        "2026-11-28T03:20:00Z", "2026-11-28T03:25:00Z", "2026-11-28T03:30:00Z",
        "2026-11-28T03:35:00Z", "2026-11-28T03:40:00Z",
    ]  # fmt: skip
    assert nxt("at 10:15 am")[:2] == ["2026-11-28T10:15:00Z", "2026-11-29T10:15:00Z"]
    assert nxt("every weekday at 8:00 am")[:2] == [
        "2026-11-30T08:00:00Z", "2026-12-01T08:00:00Z",
    ]  # fmt: skip
    assert nxt("every 6 hours")[:4] == [
        "2026-11-28T06:00:00Z", "2026-11-28T12:00:00Z", "2026-11-28T18:00:00Z",
        "2026-11-29T00:00:00Z",
    ]  # fmt: skip


def test_start_is_included_when_it_matches() -> None:
    assert next_occurrences(parse_text("every 1 hour"), START, 1) == [START]


def test_results_are_utc_aware_and_inputs_may_be_any_zone() -> None:
    east = START.astimezone(timezone(timedelta(hours=5)))
    result = next_occurrences(parse_text("every 5 mins"), east, 1)
    assert result == [datetime(2026, 11, 28, 3, 20, tzinfo=UTC)]
    assert result[0].tzinfo is UTC
    naive = START.replace(tzinfo=None)
    assert next_occurrences(parse_text("every 5 mins"), naive, 1) == result


def test_milliseconds_survive_like_in_javascript() -> None:
    start = START.replace(microsecond=500_000)
    assert next_occurrences(parse_text("every 1 second"), start, 2) == [
        start, start + timedelta(seconds=1),
    ]  # fmt: skip


def test_schedule_that_ends_returns_fewer() -> None:
    assert [_iso(d) for d in next_occurrences(parse_text("in 2027"), START, 5)] == [
        "2027-01-01T00:00:00Z"
    ]
    assert next_occurrences(parse_text("in 2020"), START, 5) == []
    assert next_occurrences(parse_text(""), START, 5) == []
    assert next_occurrences(parse_text("every 1 hour"), START, 0) == []


def test_empty_value_list_yields_nothing_public() -> None:
    schedule = parse_text("every 5 minutes between 50 and 10")
    assert raw_next(schedule, to_ms(START), 2) == [None, None]
    assert next_occurrences(schedule, START, 2) == []
    assert next_fire_time(schedule, START) is None


def test_past_year_9999_stops_the_public_list() -> None:
    # later.js gives up on 31 February after 1000 attempts and returns the date it reached.
    result = next_occurrences(parse_text("on the 31st day of feb"), START, 40)
    assert 0 < len(result) < 40
    assert result[0] == datetime(2526, 3, 1, tzinfo=UTC)


def test_exceptions_are_honoured() -> None:
    result = next_occurrences(parse_text("every 1 hour except on sat,sun"), START, 1)
    assert result == [datetime(2026, 11, 30, tzinfo=UTC)]


def test_unrunnable_schedules_raise() -> None:
    for text in ("every 5 mins also", "every 5 minutes except at 10:00 except at 11:00"):
        with pytest.raises(LaterScheduleError):
            next_occurrences(parse_text(text), START, 1)
        with pytest.raises(LaterScheduleError):
            next_fire_time(parse_text(text), START)


def test_week_of_year_before_1971_raises_like_later_js() -> None:
    with pytest.raises(LaterScheduleError):
        next_occurrences(parse_text("on the 2nd week"), datetime(1970, 2, 1, tzinfo=UTC), 1)


class TestFireTime:
    """later.setTimeout: next two occurrences, the first skipped when under a second away."""

    def test_every_hour_fires_at_the_top_of_the_hour(self) -> None:
        schedule = parse_text("every 1 hour")
        assert next_fire_time(schedule, START) == datetime(2026, 11, 28, 4, tzinfo=UTC)

    def test_a_tick_just_reached_is_skipped(self) -> None:
        schedule = parse_text("every 1 hour")
        at_tick = datetime(2026, 11, 28, 4, 0, 0, 5000, tzinfo=UTC)
        assert next_fire_time(schedule, at_tick) == datetime(2026, 11, 28, 5, tzinfo=UTC)

    def test_a_tick_just_under_a_second_away_is_skipped(self) -> None:
        schedule = parse_text("every 24 hours")
        now = datetime(2026, 11, 28, 23, 59, 59, 1000, tzinfo=UTC)
        assert next_fire_time(schedule, now) == datetime(2026, 11, 30, tzinfo=UTC)

    def test_a_tick_exactly_a_second_away_is_kept(self) -> None:
        schedule = parse_text("every 24 hours")
        now = datetime(2026, 11, 28, 23, 59, 59, tzinfo=UTC)
        assert next_fire_time(schedule, now) == datetime(2026, 11, 29, tzinfo=UTC)

    def test_last_occurrence_too_close_fires_a_second_later(self) -> None:
        schedule = parse_text("in 2027")
        now = datetime(2027, 1, 1, 0, 0, 0, 200_000, tzinfo=UTC)
        # next(2) from inside the only period yields `now` itself; later.js then waits 1 s.
        assert raw_fire_ms(schedule, to_ms(now)) == to_ms(now) + 1000

    def test_ended_schedule_never_fires(self) -> None:
        assert next_fire_time(parse_text("in 2020"), START) is None


class TestJsDate:
    def test_date_utc_normalises_overflow(self) -> None:
        assert date_utc(2026, 1, 29, 0, 0, 0) == date_utc(2026, 2, 1, 0, 0, 0)  # 29 Feb
        assert date_utc(2026, 11, 32, 0, 0, 0) == date_utc(2027, 0, 1, 0, 0, 0)
        assert date_utc(2026, 0, 1, 24, 0, 86400) == date_utc(2026, 0, 3, 0, 0, 0)
        assert date_utc(2026, -1, 1, 0, 0, 0) == date_utc(2025, 11, 1, 0, 0, 0)

    def test_two_digit_years_mean_1900s(self) -> None:
        assert date_utc(99, 0, 1, 0, 0, 0) == date_utc(1999, 0, 1, 0, 0, 0)

    def test_nan_is_an_invalid_date(self) -> None:
        date = JSDate(float("nan"))
        assert date.year != date.year
        assert repr(date) == "JSDate(Invalid)"

    def test_fields(self) -> None:
        date = JSDate(to_ms(datetime(2026, 11, 28, 3, 17, 9, tzinfo=UTC)))
        assert (date.year, date.month0, date.date, date.day) == (2026, 10, 28, 6)
        assert (date.hours, date.minutes, date.seconds) == (3, 17, 9)


class TestArrays:
    def test_next_value(self) -> None:
        assert next_value(7, [0, 15, 30, 45], (0, 59)) == 15
        assert next_value(50, [0, 15, 30, 45], (0, 59)) == 0
        assert next_value(30, [0, 15, 30, 45], (0, 59)) == 30
        # 0 means "last" for 1-based periods, so it is the largest.
        assert next_value(20, [1, 0], (1, 31)) == 0

    def test_next_value_of_empty_list_is_undefined(self) -> None:
        value = next_value(3, [], (0, 59))
        assert value != value

    def test_next_invalid(self) -> None:
        assert next_invalid(15, [15, 16, 17], (0, 59)) == 18
        assert next_invalid(3, [15], (0, 59)) == 3
        assert next_invalid(0, list(range(60)), (0, 59)) is None
