"""The access alert policy as a pure function of (history part, status) -> (messages, part),
and through licmon.core.alerts.decide: once per target, then recovery."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from licmon.core.access_alerts import alert_text, judge, notice
from licmon.core.access_license import AccessStatus, Minimum, failed_access
from licmon.core.alerts import CheckOutcome, History, Message, decide
from licmon.core.notices import Notice

pytestmark = pytest.mark.fast

MINIMUMS = {
    "professional": Minimum(min_available=5, forecast_days=30),
    "tokens_available": Minimum(min_available_percent=10),
}
NO_FORECAST: dict[str, float | None] = {}
AT = datetime(2026, 3, 1, 8, tzinfo=UTC)


def status(professional: int, tokens: int = 500, analyzer: int = 0) -> AccessStatus:
    return AccessStatus(
        "prod",
        "2026-03-01T08:00:00Z",
        {
            "professional": {"available": professional, "total": 100},
            "analyzer": {"available": analyzer, "total": 10},
            "tokens_available": {"available_tokens": tokens, "total_tokens": 1000},
        },
    )


def low(license_type: str, available: float, total: float) -> Message:
    return Message(
        "access_low",
        {"site": "prod", "licenseType": license_type, "available": available, "total": total},
    )


def recovered(license_type: str, available: float, total: float) -> Message:
    return Message(
        "access_recovered",
        {"site": "prod", "licenseType": license_type, "available": available, "total": total},
    )


def test_low_once_including_the_first_reading_then_recovered_once() -> None:
    messages, part = judge(status(5), MINIMUMS, NO_FORECAST, {})
    assert messages == [low("professional", 5, 100)]
    assert part == {"low": ["professional"], "exhausts": []}
    # Still low, lower still: nothing more.
    assert judge(status(2), MINIMUMS, NO_FORECAST, part) == ([], part)
    messages, part = judge(status(6), MINIMUMS, NO_FORECAST, part)
    assert messages == [recovered("professional", 6, 100)]
    assert part == {"low": [], "exhausts": []}
    assert judge(status(50), MINIMUMS, NO_FORECAST, part) == ([], part)
    # Low again later: a new alert.
    assert judge(status(1), MINIMUMS, NO_FORECAST, part)[0] == [low("professional", 1, 100)]


def test_each_type_on_its_own_and_only_the_watched_ones() -> None:
    # analyzer has 0 of 10 but no minimum: never alerted.
    messages, part = judge(status(5, tokens=100), MINIMUMS, NO_FORECAST, {})
    assert messages == [low("professional", 5, 100), low("tokens_available", 100, 1000)]
    messages, part = judge(status(5, tokens=101), MINIMUMS, NO_FORECAST, part)
    assert messages == [recovered("tokens_available", 101, 1000)]
    assert part["low"] == ["professional"]


def test_a_failed_check_changes_nothing_and_a_disabled_type_is_forgotten() -> None:
    part = {"low": ["professional"], "exhausts": ["professional"]}
    assert judge(failed_access("prod", AT, "HTTP 503"), MINIMUMS, NO_FORECAST, part) == ([], part)
    gone = AccessStatus("prod", "2026-03-01T08:00:00Z", {})
    assert judge(gone, MINIMUMS, NO_FORECAST, part) == ([], {"low": [], "exhausts": []})


def test_forecast_alerts_once_under_forecast_days() -> None:
    messages, part = judge(status(40), MINIMUMS, {"professional": 29.5}, {})
    assert messages == [
        Message(
            "access_exhausts",
            {
                "site": "prod",
                "licenseType": "professional",
                "available": 40,
                "total": 100,
                "exhaustsInDays": 29.5,
            },
        )
    ]
    assert part == {"low": [], "exhausts": ["professional"]}
    assert judge(status(39), MINIMUMS, {"professional": 20.0}, part) == ([], part)
    # Back at 30 days (or no forecast): cleared silently; under again: once more.
    _, part = judge(status(39), MINIMUMS, {"professional": 30.0}, part)
    assert part["exhausts"] == []
    assert len(judge(status(39), MINIMUMS, {"professional": 3.0}, part)[0]) == 1
    # No forecastDays for tokens: never a forecast alert for them.
    assert judge(status(40), MINIMUMS, {"tokens_available": 1.0}, {})[0] == []


def test_texts_and_notices() -> None:
    assert notice(low("professional", 5, 100)) == Notice(
        alert=True,
        event="access license low",
        text="Qlik Sense professional access licenses low on prod: 5 of 100 available",
        title="Qlik Sense access licenses: prod",
        body="Qlik Sense professional access licenses low on prod: 5 of 100 available",
        params={
            "event": "access license low",
            "site": "prod",
            "licenseType": "professional",
            "available": 5,
            "total": 100,
        },
    )
    back = notice(recovered("tokens_available", 101.0, 1000.0))
    assert back.event == "access license recovered"
    assert back.text == (
        "Qlik Sense tokens_available access licenses recovered on prod: 101 of 1000 available"
    )
    soon = notice(
        Message("access_exhausts", dict(low("analyzer", 3, 10).fields) | {"exhaustsInDays": 12.5})
    )
    assert soon.event == "access license exhausts soon"
    assert soon.text == (
        "Qlik Sense analyzer access licenses run out on prod in about 12.5 days at the current "
        "trend: 3 of 10 available"
    )
    assert soon.params["exhaustsInDays"] == 12.5
    assert alert_text(low("analyzer", 3, 10)) == notice(low("analyzer", 3, 10)).text


def test_through_the_common_policy_once_per_target_and_idempotent() -> None:
    def check(
        history: History, check_id: str, value: int, minutes: int
    ) -> tuple[list[Any], History]:
        judged = functools.partial(judge, status(value), MINIMUMS, NO_FORECAST)
        outcome = CheckOutcome(ok=True, checked_at=AT + timedelta(minutes=minutes))
        return decide(history, outcome, check_id, 3, judged, "prod")

    # Two targets, each its own history: each hears once.
    for _target in ("mqtt/alert", "webhook/alert-1"):
        history = History()
        sent, history = check(history, "prod@1", 4, 0)
        assert sent == [low("professional", 4, 100)]
        # The same check redelivered: the same message again, never a new one.
        assert check(history, "prod@1", 4, 0)[0] == sent
        sent, history = check(history, "prod@2", 3, 1)
        assert sent == []
        sent, history = check(history, "prod@3", 9, 2)
        assert sent == [recovered("professional", 9, 100)]
        assert History.from_json(history.to_json()) == history
