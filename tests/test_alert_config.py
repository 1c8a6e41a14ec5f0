"""`licmon.alerts` and `licmon.sites[].thresholdsDays`: read, defaulted, and refused clearly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from licmon.config import ConfigError
from licmon.core import payloads
from licmon.core.alerts import CHECK_FAILING, Message
from licmon.core.license_alerts import ABOUT_TO_EXPIRE
from licmon.plugins import load_config
from tests.test_config import butler_doc, certs, dump, qlik_certs  # noqa: F401

pytestmark = pytest.mark.fast


def with_alerts(certs_dir: Path, alerts: dict, **site: object) -> dict:
    document = butler_doc(certs_dir)
    document["licmon"] = {"alerts": alerts}
    if site:
        cert = document["Butler"]["cert"]
        document["licmon"]["sites"] = [
            {"name": "prod", "host": "sense.example.com", "cert": cert, **site},
            {"name": "test", "host": "test.example.com", "cert": cert},
        ]
    return document


def problems(tmp_path: Path, document: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(dump(tmp_path, document), env={})
    return [str(problem) for problem in caught.value.problems]


def test_butler_policy_by_default(tmp_path: Path, certs: Path) -> None:  # noqa: F811
    config = load_config(dump(tmp_path, butler_doc(certs)), env={})
    (site,) = config.sites
    assert config.levels(site) == ()
    assert (config.alerts.repeat_expired_seconds, config.alerts.check_failures) == (86400, 3)


def test_levels_global_and_per_site(tmp_path: Path, certs: Path) -> None:  # noqa: F811
    document = with_alerts(
        certs,
        {"thresholdsDays": [7, 60, 30, 30], "repeatExpiredHours": 6, "checkFailures": 2},
        thresholdsDays=[90, 10],
    )
    config = load_config(dump(tmp_path, document), env={})
    prod, test = config.sites
    assert config.levels(prod) == (90, 10)
    assert config.levels(test) == (60, 30, 7)  # sorted, once each
    assert (config.alerts.repeat_expired_seconds, config.alerts.check_failures) == (21600, 2)


def test_bad_alert_settings_are_named(tmp_path: Path, certs: Path) -> None:  # noqa: F811
    document = with_alerts(
        certs,
        {
            "thresholdsDays": [30, "soon"],
            "repeatExpiredHours": 0,
            "checkFailures": "three",
            "templates": {"checkFailing": {"text": "$site is down: $why"}},
        },
    )
    found = problems(tmp_path, document)
    assert found == [
        "licmon.alerts.thresholdsDays[1]: expected a whole number >= 0 and <= 3650, got 'soon'",
        "licmon.alerts.repeatExpiredHours: expected a whole number >= 1 and <= 8784, got 0",
        "licmon.alerts.checkFailures: expected a whole number >= 1 and <= 100, got 'three'",
    ]
    document["licmon"]["alerts"] = {"templates": {"checkFailing": {"text": "$site: $why"}}}
    (found,) = problems(tmp_path, document)
    assert found.startswith("licmon.alerts.templates.checkFailing.text: unknown field $why")
    document["licmon"]["alerts"] = {"templates": {"renewd": {"text": "x"}}}
    (found,) = problems(tmp_path, document)
    assert "licmon.alerts.templates.renewd: unknown key; did you mean 'renewed'?" in found


def test_templates_shape_the_texts_and_keep_butler_parameters(
    tmp_path: Path,
    certs: Path,  # noqa: F811
) -> None:
    document = with_alerts(
        certs,
        {
            "templates": {
                "aboutToExpire": {
                    "title": "[$site] $daysLeft days",
                    "body": "Renew by $expiryDate",
                },
                "checkFailing": {"text": "DOWN $site ($errorKind): $reason [$checkId]"},
            }
        },
    )
    config = load_config(dump(tmp_path, document), env={})
    chosen = config.alerts.templates
    fields = {"site": "prod", "daysLeft": 12, "expiryDate": "2027-01-01", "level": 14}
    about = payloads.alert_notice(
        Message(ABOUT_TO_EXPIRE, fields | {"expiryDateStr": "x"}), chosen, "prod@1"
    )
    assert (about.title, about.body) == ("[prod] 12 days", "Renew by 2027-01-01")
    # The text left alone stays Butler's; the webhook keeps Butler's parameters.
    assert about.text == "Qlik Sense server license is about to expire in 12 days, on 2027-01-01"
    assert about.params == {
        "event": "server license about to expire alert",
        "licenseExpired": False,
        "expiryDateStr": "x",
        "daysUntilExpiry": 12,
    }
    failing = payloads.alert_notice(
        Message(CHECK_FAILING, {"site": "prod", "errorKind": "timeout", "reason": "slow"}),
        chosen,
        "prod@" + datetime.now(UTC).date().isoformat(),
    )
    assert failing.text.startswith("DOWN prod (timeout): slow [prod@")
    assert failing.params == {
        "event": "server license check failing",
        "site": "prod",
        "errorKind": "timeout",
        "reason": "slow",
    }


def test_the_digest_is_a_beat_entry_of_its_own_when_set(
    tmp_path: Path,
    certs: Path,  # noqa: F811
) -> None:
    from worker.beat import DIGEST_ENTRY, beat_schedule

    plain = load_config(dump(tmp_path, butler_doc(certs)), env={})
    assert DIGEST_ENTRY not in beat_schedule(plain)
    document = with_alerts(certs, {"digest": "at 8:00 am"})
    config = load_config(dump(tmp_path, document), env={})
    entry = beat_schedule(config)[DIGEST_ENTRY]
    assert (entry["task"], entry["schedule"].text) == ("alerts.digest", "at 8:00 am")
    document = with_alerts(certs, {"digest": "at 25:00"})
    (found,) = problems(tmp_path, document)
    assert found.startswith("licmon.alerts.digest: ")


def test_access_alert_texts_come_from_their_templates(
    tmp_path: Path,
    certs: Path,  # noqa: F811
) -> None:
    from licmon.checks.access_license import ACCESS_LICENSE
    from licmon.core.access_alerts import ACCESS_LOW

    document = with_alerts(
        certs, {"templates": {"accessLow": {"text": "$site: $licenseType $available/$total"}}}
    )
    config = load_config(dump(tmp_path, document), env={})
    fields = {"site": "prod", "licenseType": "analyzer", "available": 2.0, "total": 50.0}
    low = ACCESS_LICENSE.render(Message(ACCESS_LOW, fields), config.alerts.templates, "prod@1")
    assert low.text == "prod: analyzer 2/50"
    # The title left alone keeps its default; the webhook keeps its parameters.
    assert low.title == "Qlik Sense access licenses: prod"
    assert low.params == {"event": "access license low", **fields}
