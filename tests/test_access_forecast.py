"""The forecast (pure) and the bounded history it reads, in a real Redis seeded directly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import redis

from licmon.checks.access_license import history as access_history
from licmon.checks.access_license.history import KEEP_DAYS, forecasts, key, readings, record
from licmon.core.access_license import AccessStatus, failed_access
from licmon.core.forecast import exhausts_in_days

DAY = date(2026, 3, 1)


def series(*values: float, start: date = DAY, step: int = 1) -> list[tuple[date, float]]:
    return [(start + timedelta(days=i * step), value) for i, value in enumerate(values)]


def test_a_steady_fall_reaches_zero_where_the_line_says() -> None:
    assert exhausts_in_days(series(30, 28, 26)) == 13.0  # 2 a day, 26 left
    assert exhausts_in_days(series(30, 27, 26, 22)) == 9.0  # fitted: 2.5 a day, not the last 4
    assert exhausts_in_days(series(100, 50, 0)) == 0.0
    assert exhausts_in_days(series(10, 5, 0, 0)) == 0.0  # below zero already: 0
    # Gaps between days count as days.
    assert exhausts_in_days(series(30, 28, 26, step=7)) == 91.0
    # Order of the input does not matter.
    assert exhausts_in_days(list(reversed(series(30, 28, 26)))) == 13.0


@pytest.mark.parametrize(
    "points",
    [
        series(),
        series(10),
        series(10, 5),  # two readings: too few
        series(10, 10, 10),  # flat
        series(5, 6, 7),  # rising: usage falling
        series(10, 4, 10, 4, 10),  # up and down: slope 0
        [(DAY, 10.0), (DAY, 9.0), (DAY, 8.0)],  # one day only
    ],
)
def test_no_forecast(points: list[tuple[date, float]]) -> None:
    assert exhausts_in_days(points) is None


def status(professional: float, tokens: float | None = None) -> AccessStatus:
    licenses: dict = {
        "professional": {"available": professional, "total": 100},
        "analyzer_capacity": {"used_minutes": 5},
    }
    if tokens is not None:
        licenses["tokens_available"] = {"available_tokens": tokens, "total_tokens": 1000}
    return AccessStatus("prod", "2026-03-01T00:00:00Z", licenses)


def at(day: date, hour: int = 8) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_one_reading_a_day_per_type_the_latest_wins(redis_client: redis.Redis) -> None:
    record(redis_client, "prod", status(40, 500), at(DAY, 6))
    record(redis_client, "prod", status(38, 490), at(DAY, 18))
    record(redis_client, "prod", status(36), at(DAY + timedelta(days=1)))
    record(
        redis_client, "prod", failed_access("prod", at(DAY), "down"), at(DAY + timedelta(days=2))
    )
    assert readings(redis_client, "prod", "professional") == [
        (DAY, 38.0),
        (DAY + timedelta(days=1), 36.0),
    ]
    assert readings(redis_client, "prod", "tokens_available") == [(DAY, 490.0)]
    assert readings(redis_client, "prod", "analyzer") == []
    assert sorted(k.decode() for k in redis_client.keys(f"{access_history.PREFIX}:*")) == [
        key("prod", "professional"),
        key("prod", "tokens_available"),
    ]
    ttl = redis_client.ttl(key("prod", "professional"))
    assert KEEP_DAYS * 24 * 3600 - 5 <= ttl <= KEEP_DAYS * 24 * 3600


def test_history_is_bounded_to_90_days(redis_client: redis.Redis) -> None:
    name = key("prod", "professional")
    # Seeded directly: 120 days, and a field that is not a day.
    redis_client.hset(
        name, mapping={(DAY + timedelta(days=i)).isoformat(): 500 - i for i in range(120)}
    )
    redis_client.hset(name, "junk", 1)
    today = DAY + timedelta(days=120)
    record(redis_client, "prod", status(380), at(today))
    kept = readings(redis_client, "prod", "professional")
    assert len(kept) == KEEP_DAYS
    assert kept[0] == (today - timedelta(days=KEEP_DAYS - 1), 500 - 31)
    assert kept[-1] == (today, 380.0)
    assert redis_client.hlen(name) == KEEP_DAYS


def test_forecasts_from_seeded_history(redis_client: redis.Redis) -> None:
    redis_client.hset(
        key("prod", "professional"),
        mapping={(DAY + timedelta(days=i)).isoformat(): v for i, v in enumerate((30, 28, 26))},
    )
    redis_client.hset(
        key("prod", "analyzer"),
        mapping={(DAY + timedelta(days=i)).isoformat(): v for i, v in enumerate((5, 5, 5))},
    )
    redis_client.hset(key("prod", "tokens_available"), DAY.isoformat(), 10)
    assert forecasts(redis_client, "prod") == {
        "professional": 13.0,
        "analyzer": None,
        "tokens_available": None,
    }
    assert forecasts(redis_client, "other") == {
        "professional": None,
        "analyzer": None,
        "tokens_available": None,
    }
