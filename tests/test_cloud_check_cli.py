"""`licmon check --kind qlik_cloud` against simulated tenants over real HTTPS."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from licmon.cli.main import main
from licmon.simulator import (
    CloudAllotment,
    CloudTenants,
    CloudTenantSpec,
    SimulatedCloudLicense,
    run_cloud_tenants,
)
from tests.services import free_port


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudTenants]:
    allotments = [CloudAllotment("analyzer", 50, 45), CloudAllotment("professional", 10, 2)]
    specs = [
        CloudTenantSpec(
            "acme", license=SimulatedCloudLicense(ends_in_days=20, allotments=allotments)
        ),
        CloudTenantSpec("far", license=SimulatedCloudLicense(ends_in_days=300, trial=True)),
    ]
    with run_cloud_tenants(specs, tmp_path_factory.mktemp("cloud")) as running:
        yield running


@pytest.fixture(autouse=True)
def healthy(tenants: CloudTenants) -> None:
    for tenant in tenants.tenants.values():
        tenant.fault = "none"
        tenant.license.status = "Ok"


def entry(tenants: CloudTenants, name: str, **changes: Any) -> dict[str, Any]:
    tenant = tenants.tenants[name]
    return {
        "name": name,
        "url": tenant.url,
        "apiKey": tenant.api_key,
        "caFile": str(tenants.ca_file),
        "timeout": 2,
    } | changes


def run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entries: list[dict[str, Any]], *args: str
) -> tuple[int, Any, str]:
    document = {
        "licmon": {
            "cloudTenants": entries,
            "cloudAlerts": {"allotments": {"analyzer": {"minAvailable": 5}}},
        }
    }
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump(document))
    code = main(["check", "--kind", "qlik_cloud", "--config", str(path), *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in args else out), err


def test_every_tenant_with_its_end_and_allotments(
    tmp_path: Path, tenants: CloudTenants, capsys: pytest.CaptureFixture[str]
) -> None:
    code, found, _ = run(
        tmp_path, capsys, [entry(tenants, "acme"), entry(tenants, "far")], "--json"
    )
    assert code == 1
    acme, far = found
    assert {
        k: acme[k] for k in ("tenant", "status", "daysUntilExpiry", "licenseStatus", "trial", "low")
    } == {
        "tenant": "acme",
        "status": "warning",
        "daysUntilExpiry": 20,
        "licenseStatus": "Ok",
        "trial": False,
        "low": ["analyzer"],
    }
    assert acme["allotments"][0] == {
        "name": "analyzer",
        "units": 50,
        "unitsUsed": 45,
        "available": 5,
    }
    assert acme["expiryDate"] == tenants.tenants["acme"].license.end().date().isoformat()
    assert (far["status"], far["trial"], far["error"]) == ("ok", True, None)
    code, table, _ = run(tmp_path, capsys, [entry(tenants, "acme")])
    assert code == 1
    assert table.splitlines()[0].startswith("CLOUD WARNING - acme 20 days left, ")
    assert table.splitlines()[2].split()[:3] == ["acme", "WARNING", "20"]
    assert "analyzer 5/50 LOW" in table


@pytest.mark.parametrize(("status", "code"), [("Expired", 2), ("Blacklisted", 2)])
def test_a_license_not_ok_is_critical(
    tmp_path: Path,
    tenants: CloudTenants,
    capsys: pytest.CaptureFixture[str],
    status: str,
    code: int,
) -> None:
    tenants.tenants["far"].license.status = status
    found_code, (found,), _ = run(tmp_path, capsys, [entry(tenants, "far")], "--json")
    assert (found_code, found["status"], found["licenseStatus"]) == (code, "expired", status)


def test_a_refused_key_is_named_never_shown(
    tmp_path: Path, tenants: CloudTenants, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "wrong-key-" + "x" * 20
    code, (found,), err = run(tmp_path, capsys, [entry(tenants, "acme", apiKey=wrong)], "--json")
    assert (code, found["status"]) == (3, "unknown")
    assert found["error"].startswith("Qlik Cloud tenant 'acme': HTTP 401: the API key was refused")
    assert wrong not in json.dumps(found) + err


def test_429_is_waited_out_within_the_deadline_and_not_beyond(
    tmp_path: Path, tenants: CloudTenants, capsys: pytest.CaptureFixture[str]
) -> None:
    acme = tenants.tenants["acme"]
    acme.retry_after = 1
    acme.set_fault("429", count=1)
    began = time.monotonic()
    code, (found,), _ = run(tmp_path, capsys, [entry(tenants, "acme")], "--json")
    assert (code, found["status"]) == (1, "warning")
    assert 1 <= time.monotonic() - began < 4
    acme.retry_after = 30  # beyond 2 x 2 s: said at once, not waited for
    acme.set_fault("429", count=1)
    began = time.monotonic()
    code, (found,), _ = run(tmp_path, capsys, [entry(tenants, "acme")], "--json")
    assert code == 3 and "HTTP 429" in found["error"] and "Retry-After 30 s" in found["error"]
    assert time.monotonic() - began < 2


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("malformed", "the license overview is not a JSON object"),
        ("not_object", "the license overview is not a JSON object"),
        ("500", "HTTP 500"),
        ("slow", "within 2 s"),
    ],
)
def test_faults_are_a_failed_check_naming_the_tenant(
    tmp_path: Path, tenants: CloudTenants, capsys: pytest.CaptureFixture[str], fault: str, said: str
) -> None:
    acme = tenants.tenants["acme"]
    acme.slow_seconds = 5
    acme.fault = fault
    code, (found,), _ = run(tmp_path, capsys, [entry(tenants, "acme")], "--json")
    assert (code, found["status"]) == (3, "unknown")
    assert found["error"].startswith("Qlik Cloud tenant 'acme'") and said in found["error"]


def test_a_closed_port_and_an_untrusted_certificate(
    tmp_path: Path, tenants: CloudTenants, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = entry(tenants, "acme", url=f"https://127.0.0.1:{free_port()}")
    code, (found,), _ = run(tmp_path, capsys, [closed], "--json")
    assert code == 3 and "connection refused" in found["error"]
    untrusted = entry(tenants, "acme")
    del untrusted["caFile"]  # the system's CAs do not know the simulator's
    code, (found,), _ = run(tmp_path, capsys, [untrusted], "--json")
    assert code == 3 and "certificate" in found["error"].lower()
