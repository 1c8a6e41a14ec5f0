"""The Qlik Cloud kind's configuration: tenants beside sites, their keys as secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from licmon.checks.qlik_cloud.kind import QLIK_CLOUD
from licmon.config import ConfigError
from licmon.plugins import load_config
from licmon.simulator import ensure_qlik_certs
from worker.beat import beat_schedule

pytestmark = pytest.mark.fast

KEY = "eyJhbGciOiJFUzM4NCJ9.s3cret-cloud-key"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_qlik_certs(tmp_path_factory.mktemp("qlik-certs")).directory


def tenant(**changes: Any) -> dict[str, Any]:
    return {"name": "acme", "url": "https://acme.eu.qlikcloud.com", "apiKey": KEY} | changes


def load(tmp_path: Path, body: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(body))
    return load_config(path, env=env or {})


def problems(tmp_path: Path, body: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body, env)
    report = caught.value.report()
    assert KEY not in report
    return report


def test_a_tenant_is_a_site_of_its_own_checked_daily(tmp_path: Path) -> None:
    config = load(tmp_path, {"licmon": {"cloudTenants": [tenant(zone="eu")]}})
    (site,) = config.sites
    assert (site.name, site.host, site.port, site.zone) == (
        "acme",
        "acme.eu.qlikcloud.com",
        443,
        "eu",
    )
    assert site.checks == (("qlik_cloud", "every 24 hours"),)
    assert list(beat_schedule(config)) == ["qlik cloud check acme"]
    assert KEY not in repr(config)
    assert QLIK_CLOUD.policy(config).levels == (60, 30, 14, 7, 1)


def test_the_key_from_the_environment(tmp_path: Path) -> None:
    body = {"licmon": {"cloudTenants": [tenant(apiKey=None), tenant(name="beta", apiKey=None)]}}
    report = problems(tmp_path, body)
    assert "licmon.cloudTenants[0].apiKey: required (or set LICMON_CLOUD_API_KEY_1)" in report
    env = {"LICMON_CLOUD_API_KEY_1": KEY, "LICMON_CLOUD_API_KEY_2": KEY + "2"}
    first, second = load(tmp_path, body, env).sites
    assert first.settings_of("qlik_cloud").api_key.get_secret_value() == KEY
    assert second.settings_of("qlik_cloud").api_key.get_secret_value() == KEY + "2"
    bad = problems(tmp_path, body, {"LICMON_CLOUD_API_KEY_1": "x\ny"})
    assert "LICMON_CLOUD_API_KEY_1" in bad and "x\ny" not in bad


@pytest.mark.parametrize(
    "url",
    [
        "http://acme.eu.qlikcloud.com",
        "acme.eu.qlikcloud.com",
        "https://user:pw@acme.eu.qlikcloud.com",
        "https://acme.eu.qlikcloud.com/?key=1",
        "https://bad host.com",
    ],
)
def test_only_an_https_url_without_secrets_in_it(tmp_path: Path, url: str) -> None:
    report = problems(tmp_path, {"licmon": {"cloudTenants": [tenant(url=url)]}})
    assert "licmon.cloudTenants[0].url: expected an https:// URL of the tenant" in report
    assert "pw" not in report.split("url:")[1]


def test_names_are_unique_across_sites_and_tenants(tmp_path: Path, certs: Path) -> None:
    cert = {"clientCert": str(certs / "client.pem"), "clientCertKey": str(certs / "client_key.pem")}
    body = {
        "licmon": {
            "sites": [{"name": "acme", "host": "qlik.example.com", "cert": cert}],
            "cloudTenants": [tenant(), tenant(name="beta"), tenant(name="beta")],
        }
    }
    report = problems(tmp_path, body)
    assert "licmon.cloudTenants[0].name: 'acme' is already a site or tenant name" in report
    assert "licmon.cloudTenants[2].name: 'beta' is already a site or tenant name" in report


def test_alert_levels_and_allotment_minimums(tmp_path: Path) -> None:
    body = {
        "licmon": {
            "cloudTenants": [tenant(timeout=10, frequency="every 6 hours")],
            "cloudAlerts": {
                "thresholdsDays": [14, 45],
                "allotments": {
                    "analyzer": {"minAvailable": 5},
                    "professional": {"minAvailablePercent": 10},
                },
            },
        }
    }
    config = load(tmp_path, body)
    chosen = QLIK_CLOUD.policy(config)
    assert chosen.levels == (45, 14)
    assert (chosen.minimums["analyzer"].available, chosen.minimums["professional"].percent) == (
        5,
        10,
    )
    assert config.sites[0].schedule("qlik_cloud") == "every 6 hours"
    assert config.broker.time_limits.soft >= 20  # the tenant's 10 s + 10 s fit in a check
