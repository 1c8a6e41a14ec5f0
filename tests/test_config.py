"""Loading Butler configs unchanged, our multi-site form, and reporting every problem at once."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from licmon.checks.server_license import SERVER_LICENSE
from licmon.cli.main import main
from licmon.config import ConfigError, DateOrder
from licmon.plugins import load_config
from licmon.simulator import ensure_qlik_certs

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "config" / "butler-seed.yaml"
PRODUCTION = Path(__file__).parent / "fixtures" / "butler-production.yaml"


@pytest.fixture(scope="session")
def qlik_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Real PEM files: the loader reads them with `ssl` as the QRS client will.
    return ensure_qlik_certs(tmp_path_factory.mktemp("qlik-certs")).directory


@pytest.fixture
def certs(tmp_path: Path, qlik_certs: Path) -> Path:
    folder = tmp_path / "certs"
    folder.mkdir()
    for name in ("client.pem", "client_key.pem", "root.pem"):
        shutil.copy(qlik_certs / name, folder / name)
    return folder


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    return [str(problem) for problem in caught.value.problems]


def butler_doc(certs: Path, **monitor: object) -> dict:
    return {
        "Butler": {
            "configQRS": {"host": "sense.example.com", "port": 4242},
            "cert": {
                "clientCert": str(certs / "client.pem"),
                "clientCertKey": str(certs / "client_key.pem"),
                "clientCertCA": str(certs / "root.pem"),
            },
            "qlikSenseLicense": {"serverLicenseMonitor": {"enable": True, **monitor}},
        }
    }


def dump(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_seed_block_loads_verbatim(tmp_path: Path, certs: Path) -> None:
    # The seed points at ../.licmon/certs relative to config/: mirror that layout.
    (tmp_path / "config").mkdir()
    shutil.copytree(certs, tmp_path / ".licmon" / "certs")
    config = load_config(shutil.copy(SEED, tmp_path / "config" / "seed.yaml"), env={})
    (site,) = config.sites
    assert (site.name, site.host, site.port, SERVER_LICENSE.threshold(site)) == (
        "localhost",
        "localhost",
        4242,
        60,
    )
    assert site.schedule(SERVER_LICENSE.name) == "every 24 hours"
    assert site.client_cert == tmp_path / "config" / "../.licmon/certs/client.pem"
    assert site.headers == (("X-Qlik-User", "UserDirectory=Internal;UserId=sa_repository"),)
    assert site.verify_hostname is False
    assert config.destinations == {SERVER_LICENSE.name: {}}


def test_full_butler_production_config_loads_and_ignores_the_rest(
    tmp_path: Path, certs: Path
) -> None:
    config = load_config(shutil.copy(PRODUCTION, tmp_path / "butler.yaml"), env={})
    (site,) = config.sites
    assert (site.name, SERVER_LICENSE.threshold(site), site.reject_unauthorized) == (
        "sense-central.example.com",
        45,
        False,
    )
    assert config.settings("influxdb") is not None
    assert config.settings("influxdb").database == "butler"
    assert (
        config.settings("influxdb").retention_policy,
        config.settings("influxdb").retention_duration,
    ) == ("10d", "10d")
    # Feature tags win over global tags of the same name.
    assert config.settings("influxdb").tags == (("butler_instance", "prod-1"), ("foo", "bar"))
    assert config.settings("mqtt") is not None
    assert (config.settings("mqtt").send_recurring, config.settings("mqtt").send_alert) == (
        True,
        False,
    )
    assert config.settings("mqtt").status_topic == "qliksense/qliksense_server_license"
    assert [
        (hook.key, hook.method, hook.rate_limit_seconds) for hook in config.settings("webhook")
    ] == [
        ("status-1", "POST", 300),
        ("alert-1", "GET", 600),
        ("alert-2", "PUT", 600),
    ]


def test_threshold_message_names_path_value_and_expectation(tmp_path: Path, certs: Path) -> None:
    path = dump(tmp_path, butler_doc(certs, alert={"thresholdDays": "sixty"}))
    assert problems_of(path) == [
        "Butler.qlikSenseLicense.serverLicenseMonitor.alert.thresholdDays: "
        "expected a whole number >= 0 and <= 3650, got 'sixty'"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        Butler:
          qlikSenseLicense:
            serverLicenseMonitor:
              enable: maybe
              alert: {thresholdDays: -1}
          configQRS: {host: sense, port: 99999}
          influxDb: {enable: true, hostIP: influx, version: 4}
          webhookNotification:
            enable: true
            qlikSenseServerLicenseExpiryAlert:
              webhooks:
                - {webhookURL: "not a url", httpMethod: PATCH}
                - {webhookURL: "ftp://example.com/x", httpMethod: get}
        """,
    )
    assert problems_of(path) == [
        "Butler.qlikSenseLicense.serverLicenseMonitor.enable: expected true or false, got 'maybe'",
        "Butler.qlikSenseLicense.serverLicenseMonitor.alert.thresholdDays: "
        "expected a whole number >= 0 and <= 3650, got -1",
        "Butler.configQRS.port: expected a whole number >= 1 and <= 65535, got 99999",
        "Butler.influxDb.version: expected InfluxDB version 1, 2 or 3, got 4",
        "Butler.webhookNotification.qlikSenseServerLicenseExpiryAlert.webhooks[0].webhookURL: "
        "expected an http:// or https:// URL with a host name",
        "Butler.webhookNotification.qlikSenseServerLicenseExpiryAlert.webhooks[0].httpMethod: "
        "expected GET, POST or PUT, got 'PATCH'",
        "Butler.webhookNotification.qlikSenseServerLicenseExpiryAlert.webhooks[1].webhookURL: "
        "expected an http:// or https:// URL with a host name",
    ]


def test_missing_certificate_files_and_host(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        Butler:
          qlikSenseLicense: {serverLicenseMonitor: {enable: true}}
          cert: {clientCert: nowhere/client.pem, clientCertCA: /nonexistent/root.pem}
        """,
    )
    assert problems_of(path) == [
        "Butler.configQRS.host: required when the license monitor is enabled",
        "Butler.cert.clientCertKey: required when the license monitor is enabled",
        f"Butler.cert.clientCert: client certificate file '{tmp_path}/nowhere/client.pem' "
        "does not exist",
        "Butler.cert.clientCertCA: root CA file '/nonexistent/root.pem' does not exist",
    ]


def test_unreadable_certificate_file(tmp_path: Path, certs: Path) -> None:
    if shutil.os.geteuid() == 0:  # type: ignore[attr-defined]
        # root reads everything; a directory in place of the file is unreadable as a file.
        (certs / "client_key.pem").unlink()
        (certs / "client_key.pem").mkdir()
    else:
        (certs / "client_key.pem").chmod(0)
    problems = problems_of(dump(tmp_path, butler_doc(certs)))
    assert len(problems) == 1 and problems[0].startswith("Butler.cert.clientCertKey: client key")


def test_enabled_destinations_without_connection_settings(tmp_path: Path, certs: Path) -> None:
    document = butler_doc(
        certs,
        destination={
            "influxDb": {"enable": True},
            "mqtt": {"enable": True},
            "webhook": {"enable": True},
        },
    )
    document["Butler"] |= {
        "influxDb": {"enable": True, "version": 2, "v2Config": {"org": "qlik"}},
        "mqttConfig": {"enable": True},
        "webhookNotification": {
            "enable": True,
            "qlikSenseServerLicenseMonitor": {"webhooks": [{"description": "no url"}]},
        },
    }
    assert problems_of(dump(tmp_path, document)) == [
        "Butler.influxDb.hostIP: required when InfluxDB is enabled",
        "Butler.influxDb.v2Config.bucket: required for InfluxDB 2.x",
        "Butler.influxDb.v2Config.token: required for InfluxDB 2.x (or set LICMON_INFLUXDB_TOKEN)",
        "Butler.mqttConfig.brokerHost: required when MQTT is enabled",
        "Butler.webhookNotification.qlikSenseServerLicenseMonitor.webhooks[0].webhookURL: "
        "required (or set LICMON_STATUS_WEBHOOK_URL_1)",
    ]


def test_destination_on_but_connection_off_is_a_warning(tmp_path: Path, certs: Path) -> None:
    document = butler_doc(certs, destination={"influxDb": {"enable": True}})
    config = load_config(dump(tmp_path, document), env={})
    assert config.settings("influxdb") is None
    assert config.warnings == (
        "Butler.qlikSenseLicense.serverLicenseMonitor.destination.influxDb.enable is true but "
        "Butler.influxDb.enable is false: nothing is written to InfluxDB",
    )


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "Butler:\n  configQRS:\n    host: [unclosed\n  cert: {}\n")
    (problem,) = problems_of(path)
    assert problem.startswith("line 4, column 7: YAML syntax error")


def test_not_a_butler_config(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path, "- just\n- a list\n"))
    assert "expected a Butler config (root key 'Butler')" in problem
    (problem,) = problems_of(write(tmp_path, "Butlr: {}\n"))
    # Keys are named, values never: a mapping is echoed by its keys alone.
    assert problem.endswith("got a mapping with keys 'Butlr'")


def test_missing_file_and_no_file_given(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file: No such file or directory"):
        load_config(tmp_path / "absent.yaml", env={})
    with pytest.raises(ConfigError, match="no config file: use --config or LICMON_CONFIG"):
        load_config(None, env={})


def test_secrets_come_from_the_environment_and_never_print(tmp_path: Path, certs: Path) -> None:
    document = butler_doc(
        certs,
        destination={
            "influxDb": {"enable": True},
            "mqtt": {"enable": True},
            "webhook": {"enable": True},
        },
    )
    document["Butler"] |= {
        "influxDb": {
            "enable": True,
            "hostIP": "influx",
            "version": 3,
            "v3Config": {"database": "qs"},
        },
        "mqttConfig": {"enable": True, "brokerHost": "mqtt"},
        "webhookNotification": {
            "enable": True,
            "qlikSenseServerLicenseExpiryAlert": {
                "webhooks": [{"description": "teams", "webhookURL": "https://file.example.com/x"}]
            },
        },
    }
    env = {
        "LICMON_INFLUXDB_TOKEN": "influx-token-123",
        "LICMON_MQTT_USERNAME": "qlik",
        "LICMON_MQTT_PASSWORD": "mqtt-pass-456",
        "LICMON_ALERT_WEBHOOK_URL_1": "https://hooks.example.com/secret-789",
        "LICMON_BROKER_URL": "redis://:redis-pass-000@127.0.0.1:6379/0",
    }
    config = load_config(dump(tmp_path, document), env=env)
    assert config.settings("influxdb") is not None and config.settings("influxdb").token is not None
    assert config.settings("influxdb").token.get_secret_value() == "influx-token-123"
    assert (config.settings("influxdb").bucket, config.settings("influxdb").org) == ("qs", "")
    assert config.settings("mqtt") is not None and config.settings("mqtt").password is not None
    assert (
        config.settings("mqtt").username,
        config.settings("mqtt").password.get_secret_value(),
    ) == (
        "qlik",
        "mqtt-pass-456",
    )
    assert (
        config.settings("webhook")[0].url.get_secret_value()
        == "https://hooks.example.com/secret-789"
    )
    assert config.broker.url.get_secret_value().startswith("redis://:redis-pass-000@")
    shown = repr(config) + str(config)
    for secret in ("influx-token-123", "mqtt-pass-456", "secret-789", "redis-pass-000"):
        assert secret not in shown


def test_bad_url_from_environment_is_named(tmp_path: Path, certs: Path) -> None:
    document = butler_doc(certs, destination={"webhook": {"enable": True}})
    document["Butler"]["webhookNotification"] = {
        "enable": True,
        "qlikSenseServerLicenseMonitor": {"webhooks": [{"description": "x"}]},
    }
    problems = problems_of(dump(tmp_path, document), env={"LICMON_STATUS_WEBHOOK_URL_1": "nope"})
    assert problems == [
        "LICMON_STATUS_WEBHOOK_URL_1: expected an http:// or https:// URL with a host name"
    ]


def test_secret_values_are_not_echoed_in_errors(tmp_path: Path, certs: Path) -> None:
    document = butler_doc(certs)
    document["Butler"]["influxDb"] = {"auth": {"password": {"not": "text"}}}
    (problem,) = problems_of(dump(tmp_path, document))
    assert (
        problem.startswith("Butler.influxDb.auth.password:")
        and "not" not in problem.split(":", 1)[1]
    )


MULTI_SITE = """\
Butler:
  qlikSenseLicense:
    serverLicenseMonitor:
      frequency: every 24 hours
      alert: {thresholdDays: 60}
licmon:
  dateOrder: day-first
  sites:
    - name: prod
      host: sense-prod.example.com
      cert:
        clientCert: certs/client.pem
        clientCertKey: certs/client_key.pem
        clientCertCA: certs/root.pem
      verifyHostname: false
      headers: [{name: X-Env, value: prod}]
      tags: [{name: env, value: prod}, {name: region, value: 42}]
      thresholdDays: 90
      frequency: every 6 hours
    - name: test
      host: sense-test.example.com
      port: 4243
      cert: {clientCert: certs/client.pem, clientCertKey: certs/client_key.pem}
    - name: retired
      enable: false
      host: old.example.com
      cert: {clientCert: gone.pem, clientCertKey: gone.pem}
"""


def test_multi_site_form(tmp_path: Path, certs: Path) -> None:
    config = load_config(write(tmp_path, MULTI_SITE), env={})
    prod, test = config.sites
    assert config.date_order is DateOrder.DAY_FIRST
    assert (
        prod.name,
        SERVER_LICENSE.threshold(prod),
        prod.schedule(SERVER_LICENSE.name),
        prod.verify_hostname,
    ) == (
        "prod",
        90,
        "every 6 hours",
        False,
    )
    assert prod.tags == (("env", "prod"), ("region", "42"))
    assert prod.headers == (("X-Env", "prod"),)
    assert prod.root_ca == tmp_path / "certs" / "root.pem"
    assert (
        test.port,
        SERVER_LICENSE.threshold(test),
        test.schedule(SERVER_LICENSE.name),
        test.root_ca,
    ) == (
        4243,
        60,
        "every 24 hours",
        None,
    )


def test_multi_site_problems(tmp_path: Path, certs: Path) -> None:
    text = MULTI_SITE.replace("name: test", "name: prod").replace("port: 4243", "port: http")
    text = text.replace("name: retired", "name: 'bad name!'")
    assert problems_of(write(tmp_path, text)) == [
        "licmon.sites[1].port: expected a whole number >= 1 and <= 65535, got 'http'",
        "licmon.sites[2].name: expected a site name of letters, digits, '.', '_' or '-' "
        "(at most 63), got 'bad name!'",
    ]
    text = MULTI_SITE.replace("name: test", "name: prod")
    assert problems_of(write(tmp_path, text)) == [
        "licmon.sites: site name 'prod' is used more than once"
    ]


def test_monitor_switched_off_means_no_site(tmp_path: Path) -> None:
    path = write(tmp_path, "Butler:\n  qlikSenseLicense: {serverLicenseMonitor: {enable: false}}\n")
    assert load_config(path, env={}).sites == ()


def test_cli_validate_ok_and_problems(
    tmp_path: Path, certs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = dump(tmp_path, butler_doc(certs))
    assert main(["config", "validate", "--config", str(good)]) == 0
    assert capsys.readouterr().out == "OK\n"
    bad = dump(tmp_path, butler_doc(certs, alert={"thresholdDays": "sixty"}))
    assert main(["config", "validate", "--config", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "expected a whole number >= 0 and <= 3650, got 'sixty'" in captured.err
    assert "Traceback" not in captured.err


def test_invalid_frequency_is_refused_with_later_js_position(tmp_path: Path, certs: Path) -> None:
    path = dump(tmp_path, butler_doc(certs, frequency="every fortnight"))
    (problem,) = problems_of(path)
    assert problem.startswith(
        "Butler.qlikSenseLicense.serverLicenseMonitor.frequency: expected a later.js schedule "
        "such as 'every 24 hours'; parsing stops at position 6"
    )
    assert problem.endswith("got 'every fortnight'")
    assert "every fortnight\n      ^" in problem


def test_frequency_later_js_parses_but_cannot_run_is_refused(tmp_path: Path, certs: Path) -> None:
    path = dump(tmp_path, butler_doc(certs, frequency="every 5 mins also"))
    (problem,) = problems_of(path)
    assert "expected a later.js schedule that can run" in problem


@pytest.mark.parametrize(
    "text", ["every 24 hours", "every 14 days", "at 10:15 am", "every weekday at 8:00 am"]
)
def test_butler_frequencies_are_accepted(tmp_path: Path, certs: Path, text: str) -> None:
    (site,) = load_config(dump(tmp_path, butler_doc(certs, frequency=text)), env={}).sites
    assert site.schedule(SERVER_LICENSE.name) == text


def test_task_events_are_on_by_default_and_can_be_turned_off(tmp_path: Path, certs: Path) -> None:
    from worker.settings import celery_settings

    document = butler_doc(certs)
    on = celery_settings(load_config(dump(tmp_path, document), env={}))
    assert (on["worker_send_task_events"], on["task_send_sent_event"]) == (True, True)
    document["licmon"] = {"broker": {"taskEvents": False}}
    off = celery_settings(load_config(dump(tmp_path, document), env={}))
    assert (off["worker_send_task_events"], off["task_send_sent_event"]) == (False, False)
