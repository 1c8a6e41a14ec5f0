"""Names and numbers the far end refuses, refused at load with the key named instead.

Before (issue 22, items 2, 4 and 6): `Butler.configQRS.host: "::1%a<newline>b"` passed (the
`ipaddress` module takes anything after `%` but `/` and `%`), and the Butler site, named
after its host, carried the text into logs, the `check` table, MQTT topics, webhook headers
and Prometheus series; an MQTT topic with NUL was accepted and then jammed the worker's
connection; an InfluxDB tag key `time` (or ending in `\\`) was accepted and every write
failed; an access answer integer above 1.8e308 raised OverflowError (an internal error,
losing every site's result of a multi-site run) instead of the field error; a forecast
reading "nan" gave `exhausts_in_days 0`.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.support import EXIT_CONFIG_VALIDATE, dump, licmon, site_document

ZONE_EXPECTED = "an IPv6 zone id after '%' is an interface name"
TOPIC_EXPECTED = "expected an MQTT topic: 1 to 65535 bytes of UTF-8"


def _butler(certs: Path, host: str) -> dict[str, Any]:
    document = site_document(certs)
    del document["licmon"]
    document["Butler"] |= {
        "configQRS": {"host": host},
        "cert": {
            "clientCert": str(certs / "client.pem"),
            "clientCertKey": str(certs / "client_key.pem"),
        },
        "influxDb": {"enable": True, "hostIP": host},
        "mqttConfig": {"enable": True, "brokerHost": host},
    }
    document["Butler"]["qlikSenseLicense"]["serverLicenseMonitor"]["destination"] = {
        "influxDb": {"enable": True},
        "mqtt": {"enable": True},
    }
    return document


@pytest.mark.parametrize(
    "zone",
    ["a\nb", "a\x1b[31mred", "a#b", "a|b", "a b", "a" * 16, ""],
    ids=["newline", "escape", "hash", "pipe", "space", "16 characters", "empty"],
)
def test_an_ipv6_zone_id_is_an_interface_name(tmp_path: Path, certs: Path, zone: str) -> None:
    host = f"::1%{zone}"
    validate = licmon("config", "validate", "--config", str(dump(tmp_path, _butler(certs, host))))
    validate.refused(
        EXIT_CONFIG_VALIDATE,
        f"Butler.configQRS.host: expected a host name or IP address, without scheme, port or "
        f"path (labels of letters, digits and '-', each at most 63 characters, at most 253 in "
        f"all); {ZONE_EXPECTED}",
        "Butler.influxDb.hostIP: expected a host name",
        "Butler.mqttConfig.brokerHost: expected a host name",
    )
    assert "\x1b" not in validate.output
    sites = dump(tmp_path, site_document(certs, host=host), "sites.yaml")
    licmon("config", "validate", "--config", str(sites)).refused(
        EXIT_CONFIG_VALIDATE, "licmon.sites[0].host: expected a host name", ZONE_EXPECTED
    )


def test_an_interface_zone_id_is_accepted_and_named_as_in_a_url(
    tmp_path: Path, certs: Path
) -> None:
    from licmon.config.fields import check_host, host_site_name

    assert check_host("fe80::1%eth0") is None and check_host("[fe80::1%12]") is None
    assert check_host("10.0.0.1%eth0") is not None  # IPv4 has no zone
    # The Butler site is named after its host: the zone's `%` written as in a URL.
    assert host_site_name("fe80::1%eth0") == "fe80::1%25eth0"
    document = _butler(certs, "fe80::1%eth0")
    document["Butler"]["mqttConfig"]["enable"] = False
    document["Butler"]["influxDb"]["enable"] = False
    run = licmon("config", "validate", "--config", str(dump(tmp_path, document))).bounded()
    assert run.code == 0, run.err


TOPICS = {
    "NUL": "qliksense/a\x00b",
    "plus": "qliksense/+/license",
    "hash": "qliksense/#",
    "newline": "qliksense/a\nb",
    "65536 bytes": "é" * 32768,
    "empty": "",
}
TOPIC_KEYS = [
    (("Butler", "mqttConfig", "qlikSenseServerLicenseTopic"), "Butler.mqttConfig"),
    (("Butler", "mqttConfig", "qlikSenseServerLicenseExpireTopic"), "Butler.mqttConfig"),
    (("licmon", "accessLicense", "mqtt", "topic"), "licmon.accessLicense.mqtt"),
    (("licmon", "certificateMqtt", "topic"), "licmon.certificateMqtt"),
]


def _put(document: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    node = document
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


@pytest.mark.parametrize("topic", list(TOPICS.values()), ids=list(TOPICS))
def test_mqtt_topics_are_what_mqtt_allows(tmp_path: Path, certs: Path, topic: str) -> None:
    document = site_document(certs)
    for keys, _ in TOPIC_KEYS:
        _put(document, keys, topic)
    # The topics are checked whether or not MQTT is on: a file is valid or it is not. JSON is
    # YAML, and writes NUL as the escape a YAML file would hold ("\u0000").
    path = tmp_path / "licmon.yaml"
    path.write_text(json.dumps(document))
    run = licmon("config", "validate", "--config", str(path))
    run.refused(
        EXIT_CONFIG_VALIDATE,
        *(f"{'.'.join(keys)}: {TOPIC_EXPECTED}" for keys, _ in TOPIC_KEYS),
    )
    assert "\x00" not in run.output


def test_a_valid_topic_with_spaces_and_unicode_is_accepted(tmp_path: Path, certs: Path) -> None:
    document = site_document(certs)
    _put(document, ("Butler", "mqttConfig", "qlikSenseServerLicenseTopic"), "qlik sense/läget")
    run = licmon("config", "validate", "--config", str(dump(tmp_path, document))).bounded()
    assert run.code == 0, run.err


@pytest.mark.parametrize("key", ["time", "_measurement", "_field", "env\\", "a\nb", ""], ids=repr)
def test_influxdb_tag_keys_influxdb_refuses(tmp_path: Path, certs: Path, key: str) -> None:
    document = site_document(certs, tags=[{"name": key, "value": "x"}])
    document["Butler"]["influxDb"] = {"tag": {"static": [{"name": key, "value": "x"}]}}
    licmon("config", "validate", "--config", str(dump(tmp_path, document))).refused(
        EXIT_CONFIG_VALIDATE,
        "licmon.sites[0].tags[0].name: expected an InfluxDB tag key",
        "Butler.influxDb.tag.static[0].name: expected an InfluxDB tag key",
    )


@pytest.mark.parametrize("value", [10**400, -(10**309), 10**13, 1e300], ids=str)
def test_an_access_count_beyond_its_range_is_a_field_error(value: float) -> None:
    from licmon.core.access_license import _OBJECTS, evaluate_access

    answer: dict[str, Any] = {name: {"enabled": False} for name, _, _ in _OBJECTS}
    answer |= {"tokensEnabled": True, "availableTokens": value, "totalTokens": 100}
    status = evaluate_access("prod", answer, datetime(2026, 12, 7, tzinfo=UTC))
    assert status.error is not None
    assert status.error.startswith(
        "QRS access field 'availableTokens' should be a number between -1e+12 and 1e+12"
    ), status.error
    assert len(status.error) < 200


def test_a_nan_reading_does_not_forecast_zero_days() -> None:
    from licmon.core.forecast import exhausts_in_days

    days = [date(2026, 12, day) for day in range(1, 6)]
    flat = [(day, 100.0) for day in days]
    assert exhausts_in_days([*flat, (date(2026, 12, 6), float("nan"))]) is None
    falling = [(day, 100.0 - 10 * index) for index, day in enumerate(days)]
    assert exhausts_in_days([*falling, (date(2026, 12, 6), float("nan"))]) == 6.0
