"""`licmon check` against the QRS simulator over real mutual TLS."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from licmon.cli.check import EXIT_EXPIRED, EXIT_OK, EXIT_UNKNOWN, EXIT_WARNING
from licmon.cli.main import main
from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, ensure_qlik_certs, run_simulator
from licmon.simulator.server import Simulator
from tests.pipeline_support import site_entries
from tests.services import free_port

TODAY = dt.datetime.now(dt.UTC).date()


def in_days(days: int) -> dt.date:
    return TODAY + dt.timedelta(days=days)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return ensure_qlik_certs(tmp_path_factory.mktemp("certs"))


def site_config(
    certs: QlikCerts, simulator: Simulator, extra: dict[str, int] | None = None
) -> dict:
    sites = site_entries(certs, simulator)
    for name, port in (extra or {}).items():
        sites.append(sites[0] | {"name": name, "port": port})
    return {
        "Butler": {"qlikSenseLicense": {"serverLicenseMonitor": {"alert": {"thresholdDays": 60}}}},
        "licmon": {"sites": sites, "timeouts": {"qrsConnect": 2, "qrsRead": 1}},
    }


def run_check(
    tmp_path: Path, document: dict, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict]:
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump(document))
    code = main(["check", "--json", "--config", str(path)])
    return code, {entry["site"]: entry for entry in json.loads(capsys.readouterr().out)}


FORMAT_SITES = {
    # name: (license, expected (status, days, expiryDate, source))
    "qlik": (SimulatedLicense(valid_to=[in_days(30)], date_format="qlik"), ("warning", 30, "key")),
    "us": (SimulatedLicense(valid_to=[in_days(90)], date_format="us"), ("ok", 90, "key")),
    "de": (SimulatedLicense(valid_to=[in_days(10)], date_format="de"), ("warning", 10, "key")),
    "iso": (SimulatedLicense(valid_to=[in_days(0)], date_format="iso"), ("warning", 0, "key")),
    "date": (SimulatedLicense(valid_to=[in_days(-3)], date_format="date"), ("expired", -3, "key")),
    "several-one-line": (
        SimulatedLicense(valid_to=[in_days(400), in_days(45), in_days(200)]),
        ("warning", 45, "key"),
    ),
    "several-lines": (
        SimulatedLicense(valid_to=[in_days(400), in_days(100)], key_details_layout="multi_line"),
        ("ok", 100, "key"),
    ),
    "lef": (
        SimulatedLicense(valid_to=[in_days(20), in_days(5)], lef_only=True),
        ("warning", 5, "lef"),
    ),
    "perpetual": (SimulatedLicense.perpetual(), ("ok", None, None)),
    "expired-flag": (SimulatedLicense.perpetual(is_expired=True), ("expired", None, None)),
}


@pytest.fixture(scope="module")
def format_sites(certs: QlikCerts) -> Iterator[Simulator]:
    specs = [SiteSpec(name, license=license) for name, (license, _) in FORMAT_SITES.items()]
    with run_simulator(specs, certs) as simulator:
        yield simulator


def test_every_format_over_tls(
    tmp_path: Path, certs: QlikCerts, format_sites: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, results = run_check(tmp_path, site_config(certs, format_sites), capsys)
    assert code == EXIT_EXPIRED  # one site is expired: the most severe wins
    for name, (_, (status, days, source)) in FORMAT_SITES.items():
        result = results[name]
        expected_source = {"key": "keyDetails", "lef": "lef", None: None}[source]
        assert (result["status"], result["daysUntilExpiry"], result["expirySource"]) == (
            status,
            days,
            expected_source,
        ), name
        if days is not None:
            assert result["expiryDate"] == in_days(days).isoformat(), name
        assert result["error"] is None, name
    assert results["expired-flag"]["licenseExpired"] is True
    assert results["date"]["licenseExpired"] is True
    assert results["perpetual"]["licenseExpired"] is False


FAULT_MESSAGES = {
    "500": "500",
    "503": "503",
    "401": "401",
    "404": "404",
    "html": "HTML",
    "malformed": "JSON",
    "slow": "no answer",
}


def test_every_failure_class_is_unknown_with_a_reason(
    tmp_path: Path, certs: QlikCerts, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [SiteSpec(f"fault-{fault}", fault=fault, slow_seconds=3) for fault in FAULT_MESSAGES]
    with run_simulator(specs, certs) as simulator:
        document = site_config(certs, simulator, extra={"refused": free_port()})
        code, results = run_check(tmp_path, document, capsys)
    assert code == EXIT_UNKNOWN
    for fault, fragment in FAULT_MESSAGES.items():
        result = results[f"fault-{fault}"]
        assert result["status"] == "unknown"
        assert f"fault-{fault}" in result["error"] and fragment.lower() in result["error"].lower()
    assert results["refused"]["status"] == "unknown"
    assert "refused" in results["refused"]["error"]


@pytest.mark.parametrize(
    ("licenses", "expected"),
    [
        ({"a": in_days(100)}, EXIT_OK),
        ({"a": in_days(100), "b": in_days(30)}, EXIT_WARNING),
        ({"a": None, "b": in_days(30)}, EXIT_WARNING),
        ({"a": None, "b": in_days(30), "c": in_days(-1)}, EXIT_EXPIRED),
        ({"a": None, "b": in_days(100)}, EXIT_UNKNOWN),
    ],
)
def test_most_severe_site_wins(
    tmp_path: Path,
    certs: QlikCerts,
    capsys: pytest.CaptureFixture[str],
    licenses: dict[str, dt.date | None],
    expected: int,
) -> None:
    specs = [
        SiteSpec(
            name,
            license=SimulatedLicense(valid_to=[day] if day else []),
            fault="none" if day else "503",
        )
        for name, day in licenses.items()
    ]
    with run_simulator(specs, certs) as simulator:
        code, _ = run_check(tmp_path, site_config(certs, simulator), capsys)
    assert code == expected


def test_table_output(
    tmp_path: Path, certs: QlikCerts, format_sites: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump(site_config(certs, format_sites)))
    assert main(["check", "--config", str(path)]) == EXIT_EXPIRED
    lines = capsys.readouterr().out.splitlines()
    # The monitoring-plugin line: the worst sites first, then perfdata (days left per site;
    # none for a perpetual license or one QRS says expired without a date).
    summary, perfdata = lines[0].split(" | ")
    assert summary == (
        f"LICENSE CRITICAL - date expired 3 days ago ({in_days(-3)}), expired-flag expired "
        f"(QRS says so), iso 0 days left ({in_days(0)}), +4 more, 3 of 10 sites ok"
    )
    assert perfdata.split() == [
        "qlik=30;61:;0:",
        "us=90;61:;0:",
        "de=10;61:;0:",
        "iso=0;61:;0:",
        "date=-3;61:;0:",
        "several-one-line=45;61:;0:",
        "several-lines=100;61:;0:",
        "lef=5;61:;0:",
    ]
    # The table follows as long output.
    assert lines[1].split() == ["SITE", "STATUS", "DAYS", "LEFT", "EXPIRES", "SOURCE", "DETAIL"]
    perpetual = next(line for line in lines if line.startswith("perpetual "))
    assert perpetual.split()[:5] == ["perpetual", "OK", "-", "never", "-"]


def test_bad_config_exits_3_and_says_it_is_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "Butler:\n  qlikSenseLicense: {serverLicenseMonitor: {alert: {thresholdDays: x}}}\n"
    )
    assert main(["check", "--config", str(path)]) == EXIT_UNKNOWN
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "configuration error" in captured.err and "thresholdDays" in captured.err
    assert "exit 3: configuration error" in captured.err


def test_json_goes_alone_to_stdout(
    tmp_path: Path, certs: QlikCerts, format_sites: Simulator
) -> None:
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump(site_config(certs, format_sites)))
    done = subprocess.run(
        [sys.executable, "-m", "licmon.cli.main", "-v", "check", "--json", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_EXPIRED
    assert {entry["site"] for entry in json.loads(done.stdout)} == set(FORMAT_SITES)
