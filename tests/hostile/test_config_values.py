"""Values that used to pass `config validate` and then fail, or crash `licmon check` (exit 1,
which Nagios reads as WARNING): every number finite and bounded, every host and header in
its syntax, refused at load time with the key path.

Before: `timeouts.qrsRead: .nan`, `.inf` or `1e999` passed and `check` exited 1 with a
traceback; a 300-character host or a 64-character label and a non-Latin-1 header value
did the same; `rateLimit: 99999999999999999999` passed (Redis refused it later); `host: ""`
passed; `host: "localhost/qrs/x?y="` connected to port 443.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.hostile.support import (
    EXIT_CHECK,
    EXIT_CONFIG_VALIDATE,
    both,
    dump,
    licmon,
    site_document,
)

SECONDS = "expected a number of seconds > 0 and <= 120"


def refused(path: Path, *phrases: str, case: str = "") -> None:
    validate, check = both(path, case=case)
    validate.refused(EXIT_CONFIG_VALIDATE, *phrases)
    check.refused(EXIT_CHECK, *phrases)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e999", "'nan'", "'1e999'", "121"])
def test_timeouts_must_be_finite_and_bounded(tmp_path: Path, certs: Path, value: str) -> None:
    document = site_document(certs)
    text = dump(tmp_path, document).read_text()
    path = tmp_path / "licmon.yaml"
    path.write_text(text + f"  timeouts:\n    qrsRead: {value}\n    webhook: {value}\n")
    refused(
        path,
        f"licmon.timeouts.qrsRead: {SECONDS}",
        f"licmon.timeouts.webhook: {SECONDS}",
        case=f"timeouts {value}",
    )


BOUNDS: list[tuple[tuple[str, ...], Any, str]] = [
    (
        ("Butler", "webhookNotification", "qlikSenseServerLicenseMonitor", "rateLimit"),
        99999999999999999999,
        "expected a whole number >= 0 and <= 2592000",
    ),
    (
        ("Butler", "qlikSenseLicense", "serverLicenseMonitor", "alert", "thresholdDays"),
        100_000,
        "expected a whole number >= 0 and <= 3650",
    ),
    (("licmon", "sites", 0, "thresholdDays"), 3651, "expected a whole number >= 0 and <= 3650"),
    (("licmon", "sites", 0, "port"), 70_000, "expected a whole number >= 1 and <= 65535"),
    (("Butler", "influxDb", "hostPort"), 0, "expected a whole number >= 1 and <= 65535"),
    (
        ("Butler", "influxDb", "v3Config", "writeTimeout"),
        10**12,
        "expected a whole number >= 0 and <= 120000",
    ),
    (("licmon", "retries", "retries"), 1000, "expected a whole number >= 0 and <= 20"),
    (("licmon", "retries", "quickAttempts"), 99, "expected a whole number >= 1 and <= 10"),
    (
        ("licmon", "retries", "backoffMaxSeconds"),
        ".inf",
        "expected a number of seconds > 0 and <= 1800",
    ),
    (
        ("licmon", "retries", "quickWindowSeconds"),
        ".nan",
        "expected a number of seconds > 0 and <= 30",
    ),
    (("licmon", "mqtt", "keepalive"), 10**6, "expected a whole number >= 1 and <= 65535"),
    (("licmon", "mqtt", "qos"), 3, "expected a whole number >= 0 and <= 2"),
    (("Butler", "mqttConfig", "brokerPort"), "1" * 40, "expected a whole number >= 1 and <= 65535"),
]


def put(document: dict[str, Any], keys: tuple[Any, ...], value: Any) -> None:
    node: Any = document
    for key in keys[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
    node[keys[-1]] = value


@pytest.mark.parametrize(("keys", "value", "expected"), BOUNDS, ids=[b[0][-1] for b in BOUNDS])
def test_every_number_has_an_upper_bound(
    tmp_path: Path, certs: Path, keys: tuple[Any, ...], value: Any, expected: str
) -> None:
    document = site_document(certs)
    put(document, keys, value)
    text = dump(tmp_path, document).read_text()
    if value in (".inf", ".nan"):  # YAML's own spelling, not a string
        text = text.replace(f"'{value}'", value)
        (tmp_path / "licmon.yaml").write_text(text)
    path = ".".join(f"[{k}]" if isinstance(k, int) else k for k in keys).replace(".[", "[")
    refused(tmp_path / "licmon.yaml", f"{path}: {expected}", case=f"{keys[-1]} {value}")


HOSTS = {
    "empty": "",
    "path and query": "localhost/qrs/x?y=",
    "scheme": "https://sense.example.com",
    "port": "sense.example.com:4242",
    "300 characters": "a" * 300,
    "64-character label": "a" * 64 + ".example.com",
    "space": "sense example",
    "non-ASCII": "sense.exämple.com",
}


@pytest.mark.parametrize("host", list(HOSTS.values()), ids=list(HOSTS))
def test_hosts_must_be_host_names(tmp_path: Path, certs: Path, host: str) -> None:
    path = dump(tmp_path, site_document(certs, host=host))
    refused(path, "licmon.sites[0].host: expected a host name or IP address", case="host")


@pytest.mark.parametrize("host", ["a" * 300, "localhost/qrs/x?y=", "-bad-.example.com"])
def test_butler_hosts_are_checked_when_they_are_used(
    tmp_path: Path, certs: Path, host: str
) -> None:
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
    refused(
        dump(tmp_path, document),
        "Butler.configQRS.host: expected a host name",
        "Butler.influxDb.hostIP: expected a host name",
        "Butler.mqttConfig.brokerHost: expected a host name",
    )


def test_butler_placeholders_in_unused_sections_still_load(tmp_path: Path, certs: Path) -> None:
    # Butler's template has `<IP or FQDN>` placeholders for features a site does not use.
    document = site_document(certs)
    document["Butler"] |= {
        "influxDb": {"enable": False, "hostIP": "<IP or FQDN of InfluxDB>"},
        "mqttConfig": {"enable": False, "brokerHost": "<IP of MQTT broker>"},
    }
    run = licmon("config", "validate", "--config", str(dump(tmp_path, document))).bounded()
    assert run.code == 0, run.err


@pytest.mark.parametrize(
    "host", ["sense.example.com", "sense-01", "qlik_server.corp.local", "10.0.0.7", "::1", "[::1]"]
)
def test_real_hosts_are_accepted(tmp_path: Path, certs: Path, host: str) -> None:
    run = licmon(
        "config", "validate", "--config", str(dump(tmp_path, site_document(certs, host=host)))
    )
    assert run.bounded().code == 0, run.err


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"name": "X-Env", "value": "prodΩ"}, "value: expected a header value of Latin-1"),
        ({"name": "X-Env", "value": "prod\r\nX-Injected: 1"}, "value: expected a header value"),
        ({"name": "X Env", "value": "prod"}, "name: expected an HTTP header name"),
        ({"name": "X-Env:", "value": "prod"}, "name: expected an HTTP header name"),
    ],
    ids=["non-Latin-1", "CRLF injection", "space in name", "colon in name"],
)
def test_headers_are_checked_as_headers(
    tmp_path: Path, certs: Path, header: dict[str, str], expected: str
) -> None:
    path = dump(tmp_path, site_document(certs, headers=[header]))
    refused(path, f"licmon.sites[0].headers[0].{expected}", case="header")


def test_butler_static_headers_are_checked_too(tmp_path: Path, certs: Path) -> None:
    document = site_document(certs)
    del document["licmon"]
    document["Butler"] |= {
        "configQRS": {"host": "sense", "headers": {"static": [{"name": "X-U", "value": "é€"}]}},
        "cert": {
            "clientCert": str(certs / "client.pem"),
            "clientCertKey": str(certs / "client_key.pem"),
        },
    }
    refused(
        dump(tmp_path, document),
        "Butler.configQRS.headers.static[0].value: expected a header value of Latin-1",
    )


def test_latin_1_header_values_are_accepted(tmp_path: Path, certs: Path) -> None:
    header = {"name": "X-Qlik-User", "value": "UserDirectory=Bürö;UserId=sa_repository"}
    run = licmon(
        "config",
        "validate",
        "--config",
        str(dump(tmp_path, site_document(certs, headers=[header]))),
    )
    assert run.bounded().code == 0, run.err


def test_a_long_schedule_text_is_echoed_in_a_window(tmp_path: Path, certs: Path) -> None:
    # later.js's caret message quotes the text: cut around the caret like any echo. (Within
    # the 1000 characters later.js texts may have: past that, a limit error, quoting none.)
    text = "every 5 mins " + "also every 5 mins " * 50 + "bogus"
    document = site_document(certs, frequency=text)
    validate, check = both(dump(tmp_path, document), case="900-character schedule text")
    validate.refused(EXIT_CONFIG_VALIDATE, "licmon.sites[0].frequency: expected a later.js")
    check.refused(EXIT_CHECK, "parsing stops at position")
    assert len(validate.err) < 1500, validate.err
    assert "…" in validate.err and "mins bogus\n" in validate.err
    assert max(len(line) for line in validate.err.splitlines()) < 400
