"""Running the real deployment in tests: Celery worker and beat as processes, plus a client.

The test process never imports `worker` (its config is loaded once per process); it talks to
the deployment through the broker, as Flower or another service would.
"""

from __future__ import annotations

import ast
import datetime as dt
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from celery import Celery

from licmon.simulator import QlikCerts
from licmon.simulator.server import Simulator
from tests.http_receiver import HttpReceiver
from tests.mqtt_private_broker import Received, Subscriber
from tests.services import MQTT_HOST, MQTT_PORT, InfluxServer, stop_process

TODAY = dt.datetime.now(dt.UTC).date()
REPO = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")
BROKER_URL = os.environ.get("LICMON_TEST_BROKER_URL", "redis://127.0.0.1:6379/14")
RESULT_BACKEND = os.environ.get("LICMON_TEST_RESULT_BACKEND", "redis://127.0.0.1:6379/13")

# How the images start a worker or beat (worker/__main__.py); `celery -A worker` for Flower.
LAUNCHER = (sys.executable, "-m", "worker")


def command(role: str) -> list[str]:
    """The command line of a worker, beat or Flower, as the compose file has it."""
    return [CELERY, "-A", "worker", role] if role == "flower" else [*LAUNCHER, role]


def in_days(days: int) -> dt.date:
    return TODAY + dt.timedelta(days=days)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def never(condition: Callable[[], Any], seconds: float, what: str, every: float = 0.05) -> None:
    """Fail as soon as `condition` holds within `seconds`; the bounded wait of a test that
    proves something does not happen. Call it only after a positive signal that the work
    which could cause it has finished, so the window covers stragglers, not the work itself."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            raise AssertionError(f"unexpected: {what}")
        time.sleep(every)


@dataclass
class Deployment:
    """A config file and the processes started from it."""

    root: Path
    document: dict[str, Any]
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)
    # Tests that kill processes run on a Redis of their own (tests/fleet_support.py and the
    # fault tests), which they restart and kill.
    broker_url: str = BROKER_URL
    result_backend: str = RESULT_BACKEND

    @property
    def config_path(self) -> Path:
        return self.root / "licmon.yaml"

    def env(self) -> dict[str, str]:
        return os.environ | {
            "LICMON_CONFIG": str(self.config_path),
            "LICMON_BROKER_URL": self.broker_url,
            "LICMON_RESULT_BACKEND": self.result_backend,
            "LICMON_BEAT_STATE": str(self.root / "beat-schedule"),
            "PYTHONUNBUFFERED": "1",
            # Log lines stamped in UTC, as the ticks are: tests compare the two.
            "TZ": "UTC",
        }

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.document))

    def spawn(
        self, role: str, *extra: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """Start a worker, beat or Flower without waiting for it: (process, its log)."""
        self.write_config()
        log = self.root / f"{role}-{len(self.processes)}.log"
        level = [] if role == "flower" else ["--loglevel=INFO"]
        process = subprocess.Popen(
            [*command(role), *level, *extra],
            cwd=REPO,
            env=self.env() | (env or {}),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append((role, process, log))
        return process, log

    def wait_ready(self, process: subprocess.Popen[bytes], log: Path, ready: str) -> None:
        wait_for(
            lambda: ready in log.read_text(errors="replace") or process.poll() is not None,
            30,
            f"celery {log.stem} to start",
        )
        if process.poll() is not None:
            raise AssertionError(f"celery {log.stem} exited:\n{log.read_text(errors='replace')}")

    def start(
        self, role: str, *extra: str, ready: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        process, log = self.spawn(role, *extra, env=env)
        self.wait_ready(process, log, ready)
        return process

    def start_worker(self, concurrency: int = 6, *extra: str) -> subprocess.Popen[bytes]:
        """A worker; `extra` e.g. `-Q license.fetch.east` or `--zone east`."""
        name = f"test{len(self.processes)}@%h"
        return self.start("worker", "-c", str(concurrency), "-n", name, *extra, ready="ready.")

    def start_beat(self, *extra: str, own_state: bool = False) -> subprocess.Popen[bytes]:
        """A beat; with `own_state`, a state file of its own, as beats on separate hosts
        have (beats of one deployment share their schedule through Redis)."""
        env = {"LICMON_BEAT_STATE": str(self.root / f"beat-{len(self.processes)}")}
        return self.start("beat", *extra, ready="beat: Starting", env=env if own_state else None)

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """kill -9: no shutdown handler runs."""
        process.kill()
        process.wait()

    def log_of(self, process: subprocess.Popen[bytes]) -> str:
        (log,) = [log for _, started, log in self.processes if started is process]
        return log.read_text(errors="replace")

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
        stop_process(process, timeout)

    def stop_all(self) -> None:
        for _, process, _ in reversed(self.processes):
            self.stop(process)

    def logs(self) -> str:
        return "\n".join(log.read_text(errors="replace") for _, _, log in self.processes)

    def client(self) -> Celery:
        return client(self.broker_url, self.result_backend)


def client(broker: str = BROKER_URL, backend: str = RESULT_BACKEND) -> Celery:
    app = Celery("licmon-test-client", broker=broker, backend=backend)
    app.conf.task_serializer = "json"
    app.conf.accept_content = ["json"]
    return app


INFLUX_DB = "butler_e2e"
# Retries short enough for a test to wait out: two quick attempts, then one retry 1 s later.
QUICK_RETRIES = {
    "quickAttempts": 2,
    "quickWindowSeconds": 1,
    "retries": 1,
    "backoffSeconds": 1,
    "backoffMaxSeconds": 1,
}


def site_entries(
    certs: QlikCerts, simulator: Simulator, zones: dict[str, str | None] | None = None
) -> list[dict[str, Any]]:
    """A `licmon.sites[]` entry per simulated site, over mutual TLS, in its zone if given."""
    cert = {
        "clientCert": str(certs.client_cert),
        "clientCertKey": str(certs.client_key),
        "clientCertCA": str(certs.root_ca),
    }
    zones = zones or {}
    return [
        {"name": name, "host": "127.0.0.1", "port": site.port, "verifyHostname": False}
        | {"cert": cert}
        | ({"zone": zones[name]} if zones.get(name) else {})
        for name, site in simulator.sites.items()
    ]


def webhooks_only(
    frequency: str, status_hooks: list[dict[str, Any]], alert_hooks: list[dict[str, Any]]
) -> dict[str, Any]:
    """Butler's section of a deployment whose only destination is webhooks, unthrottled."""
    return {
        "qlikSenseLicense": {
            "serverLicenseMonitor": {
                "enable": True,
                "frequency": frequency,
                "destination": {"webhook": {"enable": True}},
            }
        },
        "webhookNotification": {
            "enable": True,
            "qlikSenseServerLicenseMonitor": {"rateLimit": 0, "webhooks": status_hooks},
            "qlikSenseServerLicenseExpiryAlert": {"rateLimit": 0, "webhooks": alert_hooks},
        },
    }


def document(
    certs: QlikCerts,
    simulator: Simulator,
    receiver: HttpReceiver,
    influx_port: int,
    prefix: str,
    status_hooks: list[dict[str, Any]],
    alert_hooks: list[dict[str, Any]],
    *,
    frequency: str = "every 24 hours",
    rate_limit: int = 300,
) -> dict[str, Any]:
    """Every destination on: InfluxDB 1.x, MQTT under `prefix`, the given webhooks (with
    Butler's `rateLimit` in seconds), every simulated site checked on `frequency`."""
    sites = site_entries(certs, simulator)
    sites[0]["tags"] = [{"name": "env", "value": "prod"}]
    return {
        "Butler": {
            "qlikSenseLicense": {
                "serverLicenseMonitor": {
                    "enable": True,
                    "frequency": frequency,
                    "alert": {"thresholdDays": 60},
                    "destination": {
                        "influxDb": {
                            "enable": True,
                            "tag": {"static": [{"name": "foo", "value": "bar"}]},
                        },
                        "mqtt": {"enable": True},
                        "webhook": {"enable": True},
                    },
                }
            },
            "influxDb": {
                "enable": True,
                "hostIP": "127.0.0.1",
                "hostPort": influx_port,
                "v1Config": {
                    "dbName": INFLUX_DB,
                    "retentionPolicy": {"name": "10d", "duration": "10d"},
                },
                "tag": {
                    "static": [{"name": "foo", "value": "global"}, {"name": "dc", "value": "eu"}]
                },
            },
            "mqttConfig": {
                "enable": True,
                # The broker the test subscriber listens on (LICMON_TEST_MQTT_HOST/_PORT).
                "brokerHost": MQTT_HOST,
                "brokerPort": MQTT_PORT,
                "qlikSenseServerLicenseTopic": f"{prefix}/qliksense_server_license",
                "qlikSenseServerLicenseExpireTopic": f"{prefix}/qliksense_server_license_expire",
            },
            "webhookNotification": {
                "enable": True,
                "qlikSenseServerLicenseMonitor": {
                    "rateLimit": rate_limit,
                    "webhooks": status_hooks,
                },
                "qlikSenseServerLicenseExpiryAlert": {
                    "rateLimit": rate_limit,
                    "webhooks": alert_hooks,
                },
            },
        },
        "licmon": {
            "sites": sites,
            "mqtt": {"siteSubtopic": True},
            "timeouts": {"webhook": 1, "influxDb": 1, "mqtt": 2, "qrsRead": 2},
            "retries": dict(QUICK_RETRIES),
        },
    }


# Webhook URLs often carry a token; this one must never show in a log, a task or a letter.
WEBHOOK_TOKEN = "s3cret-webhook-token"


def hook(receiver: HttpReceiver, path: str, method: str) -> dict[str, str]:
    url = receiver.url(path) + f"?token={WEBHOOK_TOKEN}"
    return {"description": path, "webhookURL": url, "httpMethod": method}


@dataclass
class Stack:
    """What an end-to-end deployment is pointed at: the simulator's certificates, the
    webhook receiver, the MQTT topic prefix and its message log, and InfluxDB."""

    certs: QlikCerts
    receiver: HttpReceiver
    prefix: str
    messages: MessageLog
    influx: InfluxServer

    def hook(self, path: str, method: str = "POST") -> dict[str, str]:
        return hook(self.receiver, path, method)

    def document(
        self,
        simulator: Simulator,
        *,
        status_hooks: list[dict[str, Any]] | None = None,
        alert_hooks: list[dict[str, Any]] | None = None,
        frequency: str = "every 24 hours",
        rate_limit: int = 300,
    ) -> dict[str, Any]:
        """`document` of `simulator`'s sites, aimed at this stack."""
        return document(
            self.certs,
            simulator,
            self.receiver,
            self.influx.http_port,
            self.prefix,
            status_hooks or [],
            alert_hooks or [],
            frequency=frequency,
            rate_limit=rate_limit,
        )


def fetch(site: str, check_id: str, tick: str) -> Any:
    return client().send_task(
        "license.fetch",
        args=(site,),
        kwargs={"check_id": check_id, "tick": tick},
        queue="license.fetch",
    )


# CPython 3.11's ast.literal_eval is not thread-safe (gh-106905: "AST constructor recursion
# depth mismatch" when two threads parse at once); tests that check sites in parallel share it.
_LITERAL_EVAL = threading.Lock()


def _literal(value: str) -> Any:
    with _LITERAL_EVAL:
        return ast.literal_eval(value)


_SUCCEEDED = re.compile(r"Task deliver\.\w+\[([^\]]+)\] succeeded in [\d.e-]+s: (.*)$", re.M)


def deliveries_done(
    deployment: Deployment, result: dict[str, Any], timeout: float = 30
) -> dict[str, Any]:
    """Wait for every delivery task a `license.fetch` result fanned out; their return values
    by target (a webhook's says whether it sent or was held by its rateLimit), read from the
    worker's log: deliveries store no result. A finished delivery has been acknowledged by
    its destination, so what it sent is there to count."""

    def done() -> dict[str, Any]:
        returned = {
            task_id: _literal(value) for task_id, value in _SUCCEEDED.findall(deployment.logs())
        }
        found = {
            delivery["target"]: returned[delivery["taskId"]]
            for delivery in result["deliveries"]
            if delivery["taskId"] in returned
        }
        return found if len(found) == len(result["deliveries"]) else {}

    return wait_for(done, timeout, "every delivery of the check to finish")


def ran_as(log: str, check_id: str) -> str:
    """The check id a sent check ran as: its own, or the newest tick offered while it still
    waited in its queue (the one-waiting-check-per-site gate, worker/dispatch.py)."""
    newer = re.findall(
        rf"{re.escape(check_id)}: waited while newer ticks came; "
        r"checking the newest, (\S+)",
        log,
    )
    return newer[-1] if newer else check_id


_TASK_EVENT = re.compile(r"Task (\S+)\[([^\]]+)\] (received|succeeded|failed|raised)")


def worker_settled(log: str, task: str, count: int) -> bool:
    """The worker `log` shows at least `count` `task` tasks received and every task it
    received, including the deliveries they fanned out, finished (succeeded or failed)."""
    received: dict[str, str] = {}
    finished: set[str] = set()
    for name, task_id, event in _TASK_EVENT.findall(log):
        if event == "received":
            received[task_id] = name
        else:
            finished.add(task_id)
    return list(received.values()).count(task) >= count and set(received) <= finished


class MessageLog:
    """Every message the subscriber saw, kept: tests count them more than once."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self.seen: list[Received] = []

    def for_site(self, site: str) -> list[Received]:
        while not self.subscriber.messages.empty():
            self.seen.append(self.subscriber.messages.get())
        return [message for message in self.seen if message.topic.endswith("/" + site)]

    def wait(self, site: str, count: int) -> list[Received]:
        wait_for(
            lambda: len(self.for_site(site)) >= count, 15, f"{count} MQTT message(s) for {site}"
        )
        return self.for_site(site)


def requests_with(receiver: HttpReceiver, check_id: str, count: int) -> list[Any]:
    def matching() -> list[Any]:
        found = [r for r in receiver.received() if r.headers.get("x-licmon-check-id") == check_id]
        return found if len(found) >= count else []

    return wait_for(matching, 15, f"{count} webhook call(s) for {check_id}")


def influx_row(influx: InfluxServer, site: str) -> dict[str, Any]:
    """The one license point of `site`, as InfluxQL reads it back."""

    def series() -> list[Any]:
        query = f"SELECT * FROM qlik_sense_server_license WHERE site = '{site}'"
        return influx.query(query, db=INFLUX_DB)["results"][0].get("series", [])

    (found,) = wait_for(series, 15, f"the InfluxDB point of {site}")
    assert len(found["values"]) == 1, found
    return dict(zip(found["columns"], found["values"][0], strict=True))
