"""A hostile QRS against `licmon check` and the QRS client: real mutual TLS, the simulator's
faults, and a measured bound on time and memory for each.

Before the fix: a dripping QRS was never cut off (each byte restarted the read timeout), a
huge answer was read whole, a deeply nested one crashed `licmon check` with a RecursionError
(exit 1: WARNING to Nagios), and a 500 body's escape codes reached the terminal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from licmon.qrs import (
    QrsBadResponseError,
    QrsClient,
    QrsClientConfigError,
    QrsEndpoint,
    QrsError,
    QrsHttpError,
    QrsServerError,
    QrsTimeoutError,
)
from licmon.simulator import QlikCerts, Simulator, Site, SiteSpec, ensure_qlik_certs, run_simulator
from tests.hostile.net_support import (
    HEADER_SECRET,
    assert_clean_output,
    check_config,
    dripping_relay,
    measured,
    raw_server,
    run_licmon,
)

EXIT_UNKNOWN = 3
# licmon check's own start (imports, config) plus a generous margin on a loaded machine.
START_SLACK = 10.0


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return ensure_qlik_certs(tmp_path_factory.mktemp("hostile-qrs-certs"))


@pytest.fixture
def sim(certs: QlikCerts) -> Iterator[Simulator]:
    with run_simulator([SiteSpec("hostile")], certs) as simulator:
        yield simulator


@pytest.fixture
def site(sim: Simulator) -> Site:
    return sim.sites["hostile"]


def check_once(tmp_path: Path, certs: QlikCerts, site: Site, *args: str) -> tuple[dict, str]:
    """`licmon check --json` of the one site in a child process: (its status, stderr)."""
    config = check_config(tmp_path, certs, {site.name: site.port}, connect=1.0, read=1.0)
    run = run_licmon(["check", "--json", "--config", str(config), *args], timeout=90)
    assert_clean_output(run.stdout, run.stderr)
    assert run.returncode == EXIT_UNKNOWN, run
    (status,) = json.loads(run.stdout)
    assert status["status"] == "unknown" and status["licenseExpired"] is None
    status["_run"] = run
    return status, run.stderr


@pytest.mark.parametrize("fault", ["drip", "drip-headers"])
def test_a_dripping_qrs_is_cut_off_at_connect_plus_read(
    tmp_path: Path, certs: QlikCerts, site: Site, fault: str
) -> None:
    # A byte every 0.3 s: always within the 1 s read timeout, so only a deadline ends it.
    site.fault, site.slow_seconds = fault, 0.3
    status, _ = check_once(tmp_path, certs, site)
    assert status["error"] == (
        f"QRS site 'hostile': no complete answer from 127.0.0.1:{site.port} within 2 s "
        "(connect timeout 1 s + read timeout 1 s)"
    )
    run = status["_run"]
    assert run.seconds < 2 + START_SLACK, run


def test_a_huge_answer_is_refused_after_10_mb(tmp_path: Path, certs: QlikCerts, site: Site) -> None:
    site.fault = "huge"  # 64 MB of valid JSON, no Content-Length
    status, _ = check_once(tmp_path, certs, site)
    assert status["error"] == (
        f"QRS site 'hostile': 127.0.0.1:{site.port} answered more than 10 MB; a License is a "
        "few KB, so something other than QRS may be answering"
    )
    run = status["_run"]
    # Before the fix the whole body, its text and its JSON were held: about 260 MB.
    assert run.max_rss_mb < 160, run
    assert run.seconds < 2 + START_SLACK, run


def test_a_deeply_nested_answer_is_a_named_error_not_a_crash(
    tmp_path: Path, certs: QlikCerts, site: Site
) -> None:
    site.fault = "nested-json"
    status, _ = check_once(tmp_path, certs, site)
    assert status["error"].startswith(
        "QRS site 'hostile': GET /qrs/license answered 200 with application/json (200000 bytes) "
        "that is not valid JSON (JSON nested too deeply to read)"
    )


def test_a_non_object_answer_is_a_named_error(tmp_path: Path, certs: QlikCerts, site: Site) -> None:
    site.fault = "non-object"
    status, _ = check_once(tmp_path, certs, site)
    assert status["error"] == (
        "QRS site 'hostile': GET /qrs/license answered a JSON str, expected an object"
    )


def test_a_redirect_names_the_host_only(tmp_path: Path, certs: QlikCerts, site: Site) -> None:
    site.fault = "redirect"
    status, stderr = check_once(tmp_path, certs, site)
    assert status["error"] == (
        "QRS site 'hostile': GET /qrs/license answered 302 Found, a redirect to host "
        "'login.example.com'; QRS never redirects, so something in front of it (a proxy, a "
        "login page) is answering"
    )
    for text in (status["error"], stderr):
        assert "redirect-secret-token" not in text and "SAMLRequest" not in text
    assert [request.path for request in site.requests] == ["/qrs/license"]  # not followed


def test_escape_codes_in_an_error_body_never_reach_the_terminal(
    tmp_path: Path, certs: QlikCerts, site: Site
) -> None:
    site.fault = "escapes"
    config = check_config(tmp_path, certs, {site.name: site.port})
    run = run_licmon(["-v", "check", "--config", str(config)], timeout=90)  # the table
    assert run.returncode == EXIT_UNKNOWN, run
    assert_clean_output(run.stdout, run.stderr)
    assert (
        "GET /qrs/license answered 500 Internal Server Error: The repository service is not "
        "available.; the repository is down or starting"
    ) in run.stdout


def test_a_dripped_tls_handshake_is_cut_off_too(
    tmp_path: Path, certs: QlikCerts, site: Site
) -> None:
    # The real site behind a relay that passes its bytes one every 0.3 s: the handshake alone
    # (certificates included) would take minutes. CPython bounds a whole handshake by the
    # socket's timeout (the connect timeout), within the call's deadline.
    with raw_server(dripping_relay(site.port, 0.3)) as relay:
        port = relay.port
        config = check_config(tmp_path, certs, {site.name: port}, connect=1.0, read=3.0)
        run = run_licmon(["check", "--json", "--config", str(config)], timeout=90)
    assert run.returncode == EXIT_UNKNOWN, run
    assert_clean_output(run.stdout, run.stderr)
    (status,) = json.loads(run.stdout)
    assert status["error"] == (
        f"QRS site 'hostile': TLS handshake with 127.0.0.1:{port} not completed within 1 s"
    )
    assert run.seconds < 1 + START_SLACK, run
    assert site.request_count == 0  # it never got as far as the request


# --- the client on its own ------------------------------------------------------------------


def endpoint(site: Site, certs: QlikCerts, **overrides: object) -> QrsEndpoint:
    settings: dict[str, object] = {
        "site": site.name,
        "host": site.host,
        "port": site.port,
        "client_cert": certs.client_cert,
        "client_key": certs.client_key,
        "root_ca": certs.root_ca,
        "verify_hostname": False,
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
    }
    settings.update(overrides)
    return QrsEndpoint(**settings)  # type: ignore[arg-type]


def test_the_deadline_holds_on_a_kept_alive_connection(site: Site, certs: QlikCerts) -> None:
    with QrsClient(endpoint(site, certs)) as client:
        client.get_license()
        site.fault, site.slow_seconds = "drip", 0.3
        with measured() as cost, pytest.raises(QrsTimeoutError) as caught:
            client.get_license()  # the same connection, reused
    assert site.connection_count == 1
    assert caught.value.transient and "within 2 s" in str(caught.value)
    assert cost.seconds < 2 + 2.0, cost


def test_the_deadline_covers_the_reconnection_too(site: Site, certs: QlikCerts) -> None:
    # Dropped on the kept-alive connection, then dripped on the new one: still one deadline.
    with QrsClient(endpoint(site, certs)) as client:
        client.get_license()
        site.fault, site.slow_seconds = "drop-reused", 0.3
        with measured() as cost:
            client.get_license()  # dropped, reconnected, answered
        assert cost.seconds < 1.0
        site.fault = "drip"
        with measured() as cost, pytest.raises(QrsTimeoutError):
            client.get_license()
    assert cost.seconds < 2 + 2.0, cost


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (f"{HEADER_SECRET}\n", "line break"),  # passed `config validate` before
        (f"{HEADER_SECRET}\r\nX-Injected: 1", "line break"),
        (f"{HEADER_SECRET}€", "outside Latin-1"),  # crashed `licmon check` (exit 1)
    ],
)
def test_a_header_value_http_cannot_carry_is_named_not_quoted(
    site: Site, certs: QlikCerts, value: str, what: str
) -> None:
    headers = {"X-Qlik-User": "UserDirectory=INTERNAL; UserId=sa_repository", "X-Api-Key": value}
    with (
        QrsClient(endpoint(site, certs, headers=headers)) as client,
        pytest.raises(QrsClientConfigError) as caught,
    ):
        client.get_license()
    error = caught.value
    assert "'X-Api-Key'" in str(error) and "X-Qlik-User" not in str(error)
    assert what in str(error) or "control character" in str(error)
    for text in (str(error), repr(error), error.detail):
        assert HEADER_SECRET not in text
    assert error.__cause__ is None and error.__suppress_context__
    assert site.request_count == 0


def test_an_error_body_is_stripped_of_escape_codes(site: Site, certs: QlikCerts) -> None:
    site.fault = "escapes"
    with QrsClient(endpoint(site, certs)) as client, pytest.raises(QrsServerError) as caught:
        client.get_license()
    assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value)
    assert "The repository service is not available." in str(caught.value)


def test_every_failure_leaves_as_a_qrs_error(site: Site, certs: QlikCerts) -> None:
    """No hostile answer escapes the typed family (the fetch task's retries rely on it)."""
    expected: dict[str, type[QrsError]] = {
        "huge": QrsBadResponseError,
        "nested-json": QrsBadResponseError,
        "non-object": QrsBadResponseError,
        "redirect": QrsHttpError,
        "escapes": QrsServerError,
        "drip-headers": QrsTimeoutError,
    }
    site.slow_seconds = 0.3
    for fault, error_type in expected.items():
        site.fault = fault
        began = time.monotonic()
        with QrsClient(endpoint(site, certs)) as client, pytest.raises(error_type):
            client.get_license()
        assert time.monotonic() - began < 2 + 2.0, fault
