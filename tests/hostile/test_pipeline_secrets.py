"""A whole deployment with a distinct secret in every secret field and every destination
failing: no secret in any log, Redis key or value, dead letter or Flower answer.

Real processes throughout: Celery worker, beat and Flower (`celery -A worker ...`), a
private Redis that requires a password (and a second ACL user for the result backend), a
private Mosquitto that refuses our credentials, an InfluxDB port that refuses connections,
webhooks that answer 500 or never answer, a QRS that refuses connections. Run twice: at
INFO and at `--loglevel=DEBUG`. Before the logging policy, urllib3's DEBUG lines carried
every webhook's query-string token into the worker log.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from licmon.simulator import (
    CloudAllotment,
    CloudTenants,
    CloudTenantSpec,
    QlikCerts,
    SimulatedCloudLicense,
    SimulatedLicense,
    SiteSpec,
    ensure_qlik_certs,
    run_cloud_tenants,
    run_simulator,
)
from tests.conftest import service_missing
from tests.http_receiver import HttpReceiver, run_receiver
from tests.mqtt_private_broker import PrivateBroker, make_test_pki, mosquitto_available
from tests.pipeline_support import QUICK_RETRIES, REPO, Deployment, wait_for, worker_settled
from tests.services import free_port, port_open, stop_process

pytestmark = pytest.mark.services

FIELDS = (
    "broker_password",
    "backend_password",
    "influx_password",
    "influx_token",
    "mqtt_password",
    "status_url_password",
    "status_url_token",
    "alert_url_password",
    "alert_url_token",
    "env_url_token",
    "qrs_header",
    "qrs_header_unreachable",
    "flower_password",
    "cloud_key",
    "cloud_key_refused",
)
BACKEND_USER = "licmon-results"


def new_secrets() -> dict[str, str]:
    # Distinct, and none a part of another: each hit names its field.
    return {name: f"Zq{secrets.token_hex(10)}" for name in FIELDS}


@dataclass
class Run:
    level: str
    secrets: dict[str, str]
    deployment: Deployment
    redis_url: str
    flower_url: str
    receiver: HttpReceiver
    qrs_requests: list[Any] = field(default_factory=list)
    cloud_requests: dict[str, list[Any]] = field(default_factory=dict)


def ending_soon() -> SimulatedCloudLicense:
    """20 days left and the analyzer allotment at its minimum: two alerts to deliver."""
    allotments = [CloudAllotment("analyzer", 50, 45), CloudAllotment("professional", 10, 2)]
    return SimulatedCloudLicense(ends_in_days=20, allotments=allotments)


def start_redis(root: Path, password: str, backend_password: str) -> tuple[int, Any]:
    port = free_port()
    config = (
        f"requirepass {password}\n"
        f"user {BACKEND_USER} on >{backend_password} ~* &* +@all\n"
        # Uncompressed DUMPs: the scan below reads them as they are.
        "rdbcompression no\n"
    )
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        ["redis-server", "-", *options, "--dir", str(root)],
        stdin=subprocess.PIPE,
        stdout=(root / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    assert process.stdin is not None
    process.stdin.write(config.encode())
    process.stdin.close()
    wait_for(lambda: port_open("127.0.0.1", port), 15, "the private Redis")
    return port, process


def document(
    run_secrets: dict[str, str],
    level: str,
    certs: QlikCerts,
    qrs_port: int,
    receiver: HttpReceiver,
    mqtt_port: int,
    tenants: CloudTenants,
) -> dict[str, Any]:
    s = run_secrets
    base = f"127.0.0.1:{receiver.port}"
    cert = {
        "clientCert": str(certs.client_cert),
        "clientCertKey": str(certs.client_key),
        "clientCertCA": str(certs.root_ca),
    }
    site = {"host": "127.0.0.1", "verifyHostname": False, "cert": cert}
    return {
        "Butler": {
            "qlikSenseLicense": {
                "serverLicenseMonitor": {
                    "enable": True,
                    "frequency": "every 24 hours",
                    "alert": {"thresholdDays": 60},
                    "destination": {
                        "influxDb": {"enable": True},
                        "mqtt": {"enable": True},
                        "webhook": {"enable": True},
                    },
                }
            },
            "influxDb": {
                "enable": True,
                "hostIP": "127.0.0.1",
                "hostPort": free_port(),  # nothing listens: connection refused
                "version": 1 if level == "INFO" else 2,
                "v1Config": {
                    "dbName": "butler",
                    "auth": {"enable": True, "username": "ops", "password": s["influx_password"]},
                },
                # At DEBUG the token comes from LICMON_INFLUXDB_TOKEN instead.
                "v2Config": {"org": "qlik", "bucket": "butler", "token": s["influx_token"]},
            },
            "mqttConfig": {"enable": True, "brokerHost": "127.0.0.1", "brokerPort": mqtt_port},
            "webhookNotification": {
                "enable": True,
                "qlikSenseServerLicenseMonitor": {
                    "webhooks": [
                        {
                            "description": "fails",
                            "webhookURL": f"http://ops:{s['status_url_password']}@{base}"
                            f"/fails?token={s['status_url_token']}",
                        }
                    ]
                },
                "qlikSenseServerLicenseExpiryAlert": {
                    "webhooks": [
                        {
                            "description": "hangs",
                            "webhookURL": f"http://ops:{s['alert_url_password']}@{base}"
                            f"/hangs?token={s['alert_url_token']}",
                            "httpMethod": "GET",
                        },
                        # From LICMON_ALERT_WEBHOOK_URL_2.
                        {"description": "from the environment", "httpMethod": "PUT"},
                    ]
                },
            },
        },
        "licmon": {
            "sites": [
                site
                | {
                    "name": "alpha",
                    "port": qrs_port,
                    "headers": [{"name": "X-Api-Key", "value": s["qrs_header"]}],
                },
                site
                | {
                    "name": "beta",
                    "port": free_port(),  # refuses: the check fails, its status still goes out
                    "headers": [{"name": "X-Api-Key", "value": s["qrs_header_unreachable"]}],
                },
            ],
            # Qlik Cloud tenants: gamma answers (its alerts meet the failing destinations),
            # delta refuses its key (from LICMON_CLOUD_API_KEY_2).
            "cloudTenants": [
                {
                    "name": name,
                    "url": tenants.tenants[name].url,
                    "caFile": str(tenants.ca_file),
                    "timeout": 2,
                }
                | ({"apiKey": s["cloud_key"]} if name == "gamma" else {})
                for name in ("gamma", "delta")
            ],
            "cloudAlerts": {"allotments": {"analyzer": {"minAvailable": 10}}},
            "mqtt": {"username": "licmon", "password": s["mqtt_password"]},
            "timeouts": {"webhook": 1, "influxDb": 1, "mqtt": 2, "qrsConnect": 1, "qrsRead": 2},
            "retries": dict(QUICK_RETRIES),
        },
    }


# Each failing delivery, and the failing check, ends as a dead letter: (site, destination,
# target).
EXPECTED_LETTERS = {
    ("alpha", "webhook", "status-1"),
    ("alpha", "webhook", "alert-1"),
    ("alpha", "webhook", "alert-2"),
    ("alpha", "influxdb", "influxdb"),
    ("alpha", "mqtt", "status"),
    ("alpha", "mqtt", "alert"),
    # The check of the unreachable site itself, after its retries.
    ("beta", "qrs", "127.0.0.1"),
    # A tenant's status and alerts (alert webhooks only), and the tenant whose key is refused.
    ("gamma", "influxdb", "influxdb"),
    ("gamma", "mqtt", "status"),
    ("gamma", "mqtt", "alert"),
    ("gamma", "webhook", "alert-1"),
    ("gamma", "webhook", "alert-2"),
    ("delta", "qrs", "127.0.0.1"),
}


@pytest.fixture(scope="module", params=["INFO", "DEBUG"])
def run(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[Run]:
    level = request.param
    for binary in ("redis-server", "celery"):
        if shutil.which(binary) is None and not (Path(sys.executable).parent / binary).exists():
            service_missing(pytestconfig, binary)
    if not mosquitto_available():
        service_missing(pytestconfig, "mosquitto and mosquitto_passwd")
    root = tmp_path_factory.mktemp(f"secrets-{level.lower()}")
    s = new_secrets()
    redis_port, redis_process = start_redis(root, s["broker_password"], s["backend_password"])
    (root / "mqtt").mkdir()
    # Its own user and password (tests/mqtt_private_broker.py); ours are refused.
    broker = PrivateBroker(root=root / "mqtt", pki=make_test_pki(root / "pki"))
    broker.start()
    receivers = run_receiver()
    receiver = next(receivers)
    receiver.on("/fails", status=500)
    receiver.on("/hangs", hang=True)
    certs = ensure_qlik_certs(root / "certs")
    license = SimulatedLicense(valid_to=[dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)])
    redis_url = f"redis://:{s['broker_password']}@127.0.0.1:{redis_port}/0"
    flower_port = free_port()
    deployment: Deployment | None = None
    try:
        cloud = [
            CloudTenantSpec("gamma", api_key=s["cloud_key"], license=ending_soon()),
            CloudTenantSpec("delta", api_key=secrets.token_hex(16)),  # not the one we send
        ]
        with (
            run_simulator([SiteSpec("alpha", license=license)], certs) as simulator,
            run_cloud_tenants(cloud, root / "cloud") as tenants,
        ):
            deployment = Deployment(
                root,
                document(
                    s,
                    level,
                    certs,
                    simulator.sites["alpha"].port,
                    receiver,
                    broker.plain_port,
                    tenants,
                ),
            )
            env = {
                "LICMON_BROKER_URL": redis_url,
                "LICMON_RESULT_BACKEND": (
                    f"redis://{BACKEND_USER}:{s['backend_password']}@127.0.0.1:{redis_port}/1"
                ),
                "LICMON_ALERT_WEBHOOK_URL_2": (
                    f"http://127.0.0.1:{receiver.port}/fails?token={s['env_url_token']}"
                ),
                "FLOWER_BASIC_AUTH": f"ops:{s['flower_password']}",
                "LICMON_CLOUD_API_KEY_2": s["cloud_key_refused"],
            }
            if level == "DEBUG":
                env["LICMON_INFLUXDB_TOKEN"] = s["influx_token"]
                env["LICMON_LIBRARY_LOG_LEVEL"] = ""  # the default: not asked
            flower_level = "--logging=debug" if level == "DEBUG" else "--logging=info"
            deployment.start(
                "flower",
                f"--port={flower_port}",
                "--address=127.0.0.1",
                flower_level,
                ready="Visit me at",
                env=env,
            )
            deployment.start("worker", "-c", "2", f"--loglevel={level}", ready="ready.", env=env)
            deployment.start("beat", f"--loglevel={level}", ready="beat: Starting", env=env)
            admin = redis.Redis(port=redis_port, password=s["broker_password"])

            def letters() -> set[tuple[str, str, str]]:
                found = {
                    (e["site"], e["destination"], e["target"])
                    for e in map(json.loads, admin.lrange("licmon:deadletters", 0, -1))
                }
                return found if found >= EXPECTED_LETTERS else set()

            wait_for(letters, 120, "a dead letter for every failing delivery", every=0.5)
            wait_for(
                lambda: worker_settled(deployment.logs(), "license.fetch", 2),
                60,
                "the worker to finish every task",
                every=0.5,
            )
            result = Run(
                level=level,
                secrets=s,
                deployment=deployment,
                redis_url=redis_url,
                flower_url=f"http://127.0.0.1:{flower_port}",
                receiver=receiver,
                qrs_requests=simulator.sites["alpha"].requests,
                cloud_requests={name: tenant.requests for name, tenant in tenants.tenants.items()},
            )
            yield result
    finally:
        # Celery first, while its broker still answers (Flower hangs on a vanished one);
        # also when the setup above failed half-way.
        if deployment is not None:
            deployment.stop_all()
        next(receivers, None)
        broker.stop()
        stop_process(redis_process)


_BASE64 = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")


def readable(data: bytes) -> str:
    """`data` and whatever base64 it carries (kombu stores message bodies base64-encoded)."""
    parts = [data]
    for chunk in _BASE64.findall(data):
        with contextlib.suppress(binascii.Error, ValueError):
            parts.append(base64.b64decode(chunk + b"=" * (-len(chunk) % 4)))
    return b"\n".join(parts).decode("utf-8", "replace")


def redis_everything(client_url: str) -> dict[str, str]:
    """Every key and value of every database, by `db/key`: typed reads and raw DUMPs."""
    found: dict[str, str] = {}
    for db in range(16):
        client = redis.Redis.from_url(client_url.rsplit("/", 1)[0] + f"/{db}")
        for key in client.scan_iter(count=1000):
            kind = client.type(key).decode()
            values: list[bytes] = [key]
            if kind == "string":
                values.append(client.get(key) or b"")
            elif kind == "list":
                values += client.lrange(key, 0, -1)
            elif kind == "hash":
                for name, value in client.hgetall(key).items():
                    values += [name, value]
            elif kind == "set":
                values += list(client.smembers(key))
            elif kind == "zset":
                values += client.zrange(key, 0, -1)
            elif kind == "stream":
                for _, entry in client.xrange(key):
                    for name, value in entry.items():
                        values += [name, value]
            values.append(client.dump(key) or b"")
            found[f"{db}/{key.decode(errors='replace')}"] = "\n".join(map(readable, values))
        client.close()
    return found


def assert_no_secret(where: str, text: str, run: Run) -> None:
    leaked = [name for name, value in run.secrets.items() if value in text]
    assert not leaked, f"{where} holds {leaked} (level {run.level})"


def test_the_failures_really_happened_and_the_secrets_were_really_used(run: Run) -> None:
    s = run.secrets
    fails = [r for r in run.receiver.received("/fails") if r.method == "POST"]
    assert any(("token", s["status_url_token"]) in r.params for r in fails)
    assert any(("token", s["env_url_token"]) in r.params for r in run.receiver.received("/fails"))
    assert any(("token", s["alert_url_token"]) in r.params for r in run.receiver.received("/hangs"))
    basic = base64.b64encode(f"ops:{s['status_url_password']}".encode()).decode()
    assert any(r.headers.get("authorization") == f"Basic {basic}" for r in fails)
    assert any(r.headers.get("X-Api-Key") == s["qrs_header"] for r in run.qrs_requests)
    # gamma's key was sent and taken; delta's (from the environment) was sent and refused.
    assert any(r.authorized for r in run.cloud_requests["gamma"])
    assert run.cloud_requests["delta"] and not any(
        r.authorized for r in run.cloud_requests["delta"]
    )
    # The broker and results really needed their passwords.
    port = int(run.redis_url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    assert requests.get(run.flower_url + "/api/tasks", timeout=10).status_code == 401
    for role, process, _ in run.deployment.processes:
        assert process.poll() is None, f"celery {role} died"


def test_no_secret_in_any_log(run: Run) -> None:
    for role, _, path in run.deployment.processes:
        text = path.read_text(errors="replace")
        assert_no_secret(f"the {role} log", text, run)
        # urllib3's DEBUG records: its connection line, and request lines with their query.
        assert "Starting new HTTP" not in text and ' HTTP/1.1" ' not in text, role
        if run.level == "DEBUG":  # really at DEBUG: Celery's format, and Flower's (tornado)
            assert (" DEBUG/" if role != "flower" else "\n[D ") in text, role


def test_no_secret_in_any_redis_key_or_value(run: Run) -> None:
    everything = redis_everything(run.redis_url)
    assert any(key.startswith("0/licmon:deadletters") for key in everything)
    assert any(key.startswith("1/celery-task-meta-") for key in everything)
    for where, text in everything.items():
        assert_no_secret(f"Redis {where}", text, run)


def test_no_secret_in_dead_letters(run: Run) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "licmon.cli.main", "deadletters", "--json", "--limit", "100"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=run.deployment.env()
        | {
            "LICMON_BROKER_URL": run.redis_url,
            "LICMON_INFLUXDB_TOKEN": run.secrets["influx_token"],
            "LICMON_ALERT_WEBHOOK_URL_2": "http://127.0.0.1:9/x",
            "LICMON_CLOUD_API_KEY_2": run.secrets["cloud_key_refused"],
        },
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    letters = json.loads(done.stdout)
    assert {(e["site"], e["destination"], e["target"]) for e in letters} >= EXPECTED_LETTERS
    assert_no_secret("licmon deadletters", done.stdout + done.stderr, run)


def test_no_secret_in_flower(run: Run) -> None:
    auth = ("ops", run.secrets["flower_password"])

    def failures() -> dict[str, Any]:
        tasks = requests.get(run.flower_url + "/api/tasks", auth=auth, timeout=10).json()
        failed = [t for t in tasks.values() if t.get("state") == "FAILURE"]
        return tasks if len(failed) >= len(EXPECTED_LETTERS) else {}

    tasks = wait_for(failures, 60, "Flower to show every failed task", every=0.5)
    shown = [json.dumps(tasks)]
    for task_id in tasks:
        info = requests.get(f"{run.flower_url}/api/task/info/{task_id}", auth=auth, timeout=10)
        assert info.status_code == 200
        shown.append(info.text)
    workers = requests.get(run.flower_url + "/api/workers", auth=auth, timeout=30)
    shown.append(workers.text)
    for text in shown:
        assert_no_secret("Flower's API", text, run)
