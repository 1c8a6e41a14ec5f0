"""What the fault tests share: a Redis of their own, process surgery, and the tally.

Every fault test runs on a redis-server it starts on a free port (and may restart or kill),
never on the machine's: nothing here flushes or stops a server someone else runs.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion

from licmon.simulator import QlikCerts, Simulator
from tests.http_receiver import HttpReceiver
from tests.mqtt_private_broker import Received
from tests.pipeline_support import site_entries, wait_for, webhooks_only
from tests.services import free_port, port_open, stop_process

# Short enough for a test to wait for; the config accepts it because the fault tests use
# short timeouts and backoffs (licmon/config/reliability.py).
VISIBILITY_TIMEOUT = 30
# What the README promises on top of it: kombu's sweep every 5 s, its lock 10 s at most.
RESTORE_BOUND = 15


@dataclass
class RedisServer:
    """A redis-server of the test's own, on a free port, restartable in place (same port,
    same folder: with AOF or RDB it comes back with what it held)."""

    root: Path
    persistence: str = "aof"  # "aof", "rdb" or "none"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(self.url(db), socket_timeout=5)

    def arguments(self) -> list[str]:
        persistence = {
            "aof": ["--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            "rdb": ["--appendonly", "no", "--save", "3600 1"],
            "none": ["--appendonly", "no", "--save", ""],
        }[self.persistence]
        return [
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.root),
            *persistence,
        ]

    def start(self, timeout: float = 10) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "redis.log").open("ab")
        binary = shutil.which("redis-server") or "redis-server"
        self.process = subprocess.Popen(
            [binary, *self.arguments()], stdout=log, stderr=subprocess.STDOUT
        )

        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"redis-server exited, see {self.root / 'redis.log'}")
            try:
                return bool(self.client().ping())
            except redis.RedisError:
                return False

        wait_for(answers, timeout, f"redis-server on port {self.port}")

    def stop(self) -> None:
        """SIGTERM: Redis saves (AOF/RDB) and exits, as a service manager stops it."""
        stop_process(self.process, timeout=10)
        self.process = None
        wait_for(lambda: not port_open("127.0.0.1", self.port), 10, "Redis to close its port")

    def restart(self, down: float) -> tuple[float, float]:
        """Stop, stay down `down` seconds, start again: (went down, answers again)."""
        self.stop()
        went_down = time.monotonic()
        time.sleep(down)
        self.start()
        return went_down, time.monotonic()


@contextmanager
def running_redis(root: Path, persistence: str = "aof") -> Iterator[RedisServer]:
    server = RedisServer(root / "redis", persistence)
    server.start()
    try:
        yield server
    finally:
        stop_process(server.process, timeout=10)


@dataclass
class Mosquitto:
    """A plain, anonymous Mosquitto of the test's own (the fault tests stop it). It keeps
    its sessions across a restart, as a production broker would: a durable subscriber
    misses nothing published while it was reconnecting."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "mosquitto.conf"
        # `user`: as root, Mosquitto would switch to a `mosquitto` user otherwise.
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {self.root}/\n"
            f"user {getpass.getuser()}\n"
        )
        log = (self.root / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        wait_for(lambda: port_open("127.0.0.1", self.port), 10, "mosquitto to listen")

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


class DurableSubscriber:
    """An MQTT subscriber with a persistent session (clean session off, QoS 1): the broker
    keeps for it what is published while it is away, across the broker's restart too."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"licmon-fault-{uuid.uuid4().hex[:8]}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self._client.reconnect_delay_set(min_delay=0.2, max_delay=1)
        self._client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("the MQTT subscriber did not subscribe")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append(
                Received(message.topic, message.payload.decode(), message.qos, bool(message.retain))
            )

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# --- processes ----------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):  # the thread or process ended meanwhile
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def sender_of(client_port: int, pids: Iterable[int]) -> list[int]:
    """Which of `pids` holds the loopback TCP socket whose local port is `client_port`: the
    process that sent a request the receiver recorded (idle keep-alive sockets of other
    processes are on other ports)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == client_port:
            inodes.add(fields[9])
    found = []
    for pid in pids:
        with suppress(OSError):
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
            if any(f"socket:[{inode}]" in links for inode in inodes):
                found.append(pid)
    return found


def kill9(pids: Iterable[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def kill_whole_worker(process: subprocess.Popen[bytes]) -> None:
    """kill -9 of the worker and every process it started, as a machine dying would."""
    kill9([*descendants(process.pid), process.pid])
    process.wait(timeout=10)


# --- what arrived ---------------------------------------------------------------------------


@dataclass
class Tally:
    """Deliveries expected against what the receivers recorded, by (check id, target)."""

    expected: set[tuple[str, str]]
    receipts: Counter[tuple[str, str]]

    @property
    def delivered(self) -> int:
        return len(self.expected & set(self.receipts))

    @property
    def duplicated(self) -> int:
        return sum(count - 1 for key, count in self.receipts.items() if key in self.expected)

    @property
    def lost(self) -> set[tuple[str, str]]:
        return self.expected - set(self.receipts)

    @property
    def unexpected(self) -> set[tuple[str, str]]:
        return set(self.receipts) - self.expected

    def twice(self) -> set[tuple[str, str]]:
        return {key for key, count in self.receipts.items() if count > 1}

    def figures(self) -> dict[str, int]:
        return {
            "expected": len(self.expected),
            "delivered": self.delivered,
            "duplicated": self.duplicated,
            "lost": len(self.lost),
        }


def webhook_receipts(receiver: HttpReceiver) -> Counter[tuple[str, str]]:
    """Every webhook request the receiver accepted (2xx), by (check id, path without its
    leading slash). A call it refused (5xx) or never answered is no delivery."""
    return Counter(
        (request.headers.get("x-licmon-check-id", "?"), request.path.lstrip("/"))
        for request in receiver.received()
        if 200 <= request.status < 300
    )


def mqtt_receipts(messages: Iterable[Any]) -> Counter[tuple[str, str]]:
    """MQTT status messages by (check id, "mqtt")."""
    found: Counter[tuple[str, str]] = Counter()
    for message in messages:
        try:
            document = json.loads(message.payload)
        except ValueError:
            continue
        if isinstance(document, dict) and "checkId" in document:
            found[(document["checkId"], "mqtt")] += 1
    return found


def dead_letters(server: RedisServer) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in server.client().lrange("licmon:deadletters", 0, -1)]


# --- configuration --------------------------------------------------------------------------


def fault_document(
    certs: QlikCerts,
    simulator: Simulator,
    receiver: HttpReceiver,
    paths: list[str],
    *,
    retries: dict[str, float] | None = None,
    frequency: str = "every 24 hours",
) -> dict[str, Any]:
    """Sites of `simulator`, a status webhook per path, short timeouts, a 30 s visibility
    timeout. Licenses are far from expiry in these tests: status notices only."""
    hooks = [
        {"description": path, "webhookURL": receiver.url(path), "httpMethod": "POST"}
        for path in paths
    ]
    return {
        "Butler": webhooks_only(frequency, hooks, []),
        "licmon": {
            "sites": site_entries(certs, simulator),
            "broker": {"visibilityTimeoutSeconds": VISIBILITY_TIMEOUT},
            "timeouts": {"webhook": 2, "influxDb": 2, "mqtt": 2, "qrsConnect": 1, "qrsRead": 2},
            "retries": retries
            or {
                "quickAttempts": 1,
                "quickWindowSeconds": 1,
                "retries": 3,
                "backoffSeconds": 1,
                "backoffMaxSeconds": 2,
            },
        },
    }


def target_of(path: str, paths: list[str]) -> str:
    """The webhook target key (`status-N`) of a receiver path."""
    return f"status-{paths.index(path) + 1}"


def log_time(line: str) -> float | None:
    """The wall-clock time of a Celery log line, as time.time()."""
    match = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})", line)
    if not match:
        return None
    moment = time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
    return time.mktime(moment) + int(match.group(2)) / 1000
