"""Wrong verdicts are the worst bad input for a monitor: an answer that is no license, or a
date dateutil completes from today, must read as `unknown` with the reason, never as a date.

Before the fix: `{}`, `{"error": "Unauthorized"}` and `{"id": "x", "serial": "1"}` were
"ok, perpetual, exit 0"; `Valid To: 16 March 2027` read as the 16th of the current month
(often expired: exit 2), `Dec`, `Friday`, `12:00 AM` and `2027` as dates near today.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from licmon.cli.main import main
from licmon.core.dates import UnreadableDate, parse_license_date
from licmon.core.server_license import Level, evaluate_license
from licmon.simulator import (
    QlikCerts,
    SimulatedLicense,
    Simulator,
    SiteSpec,
    ensure_qlik_certs,
    run_simulator,
)
from tests.hostile.net_support import assert_clean_output, check_config, measured

EXIT_OK, EXIT_WARNING, EXIT_EXPIRED, EXIT_UNKNOWN = 0, 1, 2, 3
TODAY = dt.datetime.now(dt.UTC).date()
NO_LICENSE = (
    "the QRS answer holds no license: neither a signed key (key and keyDetails) nor a "
    "License Enabler File (lef); "
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return ensure_qlik_certs(tmp_path_factory.mktemp("verdict-certs"))


@pytest.fixture
def simulator(certs: QlikCerts) -> Iterator[Simulator]:
    with run_simulator([SiteSpec("site")], certs) as running:
        yield running


def check(
    tmp_path: Path, certs: QlikCerts, simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    """`licmon check --json` of the simulated site, in this process: (exit code, status)."""
    site = simulator.sites["site"]
    config = check_config(tmp_path, certs, {"site": site.port}, connect=2.0, read=2.0)
    with measured() as cost:
        code = main(["check", "--json", "--config", str(config)])
    captured = capsys.readouterr()
    assert_clean_output(captured.out, captured.err)
    assert cost.seconds < 10, cost
    (status,) = json.loads(captured.out)
    return code, status


# --- answers that are no license --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "fields"),
    [
        ("empty-object", "it is an empty object"),
        ("error-object", "its fields: error"),
        ("not-a-license", "its fields: id, serial"),
    ],
)
def test_an_answer_without_license_fields_is_unknown_not_perpetual(
    tmp_path: Path,
    certs: QlikCerts,
    simulator: Simulator,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    fields: str,
) -> None:
    simulator.sites["site"].fault = fault
    code, status = check(tmp_path, certs, simulator, capsys)
    assert code == EXIT_UNKNOWN
    assert status["status"] == "unknown"
    assert status["error"] == NO_LICENSE + fields
    assert (status["licenseExpired"], status["daysUntilExpiry"]) == (None, None)


@pytest.mark.parametrize(
    "license_",
    [
        SimulatedLicense.perpetual(),  # a signed key without Valid To
        SimulatedLicense.perpetual(lef_only=True),  # a LEF without VALIDTO
    ],
    ids=["signed-key", "lef"],
)
def test_a_real_perpetual_license_is_still_ok(
    tmp_path: Path,
    certs: QlikCerts,
    simulator: Simulator,
    capsys: pytest.CaptureFixture[str],
    license_: SimulatedLicense,
) -> None:
    simulator.sites["site"].license = license_
    code, status = check(tmp_path, certs, simulator, capsys)
    assert code == EXIT_OK
    assert (status["status"], status["licenseExpired"], status["error"]) == ("ok", False, None)


# --- dates that are not complete ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["16 March", "Dec", "Friday", "12:00 AM", "2027", "March 2027", "3/16/27", "16.03."],
)
@pytest.mark.parametrize("lef_only", [False, True], ids=["keyDetails", "lef"])
def test_a_partial_date_is_unknown_with_the_text_quoted(
    tmp_path: Path,
    certs: QlikCerts,
    simulator: Simulator,
    capsys: pytest.CaptureFixture[str],
    text: str,
    lef_only: bool,
) -> None:
    simulator.sites["site"].license = SimulatedLicense(valid_to_texts=[text], lef_only=lef_only)
    code, status = check(tmp_path, certs, simulator, capsys)
    source = "lef" if lef_only else "keyDetails"
    assert code == EXIT_UNKNOWN
    assert (status["status"], status["expiryDate"], status["daysUntilExpiry"]) == (
        "unknown",
        None,
        None,
    )
    assert status["error"] == f"cannot read the expiry date {text!r} in {source}"
    assert (status["expiryDateStr"], status["expirySource"]) == (text, source)


def test_the_server_verdict_still_wins_over_an_unreadable_date(
    tmp_path: Path, certs: QlikCerts, simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator.sites["site"].license = SimulatedLicense(valid_to_texts=["16 March"], is_expired=True)
    code, status = check(tmp_path, certs, simulator, capsys)
    assert code == EXIT_EXPIRED
    assert (status["status"], status["licenseExpired"]) == ("expired", True)


@pytest.mark.parametrize(
    "template", ["{d} {Month} {y}", "{Month} {d} {y}", "{Month} {d}, {y}", "{d}-{Mon}-{y}"]
)
def test_complete_dates_with_english_month_names_are_read(
    tmp_path: Path,
    certs: QlikCerts,
    simulator: Simulator,
    capsys: pytest.CaptureFixture[str],
    template: str,
) -> None:
    end = TODAY + dt.timedelta(days=400)
    text = template.format(d=end.day, Month=end.strftime("%B"), Mon=end.strftime("%b"), y=end.year)
    simulator.sites["site"].license = SimulatedLicense(valid_to_texts=[text])
    code, status = check(tmp_path, certs, simulator, capsys)
    assert code == EXIT_OK
    assert (status["expiryDate"], status["daysUntilExpiry"]) == (end.isoformat(), 400)


# --- the answer's shape, checked like the config's ------------------------------------------

NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
KEY = {"key": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "keyDetails": "License Number: 1"}


def deeply_nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            KEY | {"schemaPath": "About"},
            "QRS answered a 'About' entity where a License was expected",
        ),
        (KEY | {"key": 42}, "QRS license field 'key' should be text, got 42"),
        (
            KEY | {"serial": {"a": 1}},
            "QRS license field 'serial' should be text or a number, got {'a': 1}",
        ),
        (
            KEY | {"keyDetails": deeply_nested(5000)},
            "QRS license field 'keyDetails' should be text, got [[[...]]]",
        ),
        (
            KEY | {"lef": "x" * 100_000},
            None,  # text of any length is text; it is simply no LEF and no date
        ),
        (
            KEY | {"isExpired": "\x1b[2Jyes"},
            # Quoted as repr quotes it: the escape is shown, never sent to a terminal.
            "QRS license field 'isExpired' should be true/false, got '\\x1b[2Jyes'",
        ),
    ],
    ids=["schemaPath", "key-type", "serial-type", "nested", "long-lef", "escapes"],
)
def test_field_types_are_checked_with_named_errors(answer: dict[str, Any], error: str) -> None:
    with measured() as cost:
        status = evaluate_license("prod", answer, NOW, 60)
    assert cost.seconds < 2 and cost.peak_mb < 20, cost
    if error is None:
        assert status.status is Level.OK  # a signed key without Valid To: perpetual
        return
    assert (status.status, status.error) == (Level.UNKNOWN, error)
    assert "\x1b" not in status.error


def test_a_flood_of_dates_is_refused_not_parsed() -> None:
    lines = "\n".join(f"Valid To: {2030 + i // 365}-01-{i % 28 + 1:02d}" for i in range(5000))
    with measured() as cost:
        status = evaluate_license("prod", KEY | {"keyDetails": lines}, NOW, 60)
    assert status.status is Level.UNKNOWN
    assert status.error == "keyDetails names more than 200 expiry dates"
    assert cost.seconds < 3, cost


def test_an_unreadable_date_is_quoted_short_and_printable() -> None:
    garbage = "\x1b]0;pwned\x07\x1b[2J" + "never " * 40
    key_details = f"License Number: 1 Valid To: {garbage}"
    status = evaluate_license("prod", KEY | {"keyDetails": key_details}, NOW, 60)
    assert status.status is Level.UNKNOWN
    assert status.expiryDateStr is not None and len(status.expiryDateStr) <= 60
    assert status.expiryDateStr.startswith("never never") and status.expiryDateStr.endswith("…")
    assert status.error == f"cannot read the expiry date {status.expiryDateStr!r} in keyDetails"


def test_license_fields_sent_on_are_printable() -> None:
    answer = KEY | {"serial": "\x1b]0;pwned\x07\x1b[31m9999 0000\u202e", "isExpired": True}
    status = evaluate_license("prod", answer, NOW, 60)
    assert (status.status, status.serial) == (Level.EXPIRED, "9999 0000")


@pytest.mark.parametrize(
    "text",
    ["16 March", "Dec", "Friday", "12:00 AM", "2027", "March 2027", "3/16/27", "2027-03", "16.03."],
)
def test_parse_license_date_refuses_what_dateutil_would_complete(text: str) -> None:
    with pytest.raises(UnreadableDate, match="not a complete date"):
        parse_license_date(text)
