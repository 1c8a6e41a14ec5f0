"""Config errors never echo a secret, at any depth, and never echo much or anything unprintable.

Before: a webhook URL with a token written as a bare string, `licmon.broker:
"redis://:pw@..."` and `v2Config: [token]` were printed in full; a value of 10 000
characters was printed whole, escape sequences included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from licmon.config.errors import ECHO_LIMIT, Problems
from licmon.config.keys import secret_paths
from licmon.config.schema import document_model
from licmon.plugins import PLUGINS
from tests.hostile.support import EXIT_CHECK, EXIT_CONFIG_VALIDATE, both, dump, site_document

SECRET = "Zs3cr3t-QqW9"


def problems() -> Problems:
    return Problems(secret_paths=secret_paths(document_model(PLUGINS)))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("licmon.broker", f"redis://:{SECRET}@redis:6379/0"),
        ("licmon.broker", SECRET),
        ("licmon.broker.url", {"nested": [SECRET]}),
        ("Butler.influxDb.v2Config", [SECRET]),
        ("Butler.influxDb.v2Config", SECRET),
        ("Butler.influxDb.v3Config.token", 12345),
        ("Butler.influxDb.auth", f"admin:{SECRET}"),
        ("Butler.influxDb.v1Config.auth.password", {"not": SECRET}),
        ("Butler.webhookNotification.qlikSenseServerLicenseMonitor.webhooks", SECRET),
        ("Butler.webhookNotification.qlikSenseServerLicenseMonitor.webhooks[0]", SECRET),
        ("Butler.webhookNotification.qlikSenseServerLicenseMonitor.webhooks[3].webhookURL", 1),
        ("Butler.configQRS.headers.static[0].value", SECRET),
        ("licmon.sites[2].headers[0]", SECRET),
        ("licmon.mqtt", SECRET),
        ("licmon.mqtt.password", [SECRET]),
        ("licmon.broker.resultBackend", SECRET),
    ],
)
def test_nothing_under_a_secret_bearing_key_is_echoed(path: str, value: Any) -> None:
    sink = problems()
    sink.add(path, "expected something else", value)
    (problem,) = sink.problems
    assert SECRET not in str(problem) and "got" not in problem.message


@pytest.mark.parametrize(
    "value",
    [
        f"https://hooks.example.com/x?token={SECRET}",
        f"http://user:{SECRET}@example.com/",
        f"redis://:{SECRET}@127.0.0.1:6379/0",
        f"amqp://guest:{SECRET}@rabbit//",
    ],
)
def test_a_url_with_credentials_or_a_query_is_never_echoed(value: str) -> None:
    sink = problems()
    sink.add("Butler.configQRS.port", "expected a port", value)
    sink.add("Butler.qlikSenseLicense.serverLicenseMonitor", "expected a mapping", {value: 1})
    assert all(SECRET not in str(problem) for problem in sink.problems)


def test_plain_values_are_still_echoed_capped_and_clean() -> None:
    sink = problems()
    sink.add("Butler.configQRS.port", "expected a port", "http")
    sink.add(
        "Butler.webhookNotification.qlikSenseServerLicenseMonitor.webhooks[0].httpMethod",
        "expected GET, POST or PUT",
        "PATCH",
    )
    sink.add("Butler.configQRS.port", "expected a port", "x" * 10_000)
    sink.add("Butler.configQRS.port", "expected a port", "\x1b]0;pwned\x07\x1b[2Jclear\u202e")
    sink.add("Butler.configQRS.port", "expected a port", {"a": 1, "b": 2})
    sink.add("Butler.configQRS.port", "expected a port", [1, 2, 3])
    plain, method, long, escapes, mapping, listed = (p.message for p in sink.problems)
    assert plain.endswith("got 'http'")
    assert method.endswith("got 'PATCH'")
    quoted = long.split("got ", 1)[1]
    assert quoted.count("x") == ECHO_LIMIT and quoted.endswith("(10000 characters)")
    assert escapes.endswith("got ']0;pwned[2Jclear'")
    assert mapping.endswith("got a mapping with keys 'a', 'b'")
    assert listed.endswith("got a list of 3 items")


def test_control_characters_in_key_names_are_removed() -> None:
    sink = problems()
    sink.add("licmon.\x1b[2Jbad", "unknown key")
    assert "\x1b" not in str(sink.problems[0])


def run_both(path: Path, env: dict[str, str] | None = None) -> str:
    validate, check = both(path, env=env)
    validate.refused(EXIT_CONFIG_VALIDATE, "configuration error").without(SECRET)
    check.refused(EXIT_CHECK, "configuration error").without(SECRET)
    return validate.err


def test_bare_strings_for_secret_sections_are_not_printed(tmp_path: Path, certs: Path) -> None:
    document = site_document(certs)
    document["licmon"]["broker"] = f"redis://:{SECRET}@redis:6379/0"
    document["Butler"]["influxDb"] = {"v2Config": [SECRET], "v3Config": {"token": [SECRET]}}
    document["Butler"]["webhookNotification"] = {
        "qlikSenseServerLicenseMonitor": {"webhooks": [f"https://h.example.com/?t={SECRET}"]},
        "qlikSenseServerLicenseExpiryAlert": {"webhooks": f"https://u:{SECRET}@h.example.com/"},
    }
    document["Butler"]["configQRS"] = {"port": f"https://u:{SECRET}@h.example.com/"}
    report = run_both(dump(tmp_path, document))
    for path in (
        "licmon.broker: expected a mapping of keys",
        "Butler.influxDb.v2Config: expected a mapping of keys",
        "Butler.influxDb.v3Config.token: expected text",
        "qlikSenseServerLicenseMonitor.webhooks[0]: expected a mapping of keys",
        "qlikSenseServerLicenseExpiryAlert.webhooks: expected a list",
        "Butler.configQRS.port: expected a whole number >= 1 and <= 65535",
    ):
        assert path in report


SECRET_VARIABLES = {
    "LICMON_INFLUXDB_TOKEN": f"{SECRET}\n",
    "LICMON_INFLUXDB_PASSWORD": f"{SECRET}\r",
    "LICMON_MQTT_PASSWORD": f"{SECRET}\t",
    "LICMON_BROKER_URL": f"redis://:{SECRET}@127.0.0.1:6379/0\n",
    "LICMON_RESULT_BACKEND": f"redis://:{SECRET}@127.0.0.1:6379/1\x1b[2J",
    "LICMON_STATUS_WEBHOOK_URL_1": f"https://hooks.example.com/x?token={SECRET}\n",
}


@pytest.mark.parametrize("variable", sorted(SECRET_VARIABLES))
def test_a_secret_with_a_control_character_is_refused_by_its_variable(
    tmp_path: Path, certs: Path, variable: str
) -> None:
    document = site_document(certs)
    monitor = document["Butler"]["qlikSenseLicense"]["serverLicenseMonitor"]
    monitor["destination"] = {"influxDb": {"enable": True}, "webhook": {"enable": True}}
    document["Butler"] |= {
        "influxDb": {"enable": True, "hostIP": "influx.example.com", "version": 2},
        "webhookNotification": {
            "enable": True,
            "qlikSenseServerLicenseMonitor": {"webhooks": [{"description": "ops"}]},
        },
    }
    document["Butler"]["influxDb"]["v2Config"] = {"org": "o", "bucket": "b", "token": "t"}
    document["Butler"]["webhookNotification"]["qlikSenseServerLicenseMonitor"]["webhooks"][0][
        "webhookURL"
    ] = "https://hooks.example.com/plain"
    value = SECRET_VARIABLES[variable]
    report = run_both(dump(tmp_path, document), env={variable: value})
    assert f"{variable}: expected " in report
    assert "without control characters" in report


def test_a_secret_in_the_file_with_control_characters_is_refused(
    tmp_path: Path, certs: Path
) -> None:
    document = site_document(certs)
    document["Butler"]["influxDb"] = {"v2Config": {"token": f"{SECRET}\x1b[2J"}}
    document["licmon"]["mqtt"] = {"password": f"{SECRET}\n", "username": "ops\n"}
    document["licmon"]["sites"][0]["headers"] = [{"name": "X-Api-Key", "value": f"{SECRET}\n"}]
    report = run_both(dump(tmp_path, document))
    assert "Butler.influxDb.v2Config.token: expected a secret without control" in report
    assert "licmon.mqtt.password: expected a secret without control" in report
    assert "licmon.mqtt.username: expected text without control" in report
    assert "licmon.sites[0].headers[0].value: expected a header value without control" in report


@pytest.mark.parametrize("origin", ["file", "variable"])
def test_any_secret_field_refuses_control_characters(
    tmp_path: Path, certs: Path, origin: str
) -> None:
    # Apprise's URL has a validator of its own (Apprise must understand it): the rule holds
    # for every SecretStr field whatever its type, a destination's own included.
    url = f"json://hooks.example.com/{SECRET}\n"
    document = site_document(certs)
    entry = {"url": url} if origin == "file" else {"tags": ["ops"]}
    document["licmon"]["apprise"] = {"enable": True, "urls": [entry]}
    env = {"LICMON_APPRISE_URL_1": url} if origin == "variable" else None
    report = run_both(dump(tmp_path, document), env=env)
    where = "licmon.apprise.urls[0].url" if origin == "file" else "LICMON_APPRISE_URL_1"
    assert f"{where}: expected a secret without control characters" in report
    assert report.count(f"{where}:") == 1
