"""The certificate kind's configuration and views: which sites, endpoints and levels, where
its deliveries go, and what status and the digest make of a stored read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from licmon.checks.certificate.kind import CERTIFICATE, SiteEndpoints
from licmon.checks.certificate.reading import CertificateInfo
from licmon.checks.certificate.status import evaluate
from licmon.checks.certificate.views import digest_rows, recounted
from licmon.plugins import load_config
from licmon.simulator import ensure_qlik_certs
from licmon.state.fleet import SiteState
from worker.beat import beat_schedule

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_qlik_certs(tmp_path_factory.mktemp("qlik-certs")).directory


def document(certs: Path, certificates: Any = None, **licmon: Any) -> dict[str, Any]:
    site: dict[str, Any] = {
        "name": "prod",
        "host": "qlik.example.com",
        "cert": {
            "clientCert": str(certs / "client.pem"),
            "clientCertKey": str(certs / "client_key.pem"),
        },
    }
    if certificates is not None:
        site["certificates"] = certificates
    return {
        "Butler": {
            "qlikSenseLicense": {
                "serverLicenseMonitor": {
                    "destination": {
                        "influxDb": {
                            "enable": True,
                            "tag": {"static": [{"name": "f", "value": "s"}]},
                        },
                        "mqtt": {"enable": True},
                        "webhook": {"enable": True},
                    }
                }
            },
            "influxDb": {"enable": True, "hostIP": "10.0.0.5"},
            "mqttConfig": {
                "enable": True,
                "brokerHost": "mqtt.example.com",
                "qlikSenseServerLicenseTopic": "acme/qs/server_license",
            },
            "webhookNotification": {
                "enable": True,
                "qlikSenseServerLicenseMonitor": {
                    "webhooks": [{"webhookURL": "https://h.example.com/s"}]
                },
                "qlikSenseServerLicenseExpiryAlert": {
                    "webhooks": [{"webhookURL": "https://h.example.com/a"}]
                },
            },
        },
        "licmon": {"sites": [site], **licmon},
    }


def load(tmp_path: Path, body: dict[str, Any]) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(body))
    return load_config(path, env={})


def test_off_by_default_and_on_per_site(tmp_path: Path, certs: Path) -> None:
    config = load(tmp_path, document(certs))
    assert CERTIFICATE.frequency(config.sites[0]) is None
    assert config.settings("mqtt", CERTIFICATE.name) is None  # no site uses it
    config = load(
        tmp_path,
        document(certs, {"enable": True, "endpoints": ["qlik.example.com:443", "[::1]:8443"]}),
    )
    (site,) = config.sites
    assert CERTIFICATE.frequency(site) == "every 24 hours"
    assert "certificate check prod" in beat_schedule(config)
    own: SiteEndpoints = site.settings_of(CERTIFICATE.name)
    assert own.handshakes == (
        ("qlik.example.com:4242", "qlik.example.com", 4242, True),  # the QRS port, as the client
        ("qlik.example.com:443", "qlik.example.com", 443, False),
        ("[::1]:8443", "::1", 8443, False),
    )
    assert own.client_file == (f"client:{certs / 'client.pem'}", certs / "client.pem")
    assert CERTIFICATE.levels(config) == (30, 14, 7, 1)


def test_levels_and_mqtt_of_its_own(tmp_path: Path, certs: Path) -> None:
    body = document(
        certs,
        {"enable": True, "frequency": "every 12 hours"},
        certificateAlerts={"thresholdsDays": [7, 60, 21]},
        certificateMqtt={"topic": "acme/qs/certs", "sendRecurring": {"enable": False}},
    )
    config = load(tmp_path, body)
    assert CERTIFICATE.frequency(config.sites[0]) == "every 12 hours"
    assert CERTIFICATE.levels(config) == (60, 21, 7)
    mqtt = config.settings("mqtt", CERTIFICATE.name)
    assert (mqtt.status_topic, mqtt.send_recurring, mqtt.send_alert) == (
        "acme/qs/certs",
        False,
        True,
    )


def test_destinations_follow_the_server_licenses_switches(tmp_path: Path, certs: Path) -> None:
    config = load(tmp_path, document(certs, {"enable": True}))
    mqtt = config.settings("mqtt", CERTIFICATE.name)
    assert mqtt.status_topic == "acme/qs/qliksense_certificate"  # the server topic's sibling
    assert config.settings("influxdb", CERTIFICATE.name).tags == (("f", "s"),)
    # Alert webhooks only: status receivers expect Butler's server license parameters.
    hooks = config.settings("webhook", CERTIFICATE.name)
    assert [hook.key for hook in hooks] == ["alert-1"]


def test_status_and_digest_count_days_when_read(tmp_path: Path, certs: Path) -> None:
    config = load(tmp_path, document(certs, {"enable": True}))
    checked = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    info = CertificateInfo("proxy", "CA", checked + dt.timedelta(days=20), "01", "aa")
    status = evaluate("prod", [("qlik.example.com:443", [info])], checked, (30, 14, 7, 1))
    later = checked + dt.timedelta(days=8)
    (seen,) = recounted(status, later)
    assert (seen["daysUntilExpiry"], seen["expired"]) == (12, False)
    state = SiteState(status.to_json(), "prod@1", checked, checked, 0, None, None, status.to_json())
    (row,) = digest_rows(config, {"prod": state}, 14, later.date())
    assert (
        row.text == "prod certificate proxy (qlik.example.com:443): 12 days left, until 2026-12-21"
    )
    assert digest_rows(config, {"prod": state}, 7, later.date()) == []
    (gone,) = digest_rows(config, {"prod": state}, 14, (checked + dt.timedelta(days=21)).date())
    assert gone.text == "prod certificate proxy (qlik.example.com:443): expired on 2026-12-21"


def test_an_ipv6_site_is_written_in_brackets_and_listed_once(tmp_path: Path, certs: Path) -> None:
    body = document(certs, {"enable": True, "endpoints": ["[::1]:4242", "[::1]:443"]})
    body["licmon"]["sites"][0]["host"] = "::1"
    own = load(tmp_path, body).sites[0].settings_of(CERTIFICATE.name)
    assert [label for label, *_ in own.handshakes] == ["[::1]:4242", "[::1]:443"]
