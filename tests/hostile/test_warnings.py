"""`licmon config validate` warns (exit 0, on stderr) about settings that are valid but
expose the monitor: unverified TLS, the QRS over plain HTTP, InfluxDB credentials in clear.

Before: all of these validated silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.hostile.support import dump, licmon, site_document


def warnings_of(
    tmp_path: Path, document: dict[str, Any], env: dict[str, str] | None = None
) -> list[str]:
    path = str(dump(tmp_path, document))
    run = licmon("config", "validate", "--config", path, env=env).bounded()
    assert run.code == 0, run.err
    assert run.out == "OK\n"
    return [line for line in run.err.splitlines() if line.startswith("warning: ")]


def test_a_safe_config_has_no_warning(tmp_path: Path, certs: Path) -> None:
    assert warnings_of(tmp_path, site_document(certs)) == []


def test_unverified_qrs(tmp_path: Path, certs: Path) -> None:
    (warning,) = warnings_of(tmp_path, site_document(certs, rejectUnauthorized=False))
    assert warning.startswith("warning: licmon.sites[0].rejectUnauthorized is false: the QRS")


def test_butler_site_unverified(tmp_path: Path, certs: Path) -> None:
    document = site_document(certs)
    del document["licmon"]
    document["Butler"] |= {
        "configQRS": {"host": "sense", "rejectUnauthorized": False},
        "cert": {
            "clientCert": str(certs / "client.pem"),
            "clientCertKey": str(certs / "client_key.pem"),
        },
    }
    (warning,) = warnings_of(tmp_path, document)
    assert "Butler.configQRS.rejectUnauthorized is false" in warning


def test_qrs_over_plain_http(tmp_path: Path, certs: Path) -> None:
    (warning,) = warnings_of(tmp_path, site_document(certs, useSSL=False))
    assert "licmon.sites[0].useSSL is false" in warning
    assert "X-Qlik-User" in warning and "in clear" in warning


def test_unverified_webhook(tmp_path: Path, certs: Path) -> None:
    document = site_document(certs)
    document["Butler"]["qlikSenseLicense"]["serverLicenseMonitor"]["destination"] = {
        "webhook": {"enable": True}
    }
    document["Butler"]["webhookNotification"] = {
        "enable": True,
        "qlikSenseServerLicenseExpiryAlert": {
            "webhooks": [
                {"webhookURL": "https://hooks.example.com/a"},
                {
                    "webhookURL": "https://hooks.example.com/b",
                    "cert": {"enable": True, "rejectUnauthorized": False},
                },
            ]
        },
    }
    (warning,) = warnings_of(tmp_path, document)
    assert "qlikSenseServerLicenseExpiryAlert.webhooks[1].cert.rejectUnauthorized is false" in (
        warning
    )


@pytest.mark.parametrize(
    ("version", "section", "word"),
    [
        (
            1,
            {"v1Config": {"auth": {"enable": True, "username": "u", "password": "p-1"}}},
            "password",
        ),
        (2, {"v2Config": {"org": "o", "bucket": "b", "token": "t-2"}}, "token"),
        (3, {"v3Config": {"database": "d", "token": "t-3"}}, "token"),
    ],
)
def test_influxdb_credentials_over_plain_http(
    tmp_path: Path, certs: Path, version: int, section: dict[str, Any], word: str
) -> None:
    document = site_document(certs)
    document["Butler"]["qlikSenseLicense"]["serverLicenseMonitor"]["destination"] = {
        "influxDb": {"enable": True}
    }
    document["Butler"]["influxDb"] = {
        "enable": True,
        "hostIP": "influx.example.com",
        "version": version,
    } | section
    (warning,) = warnings_of(tmp_path, document)
    assert f"InfluxDB {version}.x at http://influx.example.com:8086 is plain HTTP" in warning
    assert f"its {word} goes in clear" in warning
    assert "p-1" not in warning and "t-2" not in warning and "t-3" not in warning


def test_influxdb_without_credentials_is_not_warned_about(tmp_path: Path, certs: Path) -> None:
    document = site_document(certs)
    document["Butler"]["qlikSenseLicense"]["serverLicenseMonitor"]["destination"] = {
        "influxDb": {"enable": True}
    }
    document["Butler"]["influxDb"] = {"enable": True, "hostIP": "influx.example.com"}
    assert warnings_of(tmp_path, document) == []


def test_influxdb_plain_http_expected_on_a_listed_host(tmp_path: Path, certs: Path) -> None:
    # docker-compose.yml lists its own `influxdb` service: plain HTTP on the compose network
    # is expected there; any other host is still warned about.
    document = site_document(certs)
    document["Butler"]["qlikSenseLicense"]["serverLicenseMonitor"]["destination"] = {
        "influxDb": {"enable": True}
    }
    document["Butler"]["influxDb"] = {
        "enable": True,
        "hostIP": "influxdb",
        "version": 2,
        "v2Config": {"org": "o", "bucket": "b", "token": "t-2"},
    }
    listed = {"LICMON_INFLUXDB_PLAIN_HTTP_HOSTS": "InfluxDB, other"}
    assert warnings_of(tmp_path, document, env=listed) == []
    (warning,) = warnings_of(tmp_path, document, env={"LICMON_INFLUXDB_PLAIN_HTTP_HOSTS": "other"})
    assert "InfluxDB 2.x at http://influxdb:8086 is plain HTTP" in warning
