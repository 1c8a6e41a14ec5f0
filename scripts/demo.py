"""`make demo`: the whole service on this machine, printing every delivery as it happens.

Three simulated Qlik Sense sites (30 days left, 200 days left, expired 5 days ago), a Celery
beat and worker as real processes, and every destination that can run here: Redis, Mosquitto
and InfluxDB, plus a webhook receiver this script runs. Each service the demo uses is its own,
started on a free loopback port and stopped at exit: it never touches (or flushes) a server
someone else runs, such as the one tests use. Without redis-server it falls back to kombu's
SQLite transport and says so; without mosquitto or influxd that destination is off. Runs
DEMO_SECONDS (default 75: the startup check and at least one tick of `every 1 minute`), or
until Ctrl-C with DEMO_SECONDS=0.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import requests
import yaml

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".licmon" / "demo"
BIN = Path(sys.executable).parent
SITES = {"prod": ("+30", 4242), "test": ("+200", 4243), "lab": ("-5", 4244)}
TOPIC = "qliksense/qliksense_server_license"
SHOWN = ("startup check", "Sending due task", "checked ", " for ", "gave up", "retry ")


def say(text: str) -> None:
    print(f"demo | {text}", flush=True)


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


class Demo:
    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.webhook_port = 0
        self.cloud: Any = None  # the simulated Qlik Cloud tenant, once started
        # Working directories of the demo's own servers, removed at exit.
        self.scratch = Path(tempfile.mkdtemp(prefix="licmon-demo-"))

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Path:
        log = STATE / f"{name}.log"
        process = subprocess.Popen(
            args,
            cwd=REPO,
            env=env or os.environ.copy(),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return log

    def stop(self) -> None:
        if self.cloud is not None:
            self.cloud.close()
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)

    # --- the outside world ------------------------------------------------------------------

    def start_redis(self) -> int | None:
        """A Redis of our own on a free port, or None (then the embedded fallback runs)."""
        binary = shutil.which("redis-server")
        # DEMO_EMBEDDED=1 shows the fallback on a machine that does have Redis.
        if binary is None or os.environ.get("DEMO_EMBEDDED") == "1":
            return None
        port = free_port()
        folder = self.scratch / "redis"
        folder.mkdir()
        # A fresh, empty server each run (its folder is removed at exit), so there is
        # nothing to flush; with AOF, as deployed, so worker and beat find it persistent.
        args = ["--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)]
        self.spawn("redis", [binary, *args, "--save", "", "--appendonly", "yes"])
        if not wait_until(lambda: reachable(port), 10):
            raise SystemExit("redis-server did not start; see .licmon/demo/redis.log")
        return port

    def start_mosquitto(self) -> int | None:
        binary = shutil.which("mosquitto")
        if binary is None:
            say("MQTT: mosquitto is not installed (Debian package 'mosquitto'); skipped")
            return None
        port = free_port()
        config = self.scratch / "mosquitto.conf"
        # `user`: run as root, Mosquitto would otherwise switch to a `mosquitto` user.
        config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"user {getpass.getuser()}\n"
        )
        self.spawn("mosquitto", [binary, "-c", str(config)])
        if not wait_until(lambda: reachable(port), 10):
            say("MQTT: mosquitto did not start (see .licmon/demo/mosquitto.log); skipped")
            return None
        return port

    def start_simulators(self) -> None:
        for name, (valid_to, port) in SITES.items():
            log = self.spawn(
                f"qrs-{name}",
                [
                    str(BIN / "licmon"),
                    "qrs-simulator",
                    "--cert-dir",
                    str(STATE / "certs"),
                    "--site",
                    f"{name}={port}",
                    "--valid-to",
                    valid_to,
                ],
            )
            if not wait_until(lambda log=log: "serving" in log.read_text(), 20):
                raise SystemExit(f"the QRS simulator for {name} did not start:\n{log.read_text()}")
            say(
                f"simulated Qlik Sense site {name!r}: https://127.0.0.1:{port}/qrs/license, "
                f"Valid To {valid_to} days"
            )

    def start_cloud_tenant(self) -> dict[str, str]:
        """One simulated Qlik Cloud tenant, in this process: its `licmon.cloudTenants` entry.
        The CA file is beside the sites' certificates."""
        from licmon.simulator import CloudTenantSpec, SimulatedCloudLicense, start_cloud_tenants

        spec = CloudTenantSpec("cloud-demo", license=SimulatedCloudLicense(ends_in_days=45))
        self.cloud = start_cloud_tenants([spec], STATE / "certs")
        tenant = self.cloud.tenants["cloud-demo"]
        say(f"simulated Qlik Cloud tenant 'cloud-demo': {tenant.url}, license ends in 45 days")
        return {
            "name": tenant.name,
            "url": tenant.url,
            "apiKey": tenant.api_key,
            "caFile": str(tenant.ca_file),
        }

    def start_influxdb(self) -> int | None:
        binary = shutil.which("influxd")
        if binary is None:
            say("InfluxDB: influxd is not installed (Debian package 'influxdb'); skipped")
            return None
        root = STATE / "influxdb"
        root.mkdir(parents=True, exist_ok=True)
        config = root / "influxdb.conf"
        port = free_port()
        config.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{free_port()}"\n'
            f'[meta]\n  dir = "{root}/meta"\n[data]\n  dir = "{root}/data"\n'
            f'  wal-dir = "{root}/wal"\n[http]\n  bind-address = "127.0.0.1:{port}"\n'
            "  log-enabled = false\n[monitor]\n  store-enabled = false\n"
        )
        self.spawn("influxd", [binary, "-config", str(config)])
        if not wait_until(lambda: reachable(port), 20):
            say("InfluxDB did not start; skipped")
            return None
        return port

    def start_webhook_receiver(self) -> None:
        class Receiver(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                check = self.headers.get("X-Licmon-Check-Id", "")
                shown = body.decode() if body else self.path
                say(f"webhook  <- {self.command} {self.path.split('?')[0]} {check}: {shown}")
                self.send_response(204)
                self.end_headers()

            do_GET = do_POST = do_PUT = _any

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        self.webhook_port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def subscribe_mqtt(self, port: int) -> None:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.on_connect = lambda c, *_: c.subscribe("qliksense/#", qos=1)
        client.on_message = lambda _c, _u, msg: say(
            f"mqtt     <- {msg.topic}: {msg.payload.decode()}"
        )
        client.connect("127.0.0.1", port)
        client.loop_start()

    # --- the service ----------------------------------------------------------------------

    def write_config(
        self, influx_port: int | None, mqtt_port: int | None, cloud_tenants: list[dict[str, str]]
    ) -> Path:
        certs = STATE / "certs"
        cert = {
            "clientCert": str(certs / "client.pem"),
            "clientCertKey": str(certs / "client_key.pem"),
            "clientCertCA": str(certs / "root.pem"),
        }
        hook = f"http://127.0.0.1:{self.webhook_port}"
        document = {
            "Butler": {
                "qlikSenseLicense": {
                    "serverLicenseMonitor": {
                        "enable": True,
                        "frequency": "every 1 minute",
                        "alert": {"thresholdDays": 60},
                        "destination": {
                            "influxDb": {
                                "enable": influx_port is not None,
                                "tag": {"static": [{"name": "foo", "value": "bar"}]},
                            },
                            "mqtt": {"enable": mqtt_port is not None},
                            "webhook": {"enable": True},
                        },
                    }
                },
                "influxDb": {
                    "enable": influx_port is not None,
                    "hostIP": "127.0.0.1",
                    "hostPort": influx_port or 8086,
                    "dbName": "butler",
                    "retentionPolicy": {"name": "10d", "duration": "10d"},
                },
                "mqttConfig": {
                    "enable": mqtt_port is not None,
                    "brokerHost": "127.0.0.1",
                    "brokerPort": mqtt_port or 1883,  # unused while disabled
                    "qlikSenseServerLicenseTopic": f"{TOPIC}",
                    "qlikSenseServerLicenseExpireTopic": f"{TOPIC}_expire",
                },
                "webhookNotification": {
                    "enable": True,
                    "qlikSenseServerLicenseMonitor": {
                        "rateLimit": 0,
                        "webhooks": [
                            {
                                "description": "status",
                                "webhookURL": f"{hook}/license-monitor/post",
                                "httpMethod": "POST",
                            }
                        ],
                    },
                    "qlikSenseServerLicenseExpiryAlert": {
                        "rateLimit": 300,
                        "webhooks": [
                            {
                                "description": "alert",
                                "webhookURL": f"{hook}/license-alert/get",
                                "httpMethod": "GET",
                            }
                        ],
                    },
                },
            },
            "licmon": {
                "sites": [
                    {
                        "name": name,
                        "host": "127.0.0.1",
                        "port": port,
                        "verifyHostname": False,
                        "cert": cert,
                    }
                    for name, (_, port) in SITES.items()
                ],
                "cloudTenants": cloud_tenants,
            },
        }
        path = STATE / "demo.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def run(self) -> None:
        if STATE.exists():
            shutil.rmtree(STATE)
        STATE.mkdir(parents=True)
        env = os.environ | {"LICMON_BEAT_STATE": str(STATE / "beat-schedule")}
        redis_port = self.start_redis()
        if redis_port is not None:
            env |= {
                "LICMON_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
                "LICMON_RESULT_BACKEND": f"redis://127.0.0.1:{redis_port}/1",
            }
            pool = ["-c", "4"]
            say(f"broker: the demo's own Redis at 127.0.0.1:{redis_port} (db 0, results db 1)")
        else:
            env |= {
                "LICMON_BROKER_URL": f"sqla+sqlite:///{STATE / 'broker.sqlite'}",
                "LICMON_RESULT_BACKEND": f"db+sqlite:///{STATE / 'results.sqlite'}",
            }
            pool = ["--pool", "threads", "-c", "4"]
            say(
                "broker: no redis-server (or DEMO_EMBEDDED=1) -- falling back to kombu's embedded "
                "SQLite transport and an in-process state store (single worker process)"
            )

        self.start_simulators()
        cloud_tenant = self.start_cloud_tenant()
        influx_port = self.start_influxdb()
        mqtt_port = self.start_mosquitto()
        say(
            f"InfluxDB: {f'127.0.0.1:{influx_port}' if influx_port else 'off'}; "
            f"MQTT: {f'127.0.0.1:{mqtt_port}' if mqtt_port else 'off'}"
        )
        self.start_webhook_receiver()
        if mqtt_port:
            self.subscribe_mqtt(mqtt_port)
        config = self.write_config(influx_port, mqtt_port, [cloud_tenant])
        env["LICMON_CONFIG"] = str(config)
        say(f"config: {config.relative_to(REPO)} (every 1 minute, threshold 60 days)")

        # As the images start them: `celery -A worker worker|beat` less celery's whole CLI.
        launcher = [str(BIN / "python"), "-m", "worker"]
        logs = [
            self.spawn("worker", [*launcher, "worker", "--loglevel=INFO", *pool], env),
            self.spawn("beat", [*launcher, "beat", "--loglevel=INFO"], env),
        ]
        say("started worker and beat (python -m worker); their logs are in .licmon/demo/")
        seconds = float(os.environ.get("DEMO_SECONDS", "75"))
        say("running " + (f"for {seconds:g} s" if seconds else "until Ctrl-C"))
        self.follow(logs, seconds)
        self.summary(env, influx_port)

    def follow(self, logs: list[Path], seconds: float) -> None:
        offsets = dict.fromkeys(logs, 0)
        deadline = time.monotonic() + seconds if seconds else float("inf")
        while time.monotonic() < deadline:
            for log in logs:
                with log.open("rb") as handle:
                    handle.seek(offsets[log])
                    chunk = handle.read()
                    offsets[log] = handle.tell()
                for line in chunk.decode(errors="replace").splitlines():
                    if any(marker in line for marker in SHOWN):
                        say(f"{log.stem:6} | {line}")
            if any(process.poll() is not None for process in self.processes):
                say("a process stopped early; see .licmon/demo/*.log")
                return
            time.sleep(0.2)

    def summary(self, env: dict[str, str], influx_port: int | None) -> None:
        if influx_port:
            answer = requests.get(
                f"http://127.0.0.1:{influx_port}/query",
                params={"db": "butler", "q": "SELECT * FROM qlik_sense_server_license"},
                timeout=5,
            ).json()
            rows = answer["results"][0].get("series", [{}])[0].get("values", [])
            say(f"InfluxDB holds {len(rows)} point(s) of qlik_sense_server_license")
        for command in (["check"], ["status"], ["deadletters"]):
            say("$ licmon " + " ".join(command))
            subprocess.run([str(BIN / "licmon"), *command], env=env, check=False)


def main() -> int:
    # SIGTERM (a `timeout`, a closed session) stops the demo as Ctrl-C does, so the servers
    # it started are stopped too rather than left running.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    demo = Demo()
    try:
        demo.run()
    except KeyboardInterrupt:
        say("stopping")
    finally:
        demo.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
