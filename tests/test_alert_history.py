"""The alert history on a real Redis: decided once per level per target, whatever the
number of checks deciding at once, and a target added later hears the current state."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import redis

from licmon.core import license_alerts
from licmon.core.alerts import CheckOutcome
from licmon.core.license_alerts import ABOUT_TO_EXPIRE, LevelPolicy
from licmon.core.server_license import Level, LicenseStatus
from licmon.state.alert_history import AlertHistory

LEVELS = LevelPolicy(levels=(60, 30, 7))
AT = datetime(2026, 11, 28, 8, tzinfo=UTC)


def status(days: int, at: datetime = AT) -> LicenseStatus:
    expiry = (at.date() + timedelta(days=days)).isoformat()
    return LicenseStatus(
        site="s",
        checkedAt=at.isoformat(),
        thresholdDays=60,
        status=Level.WARNING,
        serial="1",
        expiryDateStr=expiry,
        expiryDate=expiry,
        daysUntilExpiry=days,
        licenseExpired=False,
    )


def decide(history: AlertHistory, site: str, targets: list[str], days: int, check: str) -> dict:
    read = status(days)
    return history.decide(
        "server_license",
        site,
        targets,
        CheckOutcome(ok=True, checked_at=AT),
        check,
        3,
        lambda part: license_alerts.judge(LEVELS, read, part),
    )


def test_many_checks_at_once_send_a_level_once_per_target(redis_client: redis.Redis) -> None:
    history = AlertHistory(redis_client)
    site = f"race-{uuid.uuid4().hex[:6]}"
    targets = ["mqtt/alert", "webhook/alert-1"]
    with ThreadPoolExecutor(8) as pool:
        decided = list(pool.map(lambda n: decide(history, site, targets, 30, f"c{n}"), range(16)))
    for target in targets:
        sent = [m for each in decided for m in each[target]]
        assert [(m.what, m.fields["level"]) for m in sent] == [(ABOUT_TO_EXPIRE, 30)]
    redis_client.delete(history.key("server_license", site))


def test_a_target_added_later_hears_the_current_level(redis_client: redis.Redis) -> None:
    history = AlertHistory(redis_client)
    site = f"later-{uuid.uuid4().hex[:6]}"
    first = decide(history, site, ["mqtt/alert"], 30, "c1")
    assert [m.fields["level"] for m in first["mqtt/alert"]] == [30]
    later = decide(history, site, ["mqtt/alert", "webhook/alert-1"], 29, "c2")
    assert later["mqtt/alert"] == []
    assert [m.fields["level"] for m in later["webhook/alert-1"]] == [30]
    redis_client.delete(history.key("server_license", site))
