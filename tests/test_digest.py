"""The digest as a pure function: who is in it, in which order, in which words."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from licmon.core.digest import Standing, digest, digest_notice
from licmon.core.templates import DEFAULTS, MessageTemplate

pytestmark = pytest.mark.fast

TODAY = date(2026, 11, 28)


def license_(days: int | None, expired: bool = False) -> dict[str, object]:
    expiry = None if days is None else (TODAY + timedelta(days=days)).isoformat()
    return {"expiryDate": expiry, "licenseExpired": expired, "daysUntilExpiry": 999}


def test_sites_at_or_below_their_highest_level_sorted_by_days_left() -> None:
    message = digest(
        [
            Standing("fine", license_(200), 60),
            Standing("soon", license_(30), 60),
            Standing("edge", license_(60), 60),
            Standing("gone", license_(-3), 60),
            Standing("strict", license_(80), 90),  # its own levels reach higher
            Standing("forever", license_(None), 60),
            Standing("undated", license_(None, expired=True), 60),
            Standing("never-read", None, 60),
        ],
        TODAY,
    )
    assert message is not None
    assert message.fields["lines"] == [
        f"gone: expired on {(TODAY - timedelta(days=3)).isoformat()}",
        "undated: expired",
        f"soon: 30 days left, until {(TODAY + timedelta(days=30)).isoformat()}",
        f"edge: 60 days left, until {(TODAY + timedelta(days=60)).isoformat()}",
        f"strict: 80 days left, until {(TODAY + timedelta(days=80)).isoformat()}",
    ]
    assert [entry["site"] for entry in message.fields["entries"]] == [
        "gone",
        "undated",
        "soon",
        "edge",
        "strict",
    ]


def test_days_are_counted_from_today_not_from_the_check() -> None:
    # Checked long ago with 999 days "left" (as of then): today says 5.
    message = digest([Standing("a", license_(5), 7)], TODAY)
    assert message is not None and message.fields["entries"][0]["daysUntilExpiry"] == 5


def test_nobody_low_means_no_digest() -> None:
    assert digest([Standing("fine", license_(200), 60)], TODAY) is None
    assert digest([], TODAY) is None


def test_the_notice_lines_up_text_body_and_webhook_parameters() -> None:
    message = digest([Standing("a", license_(5), 7), Standing("b", license_(-1), 7)], TODAY)
    assert message is not None
    notice = digest_notice(message, DEFAULTS)
    lines = message.fields["lines"]
    assert notice.alert and notice.event == "server license digest"
    assert notice.text == "Qlik Sense licenses at or below a threshold: " + "; ".join(lines)
    assert notice.body.splitlines()[1:] == lines
    assert notice.params == {
        "event": "server license digest",
        "count": 2,
        "sites": "; ".join(lines),
    }
    custom = dict(DEFAULTS) | {"digest": MessageTemplate("$sites", "Digest", "Low:\\n$sites")}
    assert digest_notice(message, custom).text == "; ".join(lines)
