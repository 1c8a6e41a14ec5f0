"""The Qlik Cloud kind's pure parts: reading an overview, and its alert policy."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from licmon.checks.qlik_cloud import policy
from licmon.checks.qlik_cloud.source import retry_after
from licmon.checks.qlik_cloud.status import CloudStatus, Minimum, Policy, evaluate
from licmon.plugins import PLUGINS

pytestmark = pytest.mark.fast

NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
POLICY = Policy((60, 30, 14, 7, 1), {"analyzer": Minimum(available=5)})
TEMPLATES = PLUGINS.templates()


def overview(days: float | None = 200, status: str = "Ok", **changes: Any) -> dict[str, Any]:
    end = "" if days is None else (NOW + dt.timedelta(days=days)).isoformat().replace("+00:00", "Z")
    return {
        "licenseNumber": "9999000011112222",
        "product": "Qlik Cloud Analytics Standard",
        "status": status,
        "trial": False,
        "valid": f"2025-12-07T00:00:00Z/{end}",
        "allotments": [
            {"name": "professional", "units": 10, "unitsUsed": 4, "usageClass": "assigned"},
            {"name": "analyzer", "units": 50, "unitsUsed": 20, "overage": -1},
        ],
    } | changes


def judged(days: float | None = 200, status: str = "Ok", **changes: Any) -> CloudStatus:
    return evaluate("acme", overview(days, status, **changes), NOW, POLICY)


@pytest.mark.parametrize(
    ("days", "status", "level", "left"),
    [
        (200, "Ok", "ok", 200),
        (60, "Ok", "warning", 60),
        (0.5, "Ok", "warning", 0),
        (-0.1, "Ok", "expired", -1),
        (200, "Expired", "expired", 200),
        (200, "Blacklisted", "expired", 200),
        (None, "Ok", "ok", None),
    ],
)
def test_the_end_and_the_status_decide(
    days: float | None, status: str, level: str, left: int | None
) -> None:
    read = judged(days, status)
    assert (read.status, read.daysUntilExpiry, read.licenseStatus) == (level, left, status)


def test_what_is_read_of_an_overview() -> None:
    read = judged(20, trial=True)
    assert read.to_json() | {"checkedAt": None} == {
        "tenant": "acme",
        "checkedAt": None,
        "status": "warning",
        "daysUntilExpiry": 20,
        "expiryDate": "2026-12-27",
        "expiresAt": "2026-12-27T10:00:00Z",
        "licenseStatus": "Ok",
        "licenseNumber": "9999000011112222",
        "trial": True,
        "product": "Qlik Cloud Analytics Standard",
        "allotments": [
            {
                "name": "professional",
                "units": 10.0,
                "unitsUsed": 4.0,
                "available": 6.0,
                "overage": None,
            },
            {
                "name": "analyzer",
                "units": 50.0,
                "unitsUsed": 20.0,
                "available": 30.0,
                "overage": -1.0,
            },
        ],
        "low": [],
        "highestLevel": 60,
        "error": None,
    }
    assert CloudStatus.from_json(read.to_json()) == read


def test_an_allotment_at_its_minimum_is_low_and_warns() -> None:
    read = judged(200, allotments=[{"name": "analyzer", "units": 50, "unitsUsed": 45}])
    assert (read.status, read.low) == ("warning", ("analyzer",))
    by_percent = Policy((30,), {"professional": Minimum(percent=25)})
    low = evaluate(
        "acme",
        overview(200, allotments=[{"name": "professional", "units": 8, "unitsUsed": 6}]),
        NOW,
        by_percent,
    )
    assert low.low == ("professional",)


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"status": "Ok", "valid": "2026-01-01"},
        {"status": "Ok", "valid": "2026-01-01T00:00:00Z/soon"},
        {"status": "Ok", "allotments": [{"name": "analyzer", "units": "many", "unitsUsed": 1}]},
        {"status": "Ok", "allotments": [{"name": "analyzer", "units": 1e400, "unitsUsed": 1}]},
        {"status": "Ok", "allotments": "none"},
    ],
)
def test_an_answer_that_is_no_license_is_unknown_with_the_reason(answer: dict) -> None:
    read = evaluate("acme", answer, NOW, POLICY)
    assert read.status == "unknown" and read.error.startswith("not a license overview: ")


def judge(read: CloudStatus, part: dict) -> tuple[list, dict]:
    return policy.judge(POLICY.levels, 24 * 3600, read, part)


def test_one_alert_per_level_and_the_lowest_on_a_jump() -> None:
    said, part = judge(judged(200), {})
    assert said == []
    said, part = judge(judged(20), part)  # 60 and 30 at once: one alert, for 30
    assert [(m.what, m.fields["level"]) for m in said] == [(policy.ABOUT_TO_EXPIRE, 30)]
    assert judge(judged(19), part)[0] == []


def test_renewed_once_then_not_ok_is_an_alert_of_its_own() -> None:
    _, part = judge(judged(20), {})
    said, part = judge(judged(380), part)
    assert [m.what for m in said] == [policy.RENEWED]
    said, part = judge(judged(380, "Blacklisted"), part)
    assert [(m.what, m.fields["licenseStatus"]) for m in said] == [(policy.EXPIRED, "Blacklisted")]
    assert judge(judged(380, "Blacklisted"), part)[0] == []  # once per repeat interval


def test_allotment_low_once_then_recovered_once() -> None:
    low = [{"name": "analyzer", "units": 50, "unitsUsed": 46}]
    back = [{"name": "analyzer", "units": 60, "unitsUsed": 46}]
    said, part = judge(judged(200, allotments=low), {})
    assert [(m.what, m.fields["allotment"], m.fields["available"]) for m in said] == [
        (policy.LOW, "analyzer", 4)
    ]
    assert judge(judged(200, allotments=low), part)[0] == []
    said, _ = judge(judged(200, allotments=back), part)
    assert [m.what for m in said] == [policy.RECOVERED]


def test_notices_say_the_tenant_and_never_more_than_the_templates() -> None:
    (about,) = judge(judged(20), {})[0]
    notice = policy.notice(about, TEMPLATES, "acme@1")
    assert notice.event == "cloud license about to expire alert"
    assert notice.text == "Qlik Cloud license of acme ends in 20 days, on 2026-12-27"
    assert notice.params["tenant"] == "acme" and notice.params["level"] == 30
    low = judge(judged(200, allotments=[{"name": "analyzer", "units": 50, "unitsUsed": 46}]), {})[0]
    assert policy.notice(low[0], TEMPLATES, "acme@2").text == (
        "Qlik Cloud analyzer allotment low on acme: 4 of 50 available"
    )


def test_retry_after_is_seconds_or_a_date() -> None:
    assert retry_after("7") == 7
    assert retry_after("Mon, 07 Dec 2026 10:00:30 GMT", NOW) == 30
    assert retry_after("soon") is None and retry_after(None) is None
