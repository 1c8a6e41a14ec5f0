"""The simulated Qlik Cloud tenant on its own: license documents, the bearer key, faults,
counters. Real HTTPS requests on 127.0.0.1, verified against the tenant's CA file."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509

from licmon.simulator import (
    CLOUD_FAULTS,
    CloudAllotment,
    CloudCerts,
    CloudRequest,
    CloudTenant,
    CloudTenants,
    CloudTenantSpec,
    SimulatedCloudLicense,
    ensure_cloud_certs,
    run_cloud_tenants,
)

OVERVIEW = "/api/v1/licenses/overview"
STATUS = "/api/v1/licenses/status"
NOW = dt.datetime(2026, 12, 7, 15, 30, 5, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def cloud_certs(tmp_path_factory: pytest.TempPathFactory) -> CloudCerts:
    return ensure_cloud_certs(tmp_path_factory.mktemp("cloud-certs"))


@pytest.fixture(scope="module")
def running(cloud_certs: CloudCerts) -> Iterator[CloudTenants]:
    specs = [CloudTenantSpec("acme"), CloudTenantSpec("globex", retry_after=7)]
    with run_cloud_tenants(specs, cloud_certs) as tenants:
        yield tenants


@pytest.fixture
def tenant(running: CloudTenants) -> Iterator[CloudTenant]:
    tenant = running.tenants["acme"]
    key = tenant.api_key
    yield tenant
    tenant.license = SimulatedCloudLicense()
    tenant.fault = "none"
    tenant.api_key = key
    tenant.slow_seconds = 2.0
    tenant.reset_counters()


def get(
    tenant: CloudTenant, path: str, key: str | None = "right", **kwargs: Any
) -> requests.Response:
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {tenant.api_key if key == 'right' else key}"
    kwargs.setdefault("timeout", 5)
    return requests.get(tenant.url + path, headers=headers, verify=str(tenant.ca_file), **kwargs)


def days_to(valid: str, today: dt.date) -> int | None:
    _, _, end = valid.partition("/")
    if not end:
        return None
    return (dt.datetime.fromisoformat(end).date() - today).days


# --- the documents, without a server ----------------------------------------------------------


def test_overview_has_the_documented_shape() -> None:
    document = SimulatedCloudLicense().overview(NOW)
    assert set(document) == {
        *("licenseNumber", "licenseKey", "product", "status", "trial", "valid"),
        *("latestValidTime", "changeTime", "updated", "origin", "secondaryNumber"),
        *("version", "parameters", "allotments"),
    }
    assert document["licenseNumber"].isdigit()
    assert len(document["licenseKey"]) > 200
    assert (document["product"], document["status"], document["trial"]) == (
        "Qlik Sense Business",
        "Ok",
        False,
    )
    assert document["valid"] == "2026-12-07T00:00:00Z/2027-12-07T00:00:00Z"
    assert document["latestValidTime"] == "2027-12-07T00:00:00Z"
    assert days_to(document["valid"], NOW.date()) == 365
    assert document["allotments"] == [
        {"name": "professional", "units": 10, "unitsUsed": 4, "usageClass": "assigned"},
        {"name": "analyzer", "units": 50, "unitsUsed": 20, "usageClass": "assigned"},
        {"name": "analyzer_time", "units": 1000, "unitsUsed": 100, "usageClass": "time"},
    ]
    for parameter in document["parameters"]:
        assert {"name", "valid"} <= set(parameter)


def test_days_to_the_end_are_utc_calendar_days() -> None:
    for days in (30, 1, 0, -5):
        license_ = SimulatedCloudLicense(ends_in_days=days)
        valid = license_.overview(NOW)["valid"]
        assert days_to(valid, NOW.date()) == days
        start, end = (dt.datetime.fromisoformat(part) for part in valid.split("/"))
        assert end - start == dt.timedelta(days=365)
        assert license_.end(NOW) == end


def test_open_end_is_written_with_a_slash_or_bare() -> None:
    slash = SimulatedCloudLicense(ends_in_days=None).overview(NOW)
    assert slash["valid"] == "2025-12-07T00:00:00Z/"
    assert "latestValidTime" not in slash
    bare = SimulatedCloudLicense(ends_in_days=None, open_end="bare")
    assert bare.overview(NOW)["valid"] == "2025-12-07T00:00:00Z"
    assert bare.status_document(NOW)["valid"] == "2025-12-07T00:00:00Z"
    assert bare.end(NOW) is None


def test_status_document_has_the_documented_shape() -> None:
    license_ = SimulatedCloudLicense(
        ends_in_days=-3, status="Expired", trial=True, product="Qlik Cloud Analytics Standard"
    )
    assert license_.status_document(NOW) == {
        "type": "Signed",
        "status": "Expired",
        "trial": True,
        "valid": "2025-12-04T00:00:00Z/2026-12-04T00:00:00Z",
        "origin": "Internal",
        "product": "Qlik Cloud Analytics Standard",
        "deactivated": False,
        "extensionStatus": "Ok",
    }
    missing = SimulatedCloudLicense(status="Missing").status_document(NOW)
    assert missing["status"] == "Missing" and "valid" not in missing


def test_overage_is_written_only_when_given() -> None:
    license_ = SimulatedCloudLicense(
        allotments=[CloudAllotment("professional", 5, 7, overage=-1), CloudAllotment("x", 1, 0)]
    )
    allotments = license_.overview(NOW)["allotments"]
    assert allotments[0]["overage"] == -1 and allotments[0]["unitsUsed"] == 7
    assert "overage" not in allotments[1]


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="status"):
        SimulatedCloudLicense(status="Fine")
    with pytest.raises(ValueError, match="type"):
        SimulatedCloudLicense(license_type="Jwt")
    with pytest.raises(ValueError, match="digits"):
        SimulatedCloudLicense(license_number="ABC-1")
    with pytest.raises(ValueError, match="fault"):
        CloudTenantSpec("x", fault="teapot")
    with pytest.raises(ValueError, match="fault_count"):
        CloudTenantSpec("x", fault="429", fault_count=-1)


# --- over HTTPS -------------------------------------------------------------------------------


def test_certificate_names_localhost_and_loopback(cloud_certs: CloudCerts) -> None:
    cert = x509.load_pem_x509_certificate(cloud_certs.server.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(cloud_certs.ca_file.read_bytes()))
    again = ensure_cloud_certs(cloud_certs.directory)
    assert again == cloud_certs  # reused, not reissued


def test_tenant_serves_overview_and_status(running: CloudTenants, tenant: CloudTenant) -> None:
    assert tenant.url == f"https://127.0.0.1:{tenant.port}"
    assert running.ca_file == tenant.ca_file
    today = dt.datetime.now(dt.UTC).date()
    tenant.license = SimulatedCloudLicense(ends_in_days=30, trial=True)
    answer = get(tenant, OVERVIEW)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    document = answer.json()
    assert days_to(document["valid"], today) == 30
    assert document["trial"] is True
    assert [a["name"] for a in document["allotments"]] == [
        "professional",
        "analyzer",
        "analyzer_time",
    ]
    status = get(tenant, STATUS).json()
    assert (status["status"], status["type"], days_to(status["valid"], today)) == (
        "Ok",
        "Signed",
        30,
    )

    tenant.license = SimulatedCloudLicense(ends_in_days=None)
    assert get(tenant, OVERVIEW).json()["valid"].endswith("Z/")
    # The name in the certificate works as well as the address.
    by_name = requests.get(
        f"https://localhost:{tenant.port}{STATUS}",
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        verify=str(tenant.ca_file),
        timeout=5,
    )
    assert by_name.status_code == 200


def test_missing_license_is_a_404_overview(tenant: CloudTenant) -> None:
    tenant.license = SimulatedCloudLicense(status="Missing")
    assert get(tenant, STATUS).json()["status"] == "Missing"
    answer = get(tenant, OVERVIEW)
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["code"] == "404"


def test_an_untrusted_client_fails_verification(tenant: CloudTenant) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tenant.url + STATUS, timeout=5)  # the system store, not the tenant's CA


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "{key}"},  # the key without the scheme
        {"Authorization": "Bearer {key}x"},
    ],
)
def test_a_missing_or_wrong_key_is_a_401_that_never_echoes_it(
    tenant: CloudTenant, headers: dict[str, str]
) -> None:
    headers = {name: value.format(key=tenant.api_key) for name, value in headers.items()}
    answer = requests.get(
        tenant.url + OVERVIEW, headers=headers, verify=str(tenant.ca_file), timeout=5
    )
    assert answer.status_code == 401
    assert answer.json() == {"errors": [{"code": "401", "title": "Unauthorized", "status": "401"}]}
    assert tenant.api_key not in answer.text
    assert "wrong-key" not in answer.text
    assert tenant.requests == [CloudRequest("GET", OVERVIEW, False, 401, "none")]


def test_a_wrong_key_is_refused_whatever_the_fault(tenant: CloudTenant) -> None:
    tenant.set_fault("500", 1)
    assert get(tenant, OVERVIEW, key="wrong").status_code == 401
    assert tenant.fault_count == 1  # an unauthorised request does not use up the fault
    assert get(tenant, OVERVIEW).status_code == 500
    assert tenant.fault == "none"


def test_the_key_can_be_rotated(tenant: CloudTenant) -> None:
    old = tenant.api_key
    tenant.api_key = "rotated-key"
    assert get(tenant, STATUS, key=old).status_code == 401
    assert get(tenant, STATUS, key="rotated-key").status_code == 200


def test_keys_are_random_and_not_in_a_spec_repr() -> None:
    first, second = CloudTenantSpec("a"), CloudTenantSpec("a")
    assert first.api_key != second.api_key and len(first.api_key) > 40
    assert first.api_key not in repr(first)


@pytest.mark.parametrize(("fault", "status"), [("401", 401), ("403", 403), ("500", 500)])
def test_error_faults(tenant: CloudTenant, fault: str, status: int) -> None:
    tenant.fault = fault
    for path in (OVERVIEW, STATUS):
        answer = get(tenant, path)
        assert answer.status_code == status
        assert answer.json()["errors"][0]["code"] == str(status)
        assert tenant.api_key not in answer.text
    assert tenant.fault == fault  # without a count, until changed
    assert [r.fault for r in tenant.requests] == [fault, fault]
    assert all(r.authorized for r in tenant.requests)


def test_429_carries_retry_after_and_clears_after_its_count(
    running: CloudTenants, tenant: CloudTenant
) -> None:
    tenant.set_fault("429", 2)
    tenant.retry_after = 3
    first = get(tenant, OVERVIEW)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert tenant.fault_count == 1
    second = get(tenant, OVERVIEW)
    assert second.status_code == 429
    assert (tenant.fault, tenant.fault_count) == ("none", None)
    assert get(tenant, OVERVIEW).status_code == 200
    assert [r.status for r in tenant.requests] == [429, 429, 200]

    tenant.retry_after = 0.5
    tenant.fault = "429"
    assert get(tenant, STATUS).headers["Retry-After"] == "0.5"
    # The spec's retry_after (globex: 7), set at start.
    globex = running.tenants["globex"]
    globex.set_fault("429", 1)
    try:
        assert get(globex, STATUS).headers["Retry-After"] == "7"
        assert get(globex, STATUS).status_code == 200
    finally:
        globex.fault = "none"
        globex.reset_counters()


def test_a_count_of_zero_is_no_fault(tenant: CloudTenant) -> None:
    tenant.set_fault("500", 0)
    assert (tenant.fault, tenant.fault_count) == ("none", None)
    assert get(tenant, STATUS).status_code == 200


def test_fault_count_from_the_spec(cloud_certs: CloudCerts) -> None:
    spec = CloudTenantSpec("once", fault="403", fault_count=1)
    with run_cloud_tenants([spec], cloud_certs) as running:
        tenant = running.tenants["once"]
        assert [get(tenant, STATUS).status_code for _ in range(2)] == [403, 200]


def test_slow_answers_after_slow_seconds(tenant: CloudTenant) -> None:
    tenant.slow_seconds = 0.4
    tenant.fault = "slow"
    started = time.monotonic()
    answer = get(tenant, OVERVIEW)
    assert answer.status_code == 200 and answer.json()["status"] == "Ok"
    assert time.monotonic() - started >= 0.4
    tenant.slow_seconds = 3
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(tenant, OVERVIEW, timeout=0.3)


def test_malformed_is_a_200_that_is_not_json(tenant: CloudTenant) -> None:
    tenant.fault = "malformed"
    answer = get(tenant, OVERVIEW)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.text)


def test_not_object_is_a_200_json_list(tenant: CloudTenant) -> None:
    tenant.fault = "not_object"
    for path in (OVERVIEW, STATUS):
        answer = get(tenant, path)
        assert answer.status_code == 200
        assert isinstance(answer.json(), list)


def test_every_fault_is_covered() -> None:
    assert set(CLOUD_FAULTS) == {
        *("none", "401", "403", "429", "slow", "malformed", "not_object", "500"),
    }


def test_unknown_paths_and_methods(tenant: CloudTenant) -> None:
    for path in ("/api/v1/licenses", "/api/v1/licenses/assignments", "/qrs/license", "/"):
        answer = get(tenant, path)
        assert answer.status_code == 404, path
        assert answer.json()["errors"][0]["code"] == "404"
    assert get(tenant, STATUS + "?x=1").status_code == 200
    assert get(tenant, OVERVIEW + "/").status_code == 200
    post = requests.post(
        tenant.url + OVERVIEW,
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        json={"a": 1},
        verify=str(tenant.ca_file),
        timeout=5,
    )
    assert post.status_code == 405
    assert tenant.requests[-1] == CloudRequest("POST", OVERVIEW, True, 405, "none")


def test_counters_on_one_connection(tenant: CloudTenant) -> None:
    with requests.Session() as session:
        # verify per request: REQUESTS_CA_BUNDLE in the environment overrides Session.verify
        session.headers["Authorization"] = f"Bearer {tenant.api_key}"
        for path in (OVERVIEW, STATUS, "/nowhere"):
            session.get(tenant.url + path + "?secret=q", verify=str(tenant.ca_file), timeout=5)
    assert tenant.request_count == 3
    assert tenant.requests == [
        CloudRequest("GET", OVERVIEW, True, 200, "none"),
        CloudRequest("GET", STATUS, True, 200, "none"),
        CloudRequest("GET", "/nowhere", True, 404, "none"),
    ]
    assert tenant.api_key not in repr(tenant.requests) + repr(tenant)
    tenant.reset_counters()
    assert (tenant.request_count, tenant.requests) == (0, [])


def test_concurrent_requests_are_all_counted(tenant: CloudTenant) -> None:
    tenant.set_fault("429", 5)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: get(tenant, STATUS).status_code, range(20)))
    assert sorted(statuses) == [200] * 15 + [429] * 5
    assert tenant.request_count == 20


def test_tenants_are_independent(running: CloudTenants, tenant: CloudTenant) -> None:
    globex = running.tenants["globex"]
    assert globex.port != tenant.port and globex.api_key != tenant.api_key
    assert get(globex, STATUS, key=tenant.api_key).status_code == 401
    tenant.fault = "500"
    assert get(globex, STATUS).status_code == 200
    globex.reset_counters()


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        run_cloud_tenants([CloudTenantSpec("a"), CloudTenantSpec("a")], tmp_path).__enter__()


def test_close_releases_a_slow_answer(cloud_certs: CloudCerts) -> None:
    spec = CloudTenantSpec("sleepy", fault="slow", slow_seconds=30)
    with ThreadPoolExecutor(1) as pool, run_cloud_tenants([spec], cloud_certs) as running:
        tenant = running.tenants["sleepy"]
        pending = pool.submit(get, tenant, STATUS)
        time.sleep(0.2)
        started = time.monotonic()
        running.close()
        assert time.monotonic() - started < 2
        with pytest.raises(requests.exceptions.ConnectionError):
            pending.result(timeout=5)


# --- command line -----------------------------------------------------------------------------


def test_cli_lists_the_cloud_faults() -> None:
    from licmon.cli import simulator as simulator_cli

    assert set(simulator_cli._CLOUD_FAULTS) == set(CLOUD_FAULTS)


def test_cli_arguments() -> None:
    from licmon.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["qrs-simulator", "--cloud-tenants", "2"])
    assert (args.cloud_tenants, args.cloud_port, args.cloud_ends_in_days) == (2, None, 365)
    assert (
        parser.parse_args(["qrs-simulator", "--cloud-ends-in-days", "open"]).cloud_ends_in_days
        is None
    )
    assert (
        parser.parse_args(["qrs-simulator", "--cloud-ends-in-days", "-3"]).cloud_ends_in_days == -3
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["qrs-simulator", "--cloud-ends-in-days", "soon"])
    with pytest.raises(SystemExit):
        parser.parse_args(["qrs-simulator", "--cloud-fault", "non-object"])


def test_cli_serves_cloud_tenants_after_the_sites(tmp_path: Path) -> None:
    import os
    import re
    import signal
    import subprocess
    import sys

    from tests.qrs_support import closed_port

    port = closed_port()
    command = [
        *(sys.executable, "-m", "licmon.cli.main", "qrs-simulator"),
        *("--cert-dir", str(tmp_path), "--port", str(port), "--sites", "0"),
        *("--cloud-tenants", "1", "--cloud-ends-in-days", "-2", "--cloud-trial"),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
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
        assert "site site1" not in output  # --sites 0: the tenant alone, on --port
        url = f"https://127.0.0.1:{port}"
        assert f"cloud tenant cloud1: {url} (" in output
        assert f"  CA file      {tmp_path / 'cloud_root.pem'}\n" in output
        key = re.search(r"API key +(\S+)", output)
        assert key is not None
        answer = requests.get(
            url + OVERVIEW,
            headers={"Authorization": f"Bearer {key[1]}"},
            verify=str(tmp_path / "cloud_root.pem"),
            timeout=5,
        ).json()
        assert (answer["status"], answer["trial"]) == ("Expired", True)
        assert days_to(answer["valid"], dt.datetime.now(dt.UTC).date()) == -2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
