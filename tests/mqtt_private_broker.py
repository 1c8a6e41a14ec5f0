"""A private Mosquitto for MQTT sender tests: password file, no anonymous access, a TLS
listener, on free loopback ports; plus a subscriber that records what arrives.

The machine's Mosquitto is anonymous and plain; credentials, TLS and outages need our own.
"""

from __future__ import annotations

import getpass
import queue
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.http_receiver import Pki, make_test_pki
from tests.services import free_port, port_open, stop_process

USERNAME = "licmon"
PASSWORD = "br0ker-pa55"

_CONFIG = """\
per_listener_settings false
allow_anonymous false
password_file {root}/passwd
persistence false
log_dest file {root}/mosquitto.log
log_type error
log_type warning
log_type notice
user {user}
listener {plain_port} 127.0.0.1
listener {tls_port} 127.0.0.1
cafile {ca}
certfile {cert}
keyfile {key}
"""


@dataclass
class PrivateBroker:
    root: Path
    pki: Pki
    plain_port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        passwd = self.root / "passwd"
        passwd.touch()
        subprocess.run(
            ["mosquitto_passwd", "-b", str(passwd), USERNAME, PASSWORD],
            check=True,
            capture_output=True,
        )
        (self.root / "mosquitto.conf").write_text(
            _CONFIG.format(
                root=self.root,
                # Running as root, Mosquitto would switch to user "mosquitto", which cannot
                # read our temporary files; as anyone else this line is ignored.
                user=getpass.getuser(),
                plain_port=self.plain_port,
                tls_port=self.tls_port,
                ca=self.pki.ca_file,
                cert=self.pki.server_cert,
                key=self.pki.server_key,
            )
        )

    def start(self, timeout: float = 10.0) -> None:
        log = (self.root / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.root / "mosquitto.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_text = (self.root / "mosquitto.log").read_text(errors="replace")
                raise RuntimeError(f"mosquitto exited early:\n{log_text}")
            if port_open("127.0.0.1", self.plain_port) and port_open("127.0.0.1", self.tls_port):
                return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not open its ports")

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def mosquitto_available() -> bool:
    return shutil.which("mosquitto") is not None and shutil.which("mosquitto_passwd") is not None


def start_private_broker(root: Path) -> PrivateBroker:
    # The server certificate names only "localhost", so connecting to 127.0.0.1 exercises
    # the host-name check (and the `insecure` switch that skips it).
    pki = make_test_pki(root / "pki", server_names=("localhost",))
    broker = PrivateBroker(root=root, pki=pki)
    broker.start()
    return broker


@dataclass(frozen=True)
class Received:
    topic: str
    payload: str
    qos: int
    retain: bool


class Subscriber:
    """A plain paho client that subscribes (QoS 2, so the publisher's QoS shows) and records."""

    def __init__(
        self,
        host: str,
        port: int,
        topic: str,
        *,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.messages: queue.Queue[Received] = queue.Queue()
        self._subscribed = queue.Queue[bool]()
        self._topic = topic
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if username:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self._subscribed.put(True)
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()
        self._subscribed.get(timeout=10)

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe(self._topic, qos=2)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.messages.put(Received(msg.topic, msg.payload.decode(), msg.qos, bool(msg.retain)))

    def next(self, timeout: float = 5.0) -> Received:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
