"""The alert policy as a pure function of (history, check) -> (messages, new history)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from licmon.core import license_alerts, payloads
from licmon.core.alerts import CHECK_FAILING, CHECK_RECOVERED, CheckOutcome, History, decide
from licmon.core.license_alerts import ABOUT_TO_EXPIRE, EXPIRED, RENEWED, LevelPolicy
from licmon.core.server_license import Level, LicenseStatus
from licmon.core.templates import DEFAULTS, problems, render

pytestmark = pytest.mark.fast

START = datetime(2026, 1, 1, 8, tzinfo=UTC)
LEVELS = LevelPolicy(levels=(60, 30, 14, 7, 1))
BUTLER = LevelPolicy()


def status(days: int, at: datetime, serial: str = "9999 0000 1111 2222") -> LicenseStatus:
    expiry = (at.date() + timedelta(days=days)).isoformat()
    level = Level.EXPIRED if days < 0 else Level.WARNING if days <= 60 else Level.OK
    return LicenseStatus(
        site="prod",
        checkedAt=at.isoformat(),
        thresholdDays=60,
        status=level,
        serial=serial,
        expiryDateStr=expiry,
        expiryDate=expiry,
        expirySource="keyDetails",
        daysUntilExpiry=days,
        licenseExpired=days < 0,
    )


class Target:
    """One alert target's history, carried from check to check."""

    def __init__(self, policy: LevelPolicy, failures_needed: int = 3) -> None:
        self.policy = policy
        self.failures_needed = failures_needed
        self.history = History()
        self.count = 0
        self.failures = 0

    def check(self, at: datetime, license_: LicenseStatus | None = None, **failure: object):
        self.count += 1
        if license_ is None:
            self.failures += 1
            outcome = CheckOutcome(
                ok=False,
                checked_at=at,
                error_kind=str(failure.get("kind", "connection_refused")),
                reason=str(failure.get("reason", "connection refused")),
                permanent=bool(failure.get("permanent", False)),
                consecutive_failures=self.failures,
            )
            judge = None
        else:
            self.failures = 0
            outcome = CheckOutcome(ok=True, checked_at=at)

            def judge(part):
                return license_alerts.judge(self.policy, license_, part)

        messages, self.history = decide(
            self.history, outcome, f"prod@{self.count}", self.failures_needed, judge, "prod"
        )
        return [(m.what, m.fields.get("daysLeft"), m.fields.get("level")) for m in messages]


def test_the_scripted_life_of_a_site_under_the_level_policy() -> None:
    target = Target(LEVELS)
    expiry = START.date() + timedelta(days=65)
    said = []
    for days_left in [65, 61, 60, 45, 30, 29, 7, 3]:
        at = datetime.combine(expiry - timedelta(days=days_left), START.timetz())
        said.append(target.check(at, status(days_left, at)))
    assert said == [
        [],
        [],
        [(ABOUT_TO_EXPIRE, 60, 60)],
        [],
        [(ABOUT_TO_EXPIRE, 30, 30)],
        [],
        [(ABOUT_TO_EXPIRE, 7, 7)],  # 14 and 7 crossed at once: one alert, the lowest
        [],
    ]
    at = datetime.combine(expiry - timedelta(days=2), START.timetz())
    assert target.check(at, status(365, at)) == [(RENEWED, 365, None)]
    assert target.check(at + timedelta(days=1), status(364, at + timedelta(days=1))) == []
    gone = at + timedelta(days=2)
    assert target.check(gone, status(-1, gone)) == [(EXPIRED, -1, None)]
    fails = [target.check(gone + timedelta(hours=hour)) for hour in (1, 2, 3, 4)]
    assert fails == [[], [], [(CHECK_FAILING, None, None)], []]
    assert target.check(gone + timedelta(hours=5), status(-1, gone)) == [
        (CHECK_RECOVERED, None, None)
    ]


def test_butler_policy_alerts_every_check_at_or_below_the_threshold() -> None:
    target = Target(BUTLER)
    at = START
    assert target.check(at, status(61, at)) == []
    for hours in (1, 2, 3):
        moment = at + timedelta(hours=hours)
        assert target.check(moment, status(60, moment)) == [(ABOUT_TO_EXPIRE, 60, 60)]
    for hours in (4, 5):
        moment = at + timedelta(hours=hours)
        assert target.check(moment, status(-2, moment)) == [(EXPIRED, -2, None)]


def test_expired_repeats_after_the_configured_hours_only() -> None:
    target = Target(LevelPolicy(levels=(30,), repeat_expired_seconds=24 * 3600))
    ended = START.date() - timedelta(days=1)  # one license, ended yesterday
    said = []
    for hours in (0, 1, 23, 24, 25, 48):
        at = START + timedelta(hours=hours)
        said.append(target.check(at, status((ended - at.date()).days, at)))
    assert [bool(each) for each in said] == [True, False, False, True, False, True]
    assert all(each == [] or each[0][0] == EXPIRED for each in said)


def test_renewal_needs_an_alert_before_it_and_a_later_date_or_new_serial() -> None:
    quiet = Target(LEVELS)
    assert quiet.check(START, status(200, START)) == []
    assert quiet.check(START, status(365, START)) == []  # nothing was alerted: no "renewed"

    earlier = Target(LEVELS)
    assert earlier.check(START, status(20, START)) == [(ABOUT_TO_EXPIRE, 20, 30)]
    later = START + timedelta(hours=1)
    # The date moved earlier: no "renewed", and the level already crossed stays crossed.
    assert earlier.check(later, status(15, later)) == []
    assert earlier.check(later, status(10, later)) == [(ABOUT_TO_EXPIRE, 10, 14)]

    serial = Target(LEVELS)
    assert serial.check(START, status(20, START)) == [(ABOUT_TO_EXPIRE, 20, 30)]
    assert serial.check(later, status(20, later, serial="1")) == [
        (RENEWED, 20, None),
        (ABOUT_TO_EXPIRE, 20, 30),
    ]


def test_a_permanent_failure_alerts_at_once_and_the_count_is_configurable() -> None:
    target = Target(LEVELS, failures_needed=5)
    assert target.check(START, permanent=True, kind="client_cert_rejected") == [
        (CHECK_FAILING, None, None)
    ]
    patient = Target(LEVELS, failures_needed=2)
    assert patient.check(START) == []
    assert patient.check(START + timedelta(minutes=1)) == [(CHECK_FAILING, None, None)]


def test_the_same_check_decided_twice_says_the_same_and_an_older_one_nothing() -> None:
    target = Target(LEVELS)
    at = START + timedelta(days=1)
    first = status(30, at)
    outcome = CheckOutcome(ok=True, checked_at=at)

    def judge(part):
        return license_alerts.judge(LEVELS, first, part)

    messages, history = decide(History(), outcome, "prod@1", 3, judge, "prod")
    again, same = decide(history, outcome, "prod@1", 3, judge, "prod")
    assert again == messages and len(messages) == 1 and same == history
    older = CheckOutcome(ok=True, checked_at=START)
    late, unchanged = decide(history, older, "prod@0", 3, judge, "prod")
    assert late == [] and unchanged == history
    assert target.check(at, first) == [(ABOUT_TO_EXPIRE, 30, 30)]


def test_history_survives_json() -> None:
    target = Target(LEVELS)
    target.check(START, status(20, START))
    target.check(START + timedelta(hours=1))
    assert History.from_json(target.history.to_json()) == target.history


@given(st.lists(st.integers(min_value=-5, max_value=90), min_size=1, max_size=40))
def test_each_level_is_sent_at_most_once_per_license(days: list[int]) -> None:
    target = Target(LEVELS)
    expiry = date(2027, 6, 1)
    sent_levels: list[int] = []
    expired = 0
    for index, left in enumerate(days):
        # One license (a fixed expiry date), read on a day that leaves `left` days.
        at = datetime.combine(expiry - timedelta(days=left), START.timetz()) + timedelta(
            seconds=index
        )
        if sent_levels and at < target.history.seen:  # type: ignore[operator]
            continue
        for what, _, level in target.check(at, status(left, at)):
            if what == ABOUT_TO_EXPIRE:
                sent_levels.append(level)
            elif what == EXPIRED:
                expired += 1
    assert len(sent_levels) == len(set(sent_levels))
    assert set(sent_levels) <= set(LEVELS.levels)


def test_the_default_templates_keep_butler_texts() -> None:
    about = payloads.alert_notice(
        license_alerts.judge(BUTLER, status(30, START), {})[0][0], DEFAULTS
    )
    assert about.text == (
        f"Qlik Sense server license is about to expire in 30 days, on "
        f"{(START.date() + timedelta(days=30)).isoformat()}"
    )
    assert about.event == "server license about to expire alert"
    assert set(about.params) == {"event", "licenseExpired", "expiryDateStr", "daysUntilExpiry"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$site left ${daysLeft}", []),
        ("costs $$5 at $site", []),
        ("$nope", ["unknown field $nope"]),
        ("broken $", ["a '$' that starts no field"]),
    ],
)
def test_template_problems(template: str, expected: list[str]) -> None:
    found = problems(template)
    assert len(found) == len(expected)
    for problem, start in zip(found, expected, strict=True):
        assert problem.startswith(start)


def test_render_leaves_missing_fields_empty_and_runs_nothing() -> None:
    assert render("${site}: ${reason}.", {"site": "prod", "reason": None}) == "prod: ."
    assert render("{site.__class__}", {"site": "prod"}) == "{site.__class__}"
