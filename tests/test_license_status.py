"""License arithmetic: the QRS answer and the check's instant in, the status out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from licmon.core.dates import DateOrder
from licmon.core.server_license import Level, LicenseStatus, evaluate_license, failed_status

pytestmark = pytest.mark.fast

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)

QLIK_DOC_KEY_DETAILS = (
    "isBlackListed: False\n"
    "License Number: 0000 6500 7751 6278 Valid From: 0001-01-01 12:00:00 AM "
    "Valid To: {valid_to} Allotment professional:100; Allotment analyzer:100; "
)


def key_answer(valid_to: str, **extra: object) -> dict[str, object]:
    return {
        "serial": "0000650077516278",
        "isExpired": False,
        "keyDetails": QLIK_DOC_KEY_DETAILS.format(valid_to=valid_to),
        "lef": "",
    } | extra


def judge(answer: object, threshold: int = 60, at: datetime = NOW, **kw: object) -> LicenseStatus:
    return evaluate_license("prod", answer, at, threshold, **kw)  # type: ignore[arg-type]


def test_butler_captured_case_thirty_days_ahead() -> None:
    status = judge(key_answer("2026-12-28"))
    assert status.to_json() == {
        "site": "prod",
        "checkedAt": "2026-11-28T10:00:00Z",
        "thresholdDays": 60,
        "status": "warning",
        "serial": "0000650077516278",
        "expiryDateStr": "2026-12-28",
        "expiryDate": "2026-12-28",
        "expirySource": "keyDetails",
        "daysUntilExpiry": 30,
        "licenseExpired": False,
        "error": None,
    }
    assert status.needs_alert


@pytest.mark.parametrize(
    ("valid_to", "threshold", "days", "level", "expired"),
    [
        ("2027-06-01", 60, 185, Level.OK, False),
        ("2027-01-27", 60, 60, Level.WARNING, False),  # at the threshold: alert
        ("2027-01-28", 60, 61, Level.OK, False),  # one past it: no alert
        ("2026-11-28", 60, 0, Level.WARNING, False),  # the last day is not yet expired
        ("2026-11-28", 0, 0, Level.WARNING, False),
        ("2026-11-29", 0, 1, Level.OK, False),
        ("2026-11-27", 60, -1, Level.EXPIRED, True),
        ("2026-11-18", 60, -10, Level.EXPIRED, True),  # Butler said +11 here
    ],
)
def test_days_and_levels(
    valid_to: str, threshold: int, days: int, level: Level, expired: bool
) -> None:
    status = judge(key_answer(valid_to), threshold=threshold)
    assert (status.daysUntilExpiry, status.status, status.licenseExpired) == (days, level, expired)


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("2026-12-28 12:00:00 AM", "2026-12-28"),
        ("12/28/2026 12:00:00 AM", "2026-12-28"),
        ("28.12.2026 00:00:00", "2026-12-28"),
        ("2026-12-28T00:00:00Z", "2026-12-28"),
        ("2026-12-28T00:00:00.000+00:00", "2026-12-28"),
    ],
)
def test_dates_with_times_alert_unlike_butler(raw: str, iso: str) -> None:
    status = judge(key_answer(raw))
    assert (status.expiryDateStr, status.expiryDate, status.daysUntilExpiry) == (raw, iso, 30)
    assert status.status is Level.WARNING


def test_days_are_counted_between_utc_calendar_dates() -> None:
    late = datetime(2026, 11, 28, 23, 59, 59, tzinfo=UTC)
    assert judge(key_answer("2026-11-29"), at=late).daysUntilExpiry == 1
    # 01:00 on the 29th in UTC+2 is still the 28th in UTC.
    plus_two = datetime(2026, 11, 29, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    status = judge(key_answer("2026-11-29"), at=plus_two)
    assert (status.daysUntilExpiry, status.checkedAt) == (1, "2026-11-28T23:00:00Z")


def test_earliest_valid_to_wins_on_one_line() -> None:
    text = (
        "License Number: 1 Valid From: 0001-01-01 12:00:00 AM Valid To: 2027-05-01 12:00:00 AM "
        "Allotment professional:10; Valid To: 2026-12-28 12:00:00 AM Allotment analyzer:5;"
    )
    status = judge({"keyDetails": text, "isExpired": False})
    assert (status.expiryDate, status.expiryDateStr) == ("2026-12-28", "2026-12-28 12:00:00 AM")


def test_earliest_valid_to_wins_across_lines() -> None:
    text = "Valid To: 2026-12-28\nValid To: 2026-12-01\nValid To: 2027-01-01\n"
    assert judge({"keyDetails": text}).daysUntilExpiry == 3


def test_ambiguous_dates_follow_the_configured_order() -> None:
    answer = key_answer("12/01/2026 12:00:00 AM")
    assert judge(answer).expiryDate == "2026-12-01"
    assert judge(answer, date_order=DateOrder.DAY_FIRST).expiryDate == "2026-01-12"


def test_lef_is_the_fallback_and_its_earliest_validto_governs() -> None:
    lef = (
        "Qlik Sense Enterprise\n"
        "PRODUCTLEVEL;50;;2027-12-31\n"
        "TOKENS;100;2020-01-01;2026-12-28\n"
        "TIMELIMIT;;;\n"
        "OVERAGE;NO;;\n"
    )
    status = judge({"keyDetails": "", "lef": lef, "serial": 9999000011112222})
    assert (status.expirySource, status.expiryDate, status.daysUntilExpiry) == (
        "lef",
        "2026-12-28",
        30,
    )
    assert status.serial == "9999000011112222"


def test_key_details_win_over_lef() -> None:
    answer = key_answer("2027-06-01") | {"lef": "PRODUCTLEVEL;50;;2026-12-01"}
    assert judge(answer).expirySource == "keyDetails"


@pytest.mark.parametrize(
    "answer",
    [
        # A signed key whose details name no end.
        {
            "key": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
            "keyDetails": "isBlackListed: False\nLicense Number: 1 Allotment professional:1;",
            "lef": "",
            "isExpired": False,
        },
        # ... or an empty `Valid To:`, beside a LEF without a VALIDTO.
        {
            "key": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
            "keyDetails": "Valid From: 0001-01-01 12:00:00 AM Valid To: \n",
            "lef": "PRODUCTLEVEL;50;;",
        },
        # Serial and control number: a LEF without a VALIDTO.
        {"key": "", "keyDetails": "", "lef": "PRODUCTLEVEL;50;;\r\nTOKENS;0;;", "serial": "1"},
    ],
)
def test_perpetual_license_never_alerts(answer: dict[str, object]) -> None:
    # Only an answer that is positively a license is perpetual: tests/hostile/test_verdicts.py
    # has the empty and error answers that once passed for one.
    status = judge(answer, threshold=100000)
    assert status.status is Level.OK
    assert (status.daysUntilExpiry, status.expiryDate, status.expirySource) == (None, None, None)
    assert status.licenseExpired is False
    assert not status.needs_alert


def test_server_verdict_is_trusted_without_a_date() -> None:
    status = judge({"keyDetails": "", "lef": "", "isExpired": True})
    assert (status.status, status.licenseExpired, status.daysUntilExpiry) == (
        Level.EXPIRED,
        True,
        None,
    )
    assert status.needs_alert


def test_server_verdict_is_trusted_over_a_future_date() -> None:
    status = judge(key_answer("2027-06-01", isExpired=True))
    assert (status.status, status.licenseExpired, status.daysUntilExpiry) == (
        Level.EXPIRED,
        True,
        185,
    )


def test_unreadable_date_is_unknown_not_perpetual() -> None:
    status = judge(key_answer("sometime next year"))
    assert status.status is Level.UNKNOWN
    # The value is quoted whole, up to the next label: `16 March` once read as the 16th.
    assert status.error == "cannot read the expiry date 'sometime next year' in keyDetails"
    assert not status.needs_alert


def test_unreadable_date_with_server_verdict_is_expired() -> None:
    status = judge(key_answer("31/31/2026", isExpired=True))
    assert (status.status, status.licenseExpired) == (Level.EXPIRED, True)
    assert status.error is not None and "31/31/2026" in status.error


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (["not", "a", "license"], "QRS license answer is not an object"),
        ({"isExpired": "no"}, "QRS license field 'isExpired' should be true/false, got 'no'"),
        ({"keyDetails": 42}, "QRS license field 'keyDetails' should be text, got 42"),
        ({"lef": ["x"]}, "QRS license field 'lef' should be text, got ['x']"),
    ],
)
def test_malformed_answers_name_the_field(answer: object, message: str) -> None:
    status = judge(answer)
    assert (status.status, status.error) == (Level.UNKNOWN, message)


def test_failed_check_and_json_round_trip() -> None:
    status = failed_status("prod", NOW, 60, "QRS at prod:4242 refused the connection")
    assert status.status is Level.UNKNOWN and not status.needs_alert
    assert LicenseStatus.from_json(status.to_json()) == status
    ok = judge(key_answer("2026-12-28"))
    assert LicenseStatus.from_json(ok.to_json()) == ok
