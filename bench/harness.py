"""Timing from the outside: when a QRS answer left the simulator, when each delivery arrived.

Nothing here asks the pipeline (or its result backend) what it did. Every clock is
`time.monotonic()` in this process, where the simulator, the webhook receiver, the MQTT
subscriber and the InfluxDB forwarder all run:

- QRS answer: the simulator's handler has flushed the answer to the kernel (TCP_NODELAY, one
  write; see `instrument_simulator`);
- webhook: the receiver has read the whole request;
- MQTT: the subscriber's paho thread has parsed the PUBLISH;
- InfluxDB: the forwarder in front of influxd has relayed influxd's answer to /write (the
  point is stored).

`RedisCommands` counts what a check costs in Redis with MONITOR.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import requests
from paho.mqtt.enums import CallbackAPIVersion
from requests.adapters import HTTPAdapter

from tests.http_receiver import HttpReceiver

now = time.monotonic


@dataclass(frozen=True)
class Arrival:
    kind: str  # webhook, mqtt, influxdb
    site: str
    at: float
    detail: str = ""  # path, topic


# --- the QRS side ----------------------------------------------------------------------------


class AnswerLog:
    """When each site's `/qrs/license` answer left the simulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, list[float]] = defaultdict(list)

    def add(self, site: str, at: float) -> None:
        with self._lock:
            self._answers[site].append(at)

    def last(self, site: str, since: float = 0.0) -> float | None:
        with self._lock:
            found = [at for at in self._answers.get(site, ()) if at >= since]
        return found[-1] if found else None

    def first(self, site: str, since: float = 0.0) -> float | None:
        with self._lock:
            found = [at for at in self._answers.get(site, ()) if at >= since]
        return found[0] if found else None

    def count(self, since: float = 0.0) -> int:
        with self._lock:
            return sum(1 for ats in self._answers.values() for at in ats if at >= since)


def start_timed_simulator(sites: list[tuple[str, Any]], certs: Any) -> tuple[Any, AnswerLog]:
    """The QRS simulator, timed. The ONE place that touches licmon.simulator internals.

    `sites` are (name, SimulatedLicense). Two changes to the stock simulator, both about the
    harness, not the system measured:

    - each answer leaves in one write with TCP_NODELAY, then is timestamped. The stock
      handler writes headers and body separately with Nagle on, so on a kept-alive
      connection the body waits for the client's delayed ACK (about 40 ms a request);
      a Qlik server (http.sys) does not do that.
    - the accept loops poll every 0.5 s instead of 0.05 s: 500 idle sites polling at 50 ms
      cost about 20 % of a core in this process, on a 2-core machine the workers need.
    """
    import contextlib

    from licmon.simulator import SiteSpec
    from licmon.simulator import server as simulator_server

    answers = AnswerLog()

    class TimedHandler(simulator_server._Handler):
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            super().do_GET()
            self.wfile.flush()
            if urlsplit(self.path).path.rstrip("/").lower() == "/qrs/license":
                answers.add(self.server.site.name, now())

    class TimedServer(simulator_server._SiteServer):
        def __init__(self, site: Any, context: Any) -> None:
            super().__init__(site, context)
            self.RequestHandlerClass = TimedHandler

    class TimedSimulator(simulator_server.Simulator):
        def _start(self) -> None:
            context = simulator_server.server_ssl_context(self.certs)
            try:
                for site in self.sites.values():
                    server = TimedServer(site, context)
                    site.port = int(server.server_address[1])
                    self._running.start(server, f"qrs-simulator-{site.name}", poll_interval=0.5)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.close()
                raise

    specs = {name: SiteSpec(name, license=license_) for name, license_ in sites}
    simulator = TimedSimulator(
        certs, {name: simulator_server.Site(spec, "127.0.0.1") for name, spec in specs.items()}
    )
    simulator._start()
    return simulator, answers


class ChainOnlyAdapter(HTTPAdapter):
    """Verify the simulator's chain, not its host name (`verifyHostname: false`)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["assert_hostname"] = False
        super().init_poolmanager(*args, **kwargs)


# --- the delivery side -----------------------------------------------------------------------


def webhook_arrivals(receiver: HttpReceiver, since: float) -> list[Arrival]:
    return [
        Arrival("webhook", r.headers.get("x-licmon-site", "?"), r.at, r.path)
        for r in receiver.received()
        if r.at >= since
    ]


class MqttRecorder:
    """A subscriber on `<prefix>/#` noting when each message arrived (QoS 1 subscription)."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self.payloads: list[tuple[str, bytes]] = []
        subscribed: queue.Queue[bool] = queue.Queue()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"licmon-bench-{os.getpid()}",
            protocol=mqtt.MQTTv311,
        )
        client.on_connect = lambda c, *a: c.subscribe(f"{prefix}/#", qos=1)
        client.on_subscribe = lambda *a: subscribed.put(True)
        client.on_message = self._on_message
        client.connect(host, port)
        client.loop_start()
        subscribed.get(timeout=10)
        self._client = client

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        at = now()
        with self._lock:
            self._arrivals.append(Arrival("mqtt", msg.topic.rsplit("/", 1)[-1], at, msg.topic))

    def socket_fd(self) -> int:
        sock = self._client.socket()
        return sock.fileno() if sock is not None else -1

    def arrivals(self, since: float) -> list[Arrival]:
        with self._lock:
            return [a for a in self._arrivals if a.at >= since]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


_SITE_TAG = re.compile(r",site=([^, ]+)")


class InfluxForwarder:
    """An HTTP hop in front of influxd that notes when each /write was stored.

    Answers in one write with TCP_NODELAY (like the fixed webhook receiver), so it adds no
    Nagle stall of its own; its own cost is measured in `harness overheads`.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._local = threading.local()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.5,), name="influx-forwarder", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def arrivals(self, since: float) -> list[Arrival]:
        with self._lock:
            return [a for a in self._arrivals if a.at >= since]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        forwarder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("content-type", "authorization", "accept")
                }
                answer = forwarder._session().request(
                    self.command,
                    forwarder.upstream + self.path,
                    data=body,
                    headers=headers,
                    timeout=30,
                )
                path = urlsplit(self.path).path
                if path == "/write" and answer.status_code == 204 and body:
                    at = now()
                    sites = _SITE_TAG.findall(body.decode(errors="replace"))
                    with forwarder._lock:
                        for site in sites or ["?"]:
                            forwarder._arrivals.append(Arrival("influxdb", site, at, path))
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() in ("content-type", "x-influxdb-error", "x-influxdb-version"):
                        self.send_header(name, value)
                content = answer.content
                if answer.status_code != 204:
                    self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if answer.status_code != 204:
                    self.wfile.write(content)
                self.wfile.flush()

            do_GET = do_POST = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Arrivals:
    """Every delivery seen by the three recorders."""

    receiver: HttpReceiver
    mqtt: MqttRecorder
    influx: InfluxForwarder

    def since(self, since: float) -> list[Arrival]:
        return (
            webhook_arrivals(self.receiver, since)
            + self.mqtt.arrivals(since)
            + self.influx.arrivals(since)
        )

    def by_site(self, since: float) -> dict[str, list[Arrival]]:
        found: dict[str, list[Arrival]] = defaultdict(list)
        for arrival in self.since(since):
            found[arrival.site].append(arrival)
        return found

    def wait(self, site: str, count: int, since: float, timeout: float) -> list[Arrival]:
        deadline = now() + timeout
        while True:
            found = [a for a in self.since(since) if a.site == site]
            if len(found) >= count:
                return found
            if now() > deadline:
                kinds = sorted(f"{a.kind}:{a.detail}" for a in found)
                raise TimeoutError(
                    f"{site}: {len(found)}/{count} deliveries in {timeout} s {kinds}"
                )
            time.sleep(0.005)


# --- Redis commands --------------------------------------------------------------------------

# The pipeline's queues (and the bare app's, which uses the same names).
# MONITOR's capture and its per-check window live with the tests, which assert on them
# (tests/test_redis_cost.py); the bench reports them.
from tests.redis_monitor import QUEUES, Command, RedisCommands, monitoring  # noqa: E402, F401

# --- who else is using the CPUs --------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def tcp_sockets() -> Iterator[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of every TCP socket, from /proc/net/tcp{,6}."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote = (int(fields[n].rsplit(":", 1)[1], 16) for n in (1, 2))
            yield local, remote, fields[3], fields[9]


def _listener_inodes(port: int) -> set[str]:
    # 0A: LISTEN.
    return {inode for local, _, state, inode in tcp_sockets() if state == "0A" and local == port}


def listening_pids(ports: list[int]) -> set[int]:
    """Processes listening on these loopback ports (our Redis and Mosquitto)."""
    wanted = set().union(*(_listener_inodes(port) for port in ports))
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in wanted:
                    found.add(int(pid))
                    break
        except OSError:
            continue
    return found


def _descendants(root: int) -> set[int]:
    found, pending = set(), [root]
    while pending:
        pid = pending.pop()
        found.add(pid)
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as children:
                pending += [int(child) for child in children.read().split()]
        except OSError:
            pass
    return found


def _busy_ticks() -> int:
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle


def _process_stat(pid: int) -> tuple[int, int] | None:
    """(utime + stime, start time), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12]), int(fields[19])


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by `root` and its live descendants."""
    total = 0
    for pid in _descendants(root):
        found = _process_stat(pid)
        total += found[0] if found else 0
    return total / _TICKS


def _uptime_ticks() -> int:
    with open("/proc/uptime") as uptime:
        return int(float(uptime.read().split()[0]) * _TICKS)


class CpuMeter:
    """CPU used during a phase, in cores: by the bench (this process and its children,
    our Redis and Mosquitto) and by everything else on the machine (other people's tests).

    Sampled every 0.25 s, so the last moments of a process that ends are missed."""

    def __init__(self, service_pids: set[int]) -> None:
        self.services = service_pids
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._started = now()
        self._born_after = _uptime_ticks()
        self._busy = _busy_ticks()
        self._stop = threading.Event()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def _sample(self) -> None:
        for pid in _descendants(os.getpid()) | self.services:
            found = _process_stat(pid)
            if found is None:
                continue
            ticks, born = found
            if pid not in self._first:
                self._first[pid] = 0 if born >= self._born_after else ticks
            self._last[pid] = ticks

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sample()
        seconds = now() - self._started
        ours = sum(self._last[pid] - self._first[pid] for pid in self._last) / _TICKS
        busy = (_busy_ticks() - self._busy) / _TICKS
        me = os.getpid()
        harness = (self._last[me] - self._first[me]) / _TICKS
        return {
            "seconds": round(seconds, 1),
            # Workers, Redis, Mosquitto, influxd and this process:
            "bench_cores": round(ours / seconds, 2),
            # This process alone: the simulator, receiver, subscriber, forwarder, and
            # (throughput) the client publishing every fetch.
            "harness_process_cores": round(harness / seconds, 2),
            # Everything else on the machine.
            "other_cores": round(max(busy - ours, 0.0) / seconds, 2),
        }
