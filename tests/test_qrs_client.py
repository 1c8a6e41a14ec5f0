"""QrsClient against the simulator over real mutual TLS: requests, reuse, trust, failures."""

from __future__ import annotations

import logging
import pickle
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from licmon.qrs import (
    QrsAuthError,
    QrsBadResponseError,
    QrsClient,
    QrsClientCertRejectedError,
    QrsClientConfigError,
    QrsConnectionError,
    QrsConnectionRefusedError,
    QrsEndpoint,
    QrsError,
    QrsHostnameMismatchError,
    QrsHttpError,
    QrsNoLicenseError,
    QrsServerError,
    QrsTimeoutError,
    QrsTlsError,
    QrsUntrustedServerError,
)
from licmon.simulator import (
    MisfitCerts,
    QlikCerts,
    SimulatedLicense,
    Simulator,
    Site,
    SiteSpec,
    run_simulator,
)
from tests.qrs_support import (
    closed_port,
    endpoint_for,
    full_backlog_listener,
    plain_http_server,
    session_certs,
    tls_server_that_hangs_up,
)

SITE = "a"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[QlikCerts, MisfitCerts]:
    """The realistic set: the server certificate names qlikserver1.domain.local only."""
    return session_certs(tmp_path_factory)


@pytest.fixture
def sim(certs: tuple[QlikCerts, MisfitCerts]) -> Iterator[Simulator]:
    with run_simulator([SiteSpec(SITE)], certs[0]) as simulator:
        yield simulator


@pytest.fixture
def site(sim: Simulator) -> Site:
    return sim.sites[SITE]


def _client(site: Site, certs: tuple[QlikCerts, MisfitCerts], **overrides: Any) -> QrsClient:
    return QrsClient(endpoint_for(site, certs[0], **overrides))


def _failure(endpoint: QrsEndpoint) -> QrsError:
    with QrsClient(endpoint) as client, pytest.raises(QrsError) as caught:
        client.get_license()
    return caught.value


def _assert_error(
    error: QrsError, cls: type[QrsError], kind: str, *, transient: bool, site: str = SITE
) -> None:
    assert type(error) is cls, f"{type(error).__name__}: {error}"
    assert (error.kind, error.transient, error.site) == (kind, transient, site)
    message = str(error)
    assert "\n" not in message
    assert f"QRS site {site!r}" in message


# --- the request ----------------------------------------------------------------------------


def test_get_license_and_about(site: Site, certs: tuple[QlikCerts, MisfitCerts]) -> None:
    with _client(site, certs) as client:
        assert client.get_license() == site.license.to_json()
        assert client.get_about()["schemaPath"] == "About"


def test_request_carries_qlik_headers(site: Site, certs: tuple[QlikCerts, MisfitCerts]) -> None:
    static = {"X-Custom": "from-config"}
    with _client(site, certs, headers=static) as client:
        client.get_license()
        client.get_license()
    first, second = site.requests
    for recorded in (first, second):
        key = recorded.query["xrfkey"][0]
        assert re.fullmatch(r"[A-Za-z0-9]{16}", key)
        assert recorded.headers["X-Qlik-Xrfkey"] == key
        assert recorded.headers["X-Qlik-User"] == "UserDirectory=INTERNAL; UserId=sa_repository"
        assert recorded.headers["Content-Type"] == "application/json"
        assert recorded.headers["X-Custom"] == "from-config"
        assert recorded.path == "/qrs/license"
    assert first.query["xrfkey"] != second.query["xrfkey"]  # fresh key per request


def test_static_headers_override_the_user_header(
    site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    # Butler configs usually carry X-Qlik-User among configQRS.headers.static.
    user = "UserDirectory=Internal; UserId=sa_api"
    with _client(site, certs, headers={"X-Qlik-User": user}) as client:
        client.get_license()
    assert site.requests[0].headers["X-Qlik-User"] == user


def test_endpoint_repr_hides_static_header_values() -> None:
    endpoint = QrsEndpoint(
        site="s",
        host="h",
        client_cert=Path("c.pem"),
        client_key=Path("k.pem"),
        root_ca=None,
        headers={"Authorization": "Bearer secret-token"},
    )
    assert "secret-token" not in repr(endpoint)
    assert endpoint.base_url == "https://h:4242"


def test_connection_is_reused(site: Site, certs: tuple[QlikCerts, MisfitCerts]) -> None:
    with _client(site, certs) as client:
        for _ in range(4):
            client.get_license()
        client.get_about()
    assert site.request_count == 5
    assert site.connection_count == 1
    with _client(site, certs) as other:
        other.get_license()
    assert site.connection_count == 2  # one connection per client, not per call


def test_client_recovers_after_a_transient_failure(
    site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    with _client(site, certs) as client:
        site.fault = "503"
        with pytest.raises(QrsServerError):
            client.get_license()
        site.fault = "none"
        assert client.get_license()["schemaPath"] == "License"


def test_client_reconnects_after_the_server_drops_connections(
    sim: Simulator, site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    with _client(site, certs) as client:
        client.get_license()
        sim.drop_connections()  # a repository restart, as the client sees it
        time.sleep(0.05)
        assert client.get_license()["schemaPath"] == "License"
    assert site.connection_count == 2


def test_reused_connection_closed_by_the_server_is_retried_once(
    site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    site.fault = "drop-reused"
    with _client(site, certs) as client:
        for _ in range(3):
            assert client.get_license()["schemaPath"] == "License"
    # each later call: dropped on the kept-alive connection, answered on a new one
    assert site.connection_count == 3
    assert [r.status for r in site.requests] == [200, 0, 200, 0, 200]


def test_non_object_json_is_a_bad_response(
    site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    class ListLicense(SimulatedLicense):
        def to_json(self) -> Any:  # a QRS list endpoint shape, not the singleton
            return [super().to_json()]

    site.license = ListLicense()
    error = _failure(endpoint_for(site, certs[0]))
    _assert_error(error, QrsBadResponseError, "bad_response", transient=False)
    assert "expected an object" in str(error)


# --- trust ----------------------------------------------------------------------------------


def test_hostname_mismatch_is_refused_when_checked(
    site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    error = _failure(endpoint_for(site, certs[0], verify_hostname=True))
    _assert_error(error, QrsHostnameMismatchError, "tls_hostname_mismatch", transient=False)
    assert "127.0.0.1" in str(error)
    assert site.request_count == 0


def test_hostname_mismatch_accepted_when_not_checked_but_chain_still_verified(
    site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    with _client(site, certs, verify_hostname=False) as client:
        assert client.get_license()["schemaPath"] == "License"
    wrong_root = endpoint_for(site, certs[0], verify_hostname=False, root_ca=certs[1].rogue_root_ca)
    error = _failure(wrong_root)
    _assert_error(error, QrsUntrustedServerError, "tls_untrusted_server", transient=False)


def test_matching_hostname_passes_full_verification(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    loopback, _ = session_certs(tmp_path_factory, loopback=True)
    with run_simulator([SiteSpec("named")], loopback) as simulator:
        site = simulator.sites["named"]
        for host in ("127.0.0.1", "localhost"):
            endpoint = endpoint_for(site, loopback, host=host, verify_hostname=True)
            with QrsClient(endpoint) as client:
                assert client.get_license()["schemaPath"] == "License"


def test_reject_unauthorized_false_accepts_unknown_ca_and_warns_once(
    site: Site, certs: tuple[QlikCerts, MisfitCerts], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = endpoint_for(
        site, certs[0], root_ca=certs[1].rogue_root_ca, reject_unauthorized=False
    )
    with (
        caplog.at_level(logging.WARNING, logger="licmon.qrs"),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        with QrsClient(endpoint) as client:
            for _ in range(3):
                assert client.get_license()["schemaPath"] == "License"
    ours = [r for r in caplog.records if r.name.startswith("licmon.qrs")]
    assert len(ours) == 1
    assert "verification is OFF" in ours[0].getMessage()
    assert repr(SITE) in ours[0].getMessage()
    assert [w for w in caught if "Unverified HTTPS" in str(w.message)] == []


# --- failure matrix -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "cls", "kind", "transient", "status"),
    [
        ("401", QrsAuthError, "auth_rejected", False, 401),
        ("403", QrsAuthError, "auth_rejected", False, 403),
        ("404", QrsNoLicenseError, "no_license", False, 404),
        ("500", QrsServerError, "server_unavailable", True, 500),
        ("503", QrsServerError, "server_unavailable", True, 503),
        ("html", QrsBadResponseError, "bad_response", False, 200),
        ("malformed", QrsBadResponseError, "bad_response", False, 200),
    ],
)
def test_http_failures(
    site: Site,
    certs: tuple[QlikCerts, MisfitCerts],
    fault: str,
    cls: type[QrsError],
    kind: str,
    transient: bool,
    status: int,
) -> None:
    site.fault = fault
    error = _failure(endpoint_for(site, certs[0]))
    _assert_error(error, cls, kind, transient=transient)
    assert error.status == status


def test_static_headers_cannot_break_the_xrfkey_pair(
    site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    endpoint = endpoint_for(site, certs[0], headers={"X-Qlik-Xrfkey": "0000000000000000"})
    with QrsClient(endpoint) as client:
        assert client.get_license()["schemaPath"] == "License"
    recorded = site.requests[0]
    assert recorded.headers["X-Qlik-Xrfkey"] == recorded.query["xrfkey"][0] != "0" * 16


def test_about_404_is_a_plain_http_error(site: Site, certs: tuple[QlikCerts, MisfitCerts]) -> None:
    site.fault = "404"
    with _client(site, certs) as client:
        assert client.get_about()["schemaPath"] == "About"  # only the license is missing
    with QrsClient(endpoint_for(site, certs[0])) as client, pytest.raises(QrsNoLicenseError):
        client.get_license()
    with QrsClient(endpoint_for(site, certs[0])) as client, pytest.raises(QrsHttpError) as caught:
        client._get_object("/qrs/nothing-here", missing_means_no_license=False)
    assert type(caught.value) is QrsHttpError
    assert caught.value.kind == "http_error"


def test_unknown_server_ca(site: Site, certs: tuple[QlikCerts, MisfitCerts]) -> None:
    error = _failure(endpoint_for(site, certs[0], root_ca=certs[1].rogue_root_ca))
    _assert_error(error, QrsUntrustedServerError, "tls_untrusted_server", transient=False)
    assert "rogue_root.pem" in str(error)


def test_rogue_client_certificate_rejected(
    site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    rogue = certs[1].rogue_client
    error = _failure(endpoint_for(site, certs[0], client_cert=rogue.cert, client_key=rogue.key))
    _assert_error(error, QrsClientCertRejectedError, "client_cert_rejected", transient=False)
    assert "issuer" in str(error)


def test_expired_client_certificate_rejected(
    site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    expired = certs[1].expired_client
    error = _failure(endpoint_for(site, certs[0], client_cert=expired.cert, client_key=expired.key))
    _assert_error(error, QrsClientCertRejectedError, "client_cert_rejected", transient=False)
    assert "expired" in str(error)


def test_server_hanging_up_after_handshake_means_client_cert_rejected(
    certs: tuple[QlikCerts, MisfitCerts],
) -> None:
    with tls_server_that_hangs_up(certs[0]) as port:
        endpoint = QrsEndpoint(
            site=SITE,
            host="127.0.0.1",
            port=port,
            client_cert=certs[0].client_cert,
            client_key=certs[0].client_key,
            root_ca=certs[0].root_ca,
            verify_hostname=False,
            read_timeout=2,
        )
        error = _failure(endpoint)
    _assert_error(error, QrsClientCertRejectedError, "client_cert_rejected", transient=False)


def test_plain_http_to_the_tls_port_is_a_connection_error(
    site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    error = _failure(endpoint_for(site, certs[0], use_ssl=False))
    _assert_error(error, QrsConnectionError, "connection_failed", transient=True)
    assert "useSSL" in str(error)


def test_tls_handshake_failure_against_plain_http(certs: tuple[QlikCerts, MisfitCerts]) -> None:
    with plain_http_server() as port:
        endpoint = QrsEndpoint(
            site=SITE,
            host="127.0.0.1",
            port=port,
            client_cert=certs[0].client_cert,
            client_key=certs[0].client_key,
            root_ca=certs[0].root_ca,
            read_timeout=2,
        )
        error = _failure(endpoint)
    _assert_error(error, QrsTlsError, "tls_handshake", transient=False)
    assert "useSSL" in str(error)


def test_unusable_client_files_are_a_config_error(
    site: Site, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    mismatched = endpoint_for(site, certs[0], client_key=certs[1].rogue_client.key)
    _assert_error(_failure(mismatched), QrsClientConfigError, "client_config", transient=False)
    missing = endpoint_for(site, certs[0], client_cert=certs[0].directory / "absent.pem")
    error = _failure(missing)
    _assert_error(error, QrsClientConfigError, "client_config", transient=False)
    assert "absent.pem" in str(error)


@pytest.mark.parametrize("fault", ["slow", "hang"])
def test_read_timeout(site: Site, certs: tuple[QlikCerts, MisfitCerts], fault: str) -> None:
    site.fault, site.slow_seconds = fault, 2.0
    started = time.monotonic()
    error = _failure(endpoint_for(site, certs[0], read_timeout=0.3))
    assert time.monotonic() - started < 1.5
    _assert_error(error, QrsTimeoutError, "timeout", transient=True)
    assert "0.3 s" in str(error)


def test_connect_timeout(certs: tuple[QlikCerts, MisfitCerts]) -> None:
    listener, held = full_backlog_listener()
    try:
        endpoint = QrsEndpoint(
            site=SITE,
            host="127.0.0.1",
            port=listener.getsockname()[1],
            client_cert=certs[0].client_cert,
            client_key=certs[0].client_key,
            root_ca=certs[0].root_ca,
            connect_timeout=0.3,
        )
        error = _failure(endpoint)
    finally:
        for sock in held:
            sock.close()
        listener.close()
    _assert_error(error, QrsTimeoutError, "timeout", transient=True)
    assert "no connection" in str(error)


def test_connection_refused(certs: tuple[QlikCerts, MisfitCerts]) -> None:
    endpoint = QrsEndpoint(
        site=SITE,
        host="127.0.0.1",
        port=closed_port(),
        client_cert=certs[0].client_cert,
        client_key=certs[0].client_key,
        root_ca=certs[0].root_ca,
    )
    error = _failure(endpoint)
    _assert_error(error, QrsConnectionRefusedError, "connection_refused", transient=True)
    assert isinstance(error, QrsConnectionError)


def test_unresolvable_host(certs: tuple[QlikCerts, MisfitCerts]) -> None:
    endpoint = QrsEndpoint(
        site=SITE,
        host="qrs.invalid",  # RFC 2606: never resolves
        client_cert=certs[0].client_cert,
        client_key=certs[0].client_key,
        root_ca=certs[0].root_ca,
    )
    _assert_error(_failure(endpoint), QrsConnectionError, "connection_failed", transient=True)


def test_errors_survive_pickling(site: Site, certs: tuple[QlikCerts, MisfitCerts]) -> None:
    # Celery moves exceptions between processes by pickling them.
    site.fault = "503"
    error = _failure(endpoint_for(site, certs[0]))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is QrsServerError
    assert (copy.site, copy.kind, copy.transient, copy.status, str(copy)) == (
        error.site,
        error.kind,
        error.transient,
        error.status,
        str(error),
    )
