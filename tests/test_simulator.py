"""The QRS simulator on its own: certificates, license JSON, the HTTPS server, the CLI."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509

from licmon.cli import simulator as simulator_cli
from licmon.qrs import QrsClient, QrsEndpoint
from licmon.simulator import (
    DATE_FORMATS,
    DEFAULT_SERVER_NAMES,
    FAULTS,
    MisfitCerts,
    QlikCerts,
    SimulatedLicense,
    Simulator,
    SiteSpec,
    ensure_client_cert,
    ensure_qlik_certs,
    run_simulator,
)
from tests.qrs_support import XRFKEY, closed_port, raw_get, session_certs

# Every field the reference lists for the QRS License entity.
LICENSE_FIELDS = {
    "id",
    "createdDate",
    "modifiedDate",
    "modifiedByUserName",
    "lef",
    "serial",
    "check",
    "key",
    "keyDetails",
    "name",
    "organization",
    "product",
    "numberOfCores",
    "isExpired",
    "expiredReason",
    "isBlacklisted",
    "isInvalid",
    "isSubscription",
    "isCloudServices",
    "isElastic",
    "isDynamicCapacity",
    "updated",
    "privileges",
    "schemaPath",
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[QlikCerts, MisfitCerts]:
    return session_certs(tmp_path_factory, loopback=True)


@pytest.fixture
def sim(certs: tuple[QlikCerts, MisfitCerts]) -> Iterator[Simulator]:
    with run_simulator([SiteSpec("a"), SiteSpec("b")], certs[0]) as simulator:
        yield simulator


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


# --- certificates ---------------------------------------------------------------------------


def test_certificates_form_a_qlik_chain(tmp_path: Path) -> None:
    made = ensure_qlik_certs(tmp_path)
    assert {p.name for p in (made.root_ca, made.client_cert, made.client_key)} == {
        "root.pem",
        "client.pem",
        "client_key.pem",
    }
    root, client, server = _load(made.root_ca), _load(made.client_cert), _load(made.server.cert)
    root.verify_directly_issued_by(root)
    client.verify_directly_issued_by(root)
    server.verify_directly_issued_by(root)
    cn = client.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
    assert cn == "QlikClient"
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == list(DEFAULT_SERVER_NAMES)
    assert made.client_key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")


def test_certificates_are_reused_and_server_reissued_only_for_new_names(tmp_path: Path) -> None:
    first = ensure_qlik_certs(tmp_path)
    before = {p: p.read_bytes() for p in (first.root_ca, first.client_cert, first.server.cert)}
    again = ensure_qlik_certs(tmp_path)
    assert {p: p.read_bytes() for p in before} == before
    assert again == first

    renamed = ensure_qlik_certs(tmp_path, ["qlik.example.org", "127.0.0.1"])
    assert renamed.root_ca.read_bytes() == before[first.root_ca]
    assert renamed.client_cert.read_bytes() == before[first.client_cert]
    server = _load(renamed.server.cert)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["qlik.example.org"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_broken_root_regenerates_the_whole_set(tmp_path: Path) -> None:
    first = ensure_qlik_certs(tmp_path)
    old_client = first.client_cert.read_bytes()
    first.root_ca.write_text("not a certificate")
    second = ensure_qlik_certs(tmp_path)
    root = _load(second.root_ca)
    _load(second.client_cert).verify_directly_issued_by(root)
    _load(second.server.cert).verify_directly_issued_by(root)
    assert second.client_cert.read_bytes() != old_client


def test_certificates_ending_in_n_days_have_files_of_their_own(tmp_path: Path) -> None:
    default = ensure_qlik_certs(tmp_path)
    before = {p: p.read_bytes() for p in (default.client_cert, default.server.cert)}
    now = dt.datetime.now(dt.UTC)
    short = ensure_qlik_certs(tmp_path, server_cert_days=10, client_cert_days=-2)
    assert (short.server.cert.name, short.server.key.name) == (
        "server_+10d.pem",
        "server_key_+10d.pem",
    )
    assert (short.client_cert.name, short.client_key.name) == (
        "client_-2d.pem",
        "client_key_-2d.pem",
    )
    assert short.root_ca == default.root_ca
    assert {p: p.read_bytes() for p in before} == before  # the default pairs untouched
    root = _load(default.root_ca)
    for path, days in ((short.server.cert, 10), (short.client_cert, -2)):
        cert = _load(path)
        cert.verify_directly_issued_by(root)
        assert abs(cert.not_valid_after_utc - (now + dt.timedelta(days=days))) < dt.timedelta(
            seconds=5
        )
        assert cert.not_valid_before_utc < cert.not_valid_after_utc
    # Reused the same day; another lifetime is another file, the default is still the default.
    again = ensure_qlik_certs(tmp_path, server_cert_days=10, client_cert_days=-2)
    assert again.server.cert.read_bytes() == short.server.cert.read_bytes()
    assert ensure_qlik_certs(tmp_path, server_cert_days=0).server.cert.name == "server_+0d.pem"
    assert ensure_qlik_certs(tmp_path) == default
    assert {p: p.read_bytes() for p in before} == before


def test_client_certificate_ending_in_n_days_is_taken_until_it_ends(
    sim: Simulator, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    site = sim.sites["a"]
    valid = ensure_client_cert(certs[0], 5)
    assert valid.cert.name == "client_+5d.pem"
    end = _load(valid.cert).not_valid_after_utc
    assert end.date() == (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).date()
    assert raw_get(site, certs[0], cert=(str(valid.cert), str(valid.key))).status_code == 200
    ended = ensure_client_cert(certs[0], -1)
    with pytest.raises(requests.exceptions.SSLError):
        raw_get(site, certs[0], cert=(str(ended.cert), str(ended.key)))


def test_misfit_certificates(certs: tuple[QlikCerts, MisfitCerts]) -> None:
    qlik, misfits = certs
    root = _load(qlik.root_ca)
    rogue_client = _load(misfits.rogue_client.cert)
    rogue_client.verify_directly_issued_by(_load(misfits.rogue_root_ca))
    with pytest.raises(ValueError):
        rogue_client.verify_directly_issued_by(root)
    expired = _load(misfits.expired_client.cert)
    expired.verify_directly_issued_by(root)
    assert expired.not_valid_after_utc < dt.datetime.now(dt.UTC)


# --- license JSON ---------------------------------------------------------------------------

MARCH_16 = dt.date(2024, 3, 16)


@pytest.mark.parametrize(
    ("fmt", "midnight", "afternoon"),
    [
        ("qlik", "2024-03-16 12:00:00 AM", "2024-03-16 3:04:05 PM"),
        ("us", "3/16/2024 12:00:00 AM", "3/16/2024 3:04:05 PM"),
        ("de", "16.03.2024 00:00:00", "16.03.2024 15:04:05"),
        ("iso", "2024-03-16T00:00:00Z", "2024-03-16T15:04:05Z"),
        ("date", "2024-03-16", "2024-03-16"),
    ],
)
def test_date_formats(fmt: str, midnight: str, afternoon: str) -> None:
    assert DATE_FORMATS[fmt](dt.datetime(2024, 3, 16)) == midnight
    assert DATE_FORMATS[fmt](dt.datetime(2024, 3, 16, 15, 4, 5)) == afternoon
    details = SimulatedLicense(valid_to=MARCH_16, date_format=fmt).to_json()["keyDetails"]
    assert f"Valid To: {midnight} " in details


def test_key_license_json_has_every_field() -> None:
    document = SimulatedLicense(valid_to=MARCH_16).to_json()
    assert set(document) == LICENSE_FIELDS
    assert document["schemaPath"] == "License"
    assert document["isExpired"] is False
    assert document["lef"] == ""
    assert document["key"].count(".") == 2  # JWT-shaped signed key
    assert document["keyDetails"] == (
        "isBlackListed: False\n"
        "License Number: 9999 0000 0000 1234 Valid From: 0001-01-01 12:00:00 AM "
        "Valid To: 2024-03-16 12:00:00 AM "
        "Allotment professional:100; Allotment analyzer:100; Allotment tokens:0"
    )


def test_default_valid_to_is_thirty_days_ahead() -> None:
    ahead = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)
    assert SimulatedLicense().formatted_valid_to() == [f"{ahead.isoformat()} 12:00:00 AM"]


def test_several_valid_to_on_one_line_and_across_lines() -> None:
    dates = [dt.date(2025, 6, 30), dt.date(2025, 3, 31)]
    one_line = SimulatedLicense(valid_to=dates).key_details()
    assert one_line.splitlines()[1].count("Valid To:") == 2
    across = SimulatedLicense(valid_to=dates, key_details_layout="multi_line").key_details()
    valid_to_lines = [line for line in across.splitlines() if line.startswith("Valid To:")]
    assert valid_to_lines == [
        "Valid To: 2025-06-30 12:00:00 AM",
        "Valid To: 2025-03-31 12:00:00 AM",
    ]


def test_expired_and_perpetual() -> None:
    expired = SimulatedLicense.expired(days_ago=10).to_json()
    assert expired["isExpired"] is True
    assert expired["expiredReason"]
    perpetual = SimulatedLicense.perpetual().to_json()
    assert "Valid To" not in perpetual["keyDetails"]
    assert perpetual["lef"] == ""


def test_lef_only_license() -> None:
    document = SimulatedLicense(valid_to=dt.date(2025, 12, 31), lef_only=True).to_json()
    assert document["keyDetails"] == ""
    assert document["key"] == ""
    lines = document["lef"].splitlines()
    assert "PRODUCTLEVEL;50;;2025-12-31" in lines
    assert all(line.count(";") == 3 for line in lines)  # ATTRIBUTE;VALUE;VALIDFROM;VALIDTO
    several = SimulatedLicense(
        valid_to=[dt.date(2026, 1, 31), dt.date(2025, 12, 31)], lef_only=True
    ).lef()
    assert [line.split(";")[3] for line in several.splitlines() if line.split(";")[3]] == [
        "2026-01-31",
        "2025-12-31",
    ]
    perpetual = SimulatedLicense.perpetual(lef_only=True).lef()
    assert perpetual and all(line.endswith(";") for line in perpetual.splitlines())


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="date format"):
        SimulatedLicense(date_format="klingon")
    with pytest.raises(ValueError, match="fault"):
        SiteSpec("a", fault="explode")


def test_cli_choices_follow_the_simulator() -> None:
    # The CLI repeats the names to keep its import light; this keeps them in step.
    assert set(simulator_cli._FAULTS) == set(FAULTS)
    assert set(simulator_cli._DATE_FORMATS) == set(DATE_FORMATS)


# --- server ---------------------------------------------------------------------------------


def test_serves_license_and_about(sim: Simulator, certs: tuple[QlikCerts, MisfitCerts]) -> None:
    site = sim.sites["a"]
    response = raw_get(site, certs[0])
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == site.license.to_json()
    about = raw_get(site, certs[0], "/qrs/about")
    assert about.json()["buildVersion"]
    assert raw_get(site, certs[0], "/QRS/License").status_code == 200  # case-insensitive
    assert raw_get(site, certs[0], "/qrs/app").status_code == 404


@pytest.mark.parametrize(
    ("query_key", "header_key"),
    [
        (XRFKEY, "ABCDEFGH12345678"),  # differ
        (None, XRFKEY),  # no query parameter
        (XRFKEY, None),  # no header
        ("abc123", "abc123"),  # too short
        ("abcdEFGH1234567!", "abcdEFGH1234567!"),  # not letters and digits
    ],
)
def test_xrfkey_check(
    sim: Simulator,
    certs: tuple[QlikCerts, MisfitCerts],
    query_key: str | None,
    header_key: str | None,
) -> None:
    response = raw_get(sim.sites["a"], certs[0], query_key=query_key, header_key=header_key)
    assert response.status_code == 403
    assert "XSRF" in response.text


def test_client_certificate_is_required(
    sim: Simulator, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    site = sim.sites["a"]
    with pytest.raises(requests.exceptions.SSLError):
        raw_get(site, certs[0], cert=False)
    rogue = certs[1].rogue_client
    with pytest.raises(requests.exceptions.SSLError):
        raw_get(site, certs[0], cert=(str(rogue.cert), str(rogue.key)))
    _wait_for(lambda: site.handshake_failures == 2)
    assert site.request_count == 0


def test_sites_are_independent_and_changeable_at_runtime(
    sim: Simulator, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    a, b = sim.sites["a"], sim.sites["b"]
    assert a.port != b.port
    b.license = SimulatedLicense(valid_to=MARCH_16, date_format="de", organization="B Corp")
    b.fault = "503"
    assert raw_get(a, certs[0]).status_code == 200
    assert raw_get(b, certs[0]).status_code == 503
    b.fault = "none"
    document = raw_get(b, certs[0]).json()
    assert document["organization"] == "B Corp"
    assert "Valid To: 16.03.2024 00:00:00" in document["keyDetails"]
    assert (a.request_count, b.request_count) == (1, 2)


@pytest.mark.parametrize(
    ("fault", "status", "content_type"),
    [
        ("500", 500, "text/plain"),
        ("503", 503, "text/plain"),
        ("401", 401, "text/plain"),
        ("403", 403, "text/plain"),
        ("404", 404, "text/plain"),
        ("html", 200, "text/html"),
        ("malformed", 200, "application/json"),
    ],
)
def test_faults(
    sim: Simulator, certs: tuple[QlikCerts, MisfitCerts], fault: str, status: int, content_type: str
) -> None:
    site = sim.sites["a"]
    site.fault = fault
    response = raw_get(site, certs[0])
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(content_type)
    if fault in ("html", "malformed"):
        with pytest.raises(ValueError):
            response.json()


def test_404_fault_keeps_about_working(
    sim: Simulator, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    site = sim.sites["a"]
    site.fault = "404"
    assert raw_get(site, certs[0]).status_code == 404
    assert raw_get(site, certs[0], "/qrs/about").status_code == 200


def test_slow_fault_answers_late(sim: Simulator, certs: tuple[QlikCerts, MisfitCerts]) -> None:
    site = sim.sites["a"]
    site.fault, site.slow_seconds = "slow", 0.3
    started = time.monotonic()
    assert raw_get(site, certs[0]).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_close_releases_a_hanging_request(certs: tuple[QlikCerts, MisfitCerts]) -> None:
    results: list[BaseException | int] = []
    with run_simulator([SiteSpec("h", fault="hang")], certs[0]) as simulator:
        site = simulator.sites["h"]

        def call() -> None:
            try:
                results.append(raw_get(site, certs[0]).status_code)
            except requests.RequestException as exc:
                results.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        _wait_for(lambda: site.request_count == 1)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    caller.join(timeout=5)
    assert results and isinstance(results[0], requests.ConnectionError)


def test_requests_are_logged_without_secrets(
    sim: Simulator, certs: tuple[QlikCerts, MisfitCerts], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="licmon.simulator"):
        raw_get(sim.sites["a"], certs[0])
    assert "site a: GET /qrs/license -> 200" in caplog.text
    assert XRFKEY not in caplog.text


def test_counts_tls_connections(sim: Simulator, certs: tuple[QlikCerts, MisfitCerts]) -> None:
    site = sim.sites["a"]
    for _ in range(2):
        raw_get(site, certs[0])  # one session per call: a new connection each
    _wait_for(lambda: site.connection_count == 2)
    assert site.request_count == 2
    site.reset_counters()
    assert (site.connection_count, site.request_count) == (0, 0)


def test_duplicate_site_names_are_refused(certs: tuple[QlikCerts, MisfitCerts]) -> None:
    with pytest.raises(ValueError, match="unique"):
        run_simulator([SiteSpec("a"), SiteSpec("a")], certs[0]).__enter__()


# --- command line ---------------------------------------------------------------------------


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    port = closed_port()
    command = [
        sys.executable,
        "-m",
        "licmon.cli.main",
        "qrs-simulator",
        "--cert-dir",
        str(tmp_path / "certs"),
        "--port",
        str(port),
        "--valid-to",
        "2031-01-15",
        "--date-format",
        "us",
        "--lef-only",
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("serving"):
                break
        output = "".join(lines)
        assert f"site site1: https://127.0.0.1:{port}/qrs/license" in output
        cert_dir = tmp_path / "certs"
        endpoint = QrsEndpoint(
            site="site1",
            host="127.0.0.1",
            port=port,
            client_cert=cert_dir / "client.pem",
            client_key=cert_dir / "client_key.pem",
            root_ca=cert_dir / "root.pem",
            verify_hostname=False,
            read_timeout=5,
        )
        with QrsClient(endpoint) as client:
            document = client.get_license()
        assert document["keyDetails"] == ""
        assert "PRODUCTLEVEL;50;;2031-01-15" in document["lef"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "GET /qrs/license -> 200" in stderr


def test_cli_serves_certificates_ending_in_n_days(tmp_path: Path) -> None:
    from licmon.checks.certificate.reading import read_endpoint, read_pem_file

    port = closed_port()
    cert_dir = tmp_path / "certs"
    command = [
        *(sys.executable, "-m", "licmon.cli.main", "qrs-simulator"),
        *("--cert-dir", str(cert_dir), "--port", str(port)),
        *("--server-cert-days", "-4", "--client-cert-days", "3"),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("serving"):
                break
        output = "".join(lines)
        client, client_key = cert_dir / "client_+3d.pem", cert_dir / "client_key_+3d.pem"
        assert f"client cert  {client} (ends " in output
        assert f"server cert  {cert_dir / 'server_-4d.pem'} (ends " in output
        now = dt.datetime.now(dt.UTC)
        leaf = read_endpoint(
            "127.0.0.1", port, timeout=5, client_cert=client, client_key=client_key
        )[0]
        assert abs(leaf.not_after - (now - dt.timedelta(days=4))) < dt.timedelta(seconds=30)
        (read,) = read_pem_file(client)
        assert abs(read.not_after - (now + dt.timedelta(days=3))) < dt.timedelta(seconds=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_without_the_simulator_extra_hints_at_it(tmp_path: Path) -> None:
    # A None entry in sys.modules makes `import trustme` fail as an absent package does.
    script = (
        "import sys; sys.modules['trustme'] = None\n"
        "from licmon.cli.main import main\n"
        f"sys.exit(main(['qrs-simulator', '--cert-dir', {str(tmp_path)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "licmon qrs-simulator needs trustme, from the 'simulator' extra: "
        "pip install 'qlik-license-monitor[simulator]'"
    ]
    assert not any(tmp_path.iterdir())  # nothing started, nothing written


def test_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from licmon.cli.main import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["qrs-simulator", "--site", "nonsense"])
    with pytest.raises(SystemExit):
        parser.parse_args(["qrs-simulator", "--valid-to", "next tuesday"])
    args = parser.parse_args(["qrs-simulator", "--site", "east=5001", "--site", "west=5002"])
    assert args.site == [("east", 5001), ("west", 5002)]
    with pytest.raises(SystemExit):
        parser.parse_args(["qrs-simulator", "--server-cert-days", "soon"])
    args = parser.parse_args(["qrs-simulator"])
    assert (args.server_cert_days, args.client_cert_days) == (None, None)
    args = parser.parse_args(["qrs-simulator", "--server-cert-days", "-3", "--client-cert-days=0"])
    assert (args.server_cert_days, args.client_cert_days) == (-3, 0)
    assert parser.parse_args(["qrs-simulator", "--valid-to", "-5"]).valid_to == (
        dt.datetime.now(dt.UTC).date() - dt.timedelta(days=5)
    )


def _wait_for(condition: object, timeout: float = 3.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
