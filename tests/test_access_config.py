"""The access-license kind's configuration: which sites, which schedule, which destinations."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from licmon.checks.access_license import ACCESS_LICENSE, minimums, sibling_topic
from licmon.checks.server_license import SERVER_LICENSE
from licmon.config.errors import ConfigError
from licmon.config.schema import document_model
from licmon.core.access_license import Minimum
from licmon.plugins import PLUGINS, load_config
from licmon.simulator import ensure_qlik_certs
from worker.beat import beat_schedule

pytestmark = pytest.mark.fast

ACCESS = "access_license"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_qlik_certs(tmp_path_factory.mktemp("qlik-certs")).directory


def butler(certs: Path, server: bool = True, access: Any = None) -> dict[str, Any]:
    license_: dict[str, Any] = {"serverLicenseMonitor": {"enable": server}}
    if access is not None:
        license_["licenseMonitor"] = access
    return {
        "Butler": {
            "configQRS": {"host": "sense.example.com"},
            "cert": {
                "clientCert": str(certs / "client.pem"),
                "clientCertKey": str(certs / "client_key.pem"),
                "clientCertCA": str(certs / "root.pem"),
            },
            "qlikSenseLicense": license_,
        }
    }


def with_destinations(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    document["Butler"] |= {
        "influxDb": {
            "enable": True,
            "hostIP": "10.0.0.5",
            "tag": {"static": [{"name": "g", "value": "1"}]},
        },
        "mqttConfig": {
            "enable": True,
            "brokerHost": "mqtt.example.com",
            "qlikSenseServerLicenseTopic": "acme/qs/server_license",
        },
    }
    return document


def load(tmp_path: Path, document: dict[str, Any]) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_config(path, env={})


def problems(tmp_path: Path, document: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, document)
    return [str(problem) for problem in caught.value.problems]


def test_butlers_section_is_read_and_off_by_default(tmp_path: Path, certs: Path) -> None:
    config = load(tmp_path, butler(certs))
    (site,) = config.sites
    assert site.checks == (("server_license", "every 24 hours"),)
    assert ACCESS_LICENSE.frequency(site) is None
    assert list(beat_schedule(config)) == ["license check sense.example.com"]


def test_enabled_every_site_is_checked_every_6_hours_by_default(
    tmp_path: Path, certs: Path
) -> None:
    config = load(tmp_path, butler(certs, access={"enable": True}))
    (site,) = config.sites
    assert ACCESS_LICENSE.frequency(site) == "every 6 hours"
    entries = beat_schedule(config)
    assert {name: entry["kwargs"] for name, entry in entries.items()} == {
        "license check sense.example.com": {"site": "sense.example.com", "kind": "server_license"},
        "access license check sense.example.com": {"site": "sense.example.com", "kind": ACCESS},
    }
    assert entries["access license check sense.example.com"]["schedule"].text == "every 6 hours"


def test_access_alone_still_reads_butlers_site(tmp_path: Path, certs: Path) -> None:
    config = load(
        tmp_path, butler(certs, server=False, access={"enable": True, "frequency": "every 2 hours"})
    )
    (site,) = config.sites
    assert site.checks == ((ACCESS, "every 2 hours"),)
    assert SERVER_LICENSE.frequency(site) is None
    assert list(beat_schedule(config)) == ["access license check sense.example.com"]


def test_a_site_may_opt_out_or_have_its_own_schedule(tmp_path: Path, certs: Path) -> None:
    def entry(name: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "host": f"{name}.example.com",
            "cert": {
                "clientCert": str(certs / "client.pem"),
                "clientCertKey": str(certs / "client_key.pem"),
            },
            **extra,
        }

    document = butler(certs, access={"enable": True, "frequency": "every 12 hours"})
    document["licmon"] = {
        "sites": [
            entry("a"),
            entry("b", accessLicense={"enable": False}),
            entry("c", accessLicense={"frequency": "every 1 hour"}),
        ]
    }
    config = load(tmp_path, document)
    assert [ACCESS_LICENSE.frequency(site) for site in config.sites] == [
        "every 12 hours",
        None,
        "every 1 hour",
    ]
    assert sorted(beat_schedule(config)) == [
        "access license check a",
        "access license check c",
        "license check a",
        "license check b",
        "license check c",
    ]
    document["licmon"]["sites"][0]["accessLicense"] = {"frequncy": "every 1 hour"}
    document["licmon"]["sites"][1]["accessLicense"] = {"frequency": "every blue moon"}
    found = problems(tmp_path, document)
    assert found[0].startswith("licmon.sites[1].accessLicense.frequency: ")
    assert (
        found[1] == "licmon.sites[0].accessLicense.frequncy: unknown key; did you mean 'frequency'?"
    )


def test_a_listed_site_may_leave_out_the_server_license(tmp_path: Path, certs: Path) -> None:
    cert = {"clientCert": str(certs / "client.pem"), "clientCertKey": str(certs / "client_key.pem")}
    document = butler(certs, server=False, access={"enable": True})
    document["licmon"] = {
        "sites": [
            {"name": name, "host": f"{name}.example.com", "cert": cert, **extra}
            for name, extra in {
                "both": {},
                "seats": {"serverLicense": {"enable": False}},
                "own": {"frequency": "every 2 hours", "serverLicense": {"frequency": "at 6:00"}},
            }.items()
        ]
    }
    config = load(tmp_path, document)
    assert [SERVER_LICENSE.frequency(site) for site in config.sites] == [
        "every 24 hours",
        None,
        "at 6:00",
    ]
    assert sorted(beat_schedule(config)) == [
        "access license check both",
        "access license check own",
        "access license check seats",
        "license check both",
        "license check own",
    ]
    document["licmon"]["sites"][1]["serverLicense"] = {"enabled": False}
    assert problems(tmp_path, document) == [
        "licmon.sites[1].serverLicense.enabled: unknown key; did you mean 'enable'?"
    ]


def test_influxdb_follows_butlers_licensemonitor_switch_and_tags(
    tmp_path: Path, certs: Path
) -> None:
    document = with_destinations(butler(certs, access={"enable": True}))
    server = document["Butler"]["qlikSenseLicense"]["serverLicenseMonitor"]
    server["destination"] = {
        "influxDb": {"enable": True, "tag": {"static": [{"name": "f", "value": "server"}]}}
    }
    config = load(tmp_path, document)
    assert config.settings("influxdb") is not None
    assert config.settings("influxdb", ACCESS) is None  # licenseMonitor's influxDb is off
    document["Butler"]["qlikSenseLicense"]["licenseMonitor"]["destination"] = {
        "influxDb": {
            "enable": True,
            "tag": {"static": [{"name": "f", "value": "access"}, {"name": "g", "value": "2"}]},
        }
    }
    config = load(tmp_path, document)
    assert config.settings("influxdb").tags == (("g", "1"), ("f", "server"))
    assert config.settings("influxdb", ACCESS).tags == (("g", "2"), ("f", "access"))
    # Off for the server license, on for the access licenses: each its own switch.
    server["destination"]["influxDb"]["enable"] = False
    config = load(tmp_path, document)
    assert config.settings("influxdb") is None
    assert config.settings("influxdb", ACCESS).database == "butler"


def test_mqtt_follows_the_server_licenses_switches_unless_set(tmp_path: Path, certs: Path) -> None:
    document = with_destinations(butler(certs, access={"enable": True}))
    server = document["Butler"]["qlikSenseLicense"]["serverLicenseMonitor"]
    # Off for the server license: off for the access licenses too.
    config = load(tmp_path, document)
    assert config.settings("mqtt") is None and config.settings("mqtt", ACCESS) is None
    server["destination"] = {"mqtt": {"enable": True, "sendAlert": {"enable": False}}}
    config = load(tmp_path, document)
    mqtt = config.settings("mqtt", ACCESS)
    assert (mqtt.status_topic, mqtt.alert_topic) == (
        "acme/qs/qliksense_access_license",
        "qliksense/qliksense_server_license_expire",
    )
    assert (mqtt.send_recurring, mqtt.send_alert) == (True, False)
    assert config.settings("mqtt").status_topic == "acme/qs/server_license"
    document["licmon"] = {
        "accessLicense": {"mqtt": {"sendAlert": {"enable": True}, "topic": "x/access"}}
    }
    mqtt = load(tmp_path, document).settings("mqtt", ACCESS)
    assert (mqtt.status_topic, mqtt.send_recurring, mqtt.send_alert) == ("x/access", True, True)
    document["licmon"] = {"accessLicense": {"mqtt": {"enable": False}}}
    config = load(tmp_path, document)
    assert config.settings("mqtt", ACCESS) is None and config.settings("mqtt") is not None


def test_sibling_topic() -> None:
    assert (
        sibling_topic("qliksense/qliksense_server_license") == "qliksense/qliksense_access_license"
    )
    assert sibling_topic("a/b/c/") == "a/b/qliksense_access_license"
    assert sibling_topic("flat") == "qliksense_access_license"


def test_webhooks_get_alerts_only(tmp_path: Path, certs: Path) -> None:
    document = butler(certs, access={"enable": True})
    document["Butler"]["qlikSenseLicense"]["serverLicenseMonitor"]["destination"] = {
        "webhook": {"enable": True}
    }
    hook = {"webhooks": [{"webhookURL": "https://hooks.example.com/x"}]}
    document["Butler"]["webhookNotification"] = {
        "enable": True,
        "qlikSenseServerLicenseMonitor": hook,
        "qlikSenseServerLicenseExpiryAlert": hook,
    }
    config = load(tmp_path, document)
    assert [t.key for t in config.settings("webhook")] == ["status-1", "alert-1"]
    assert [t.key for t in config.settings("webhook", ACCESS)] == ["alert-1"]


def test_a_disabled_access_monitor_reads_none_of_its_switches(tmp_path: Path, certs: Path) -> None:
    # Butler ignores a disabled monitor's destination; so do we (no hostIP problem here).
    document = butler(
        certs, access={"enable": False, "destination": {"influxDb": {"enable": True}}}
    )
    document["Butler"]["influxDb"] = {"enable": True}
    config = load(tmp_path, document)
    assert config.settings("influxdb", ACCESS) is None
    document["Butler"]["qlikSenseLicense"]["licenseMonitor"]["enable"] = True
    assert problems(tmp_path, document) == [
        "Butler.influxDb.hostIP: required when InfluxDB is enabled"
    ]


def test_access_alerts_are_read_and_checked(tmp_path: Path, certs: Path) -> None:
    document = butler(certs, access={"enable": True})
    document["licmon"] = {
        "accessAlerts": {
            "professional": {"minAvailable": 5, "minAvailablePercent": 10, "forecastDays": 30},
            "tokens_available": {"minAvailablePercent": "2.5"},
        }
    }
    config = load(tmp_path, document)
    assert config.sites
    model = document_model(PLUGINS).model_validate(document)
    assert minimums(model) == {
        "professional": Minimum(5, 10.0, 30),
        "tokens_available": Minimum(None, 2.5, None),
    }
    document["licmon"]["accessAlerts"] = {
        "professional": {"minAvailablePercent": 101},
        "analyzer": {"minAvailable": -1},
        "token_login": {"minAvailable": 1},
    }
    assert problems(tmp_path, document) == [
        "licmon.accessAlerts.professional.minAvailablePercent: expected a percentage >= 0 and "
        "<= 100, got 101",
        "licmon.accessAlerts.analyzer.minAvailable: expected a whole number >= 0 and "
        "<= 1000000000, got -1",
        "licmon.accessAlerts.token_login: unknown key; known keys here: analyzer, professional, "
        "tokens_available",
    ]
