"""Real loopback services for the tests: Redis, Mosquitto and a private InfluxDB 1.x.

Redis and Mosquitto are the machine's own (``make test`` starts them when they are down).
InfluxDB is started here, in a temporary folder on its own ports, so a test may stop and
restart it without touching anybody's real database.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

REDIS_URL = os.environ.get("LICMON_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MQTT_HOST = os.environ.get("LICMON_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("LICMON_TEST_MQTT_PORT", "1883"))
INFLUX_PORT = int(os.environ.get("LICMON_TEST_INFLUX_PORT", "18086"))


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_INFLUXD_CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = {http_log}
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""


@dataclass
class InfluxServer:
    """An influxd 1.x process owned by the test session, restartable in place."""

    http_port: int
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="licmon-influx-")))
    process: subprocess.Popen[bytes] | None = None
    # Log every HTTP request (influxd.log): the fault tests count the writes that arrived.
    http_log: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 20.0) -> None:
        binary = shutil.which("influxd")
        if binary is None:
            raise RuntimeError("influxd is not installed (Debian package 'influxdb')")
        config = self.root / "influxdb.conf"
        config.write_text(
            _INFLUXD_CONFIG.format(
                root=self.root,
                http_port=self.http_port,
                rpc_port=free_port(),
                http_log=str(self.http_log).lower(),
            )
        )
        log = (self.root / "influxd.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "-config", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"influxd exited early, see {self.root / 'influxd.log'}")
            try:
                if requests.get(f"{self.url}/ping", timeout=0.5).status_code == 204:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"influxd did not answer /ping within {timeout}s")

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def query(self, q: str, db: str | None = None) -> dict:
        params = {"q": q}
        if db:
            params["db"] = db
        response = requests.post(f"{self.url}/query", params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def running_influx(port: int = INFLUX_PORT) -> Iterator[InfluxServer]:
    server = InfluxServer(http_port=port if not port_open("127.0.0.1", port) else free_port())
    server.start()
    try:
        yield server
    finally:
        server.cleanup()
