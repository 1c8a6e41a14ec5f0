"""What the benchmarks share: the simulated estate, its destinations, and the clocks on them.

Every piece is real: the QRS simulator over mutual TLS, Redis, Mosquitto, a private
InfluxDB 1.x, and an HTTP receiver. Times are taken from the outside (see harness.py): when
the simulator sent a QRS answer, when the receiver, the MQTT subscriber and the InfluxDB
forwarder saw each delivery. Nothing reads the result backend.

Redis, the result backend and Mosquitto are the ones the tests use:
LICMON_TEST_BROKER_URL, LICMON_TEST_RESULT_BACKEND, LICMON_TEST_MQTT_HOST/PORT.
"""

from __future__ import annotations

import datetime as dt
import functools
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from celery import Celery

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))

from harness import (  # noqa: E402
    QUEUES,
    AnswerLog,
    Arrivals,
    InfluxForwarder,
    MqttRecorder,
    start_timed_simulator,
)

from licmon.simulator import SimulatedLicense, ensure_qlik_certs  # noqa: E402
from tests.http_receiver import HttpReceiver, run_receiver  # noqa: E402
from tests.pipeline_support import (  # noqa: E402
    BROKER_URL,
    CELERY,
    RESULT_BACKEND,
    Deployment,
    document,
    hook,
    in_days,
)
from tests.services import (  # noqa: E402
    MQTT_HOST,
    MQTT_PORT,
    InfluxServer,
    free_port,
    port_open,
    stop_process,
)

PREFIX = "licmon-bench"


def raise_descriptor_limit() -> dict[str, int]:
    """Lift this process's soft RLIMIT_NOFILE to its hard limit (children inherit it).

    The harness alone needs more than 1024 descriptors for 500 sites: a listening socket per
    site plus the server side of every kept-alive QRS connection the workers hold (one per
    site and worker process). At the usual soft limit of 1024 the simulator's accept()
    fails with EMFILE, the last sites' QRS requests time out, and those checks end as dead
    letters.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return {
        "soft_limit_found": soft,
        "soft_limit_used": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


DESCRIPTOR_LIMIT = raise_descriptor_limit()


@dataclass
class Estate:
    deployment: Deployment
    simulator: Any
    answers: AnswerLog
    receiver: HttpReceiver
    influx: InfluxServer
    forwarder: InfluxForwarder
    mqtt: MqttRecorder
    arrivals: Arrivals

    @property
    def site_names(self) -> list[str]:
        return list(self.simulator.sites)


def host_port(url: str, default: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default


def redis_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def require_services() -> None:
    """The Redis of LICMON_TEST_BROKER_URL / _RESULT_BACKEND and the Mosquitto of
    LICMON_TEST_MQTT_HOST / _PORT (defaults: the machine's, 6379 and 1883)."""
    wanted = {
        f"Redis at {BROKER_URL}": host_port(BROKER_URL, 6379),
        f"Redis at {RESULT_BACKEND}": host_port(RESULT_BACKEND, 6379),
        f"Mosquitto at {MQTT_HOST}:{MQTT_PORT}": (MQTT_HOST, MQTT_PORT),
    }
    missing = [name for name, (host, port) in wanted.items() if not port_open(host, port)]
    if missing:
        raise SystemExit(
            f"the benchmark needs {' and '.join(missing)} (make services, or set "
            "LICMON_TEST_BROKER_URL, LICMON_TEST_RESULT_BACKEND, LICMON_TEST_MQTT_PORT)"
        )


def flush_redis() -> None:
    for url in dict.fromkeys((BROKER_URL, RESULT_BACKEND)):
        redis.Redis.from_url(url).flushdb()


@contextmanager
def estate(
    root: Path,
    sites: int,
    status_hooks: int,
    alert_hooks: int,
    task_events: bool | None = None,
) -> Iterator[Estate]:
    """`sites` simulated sites (30 days left, so alerts fire) wired to every destination."""
    require_services()
    flush_redis()
    with ExitStack() as stack:
        certs = ensure_qlik_certs(root / "certs")
        # First, so its socket gets a low descriptor whatever the simulator opens (paho
        # select()s, which fails on descriptors >= 1024).
        recorder = MqttRecorder(MQTT_HOST, MQTT_PORT, PREFIX)
        stack.callback(recorder.close)
        simulator, answers = start_timed_simulator(
            [(f"s{i:04d}", SimulatedLicense(valid_to=[in_days(30)])) for i in range(sites)],
            certs,
        )
        stack.callback(simulator.close)
        receiver = stack.enter_context(contextmanager(run_receiver)())
        influx = InfluxServer(http_port=free_port())
        influx.start()
        stack.callback(influx.cleanup)
        forwarder = InfluxForwarder(influx.url)
        stack.callback(forwarder.close)
        config = document(
            certs,
            simulator,
            receiver,
            forwarder.port,
            PREFIX,
            status_hooks=[hook(receiver, f"/status-{i}", "POST") for i in range(status_hooks)],
            alert_hooks=[hook(receiver, f"/alert-{i}", "POST") for i in range(alert_hooks)],
        )
        config["Butler"]["mqttConfig"]["brokerHost"] = MQTT_HOST
        config["Butler"]["mqttConfig"]["brokerPort"] = MQTT_PORT
        config["licmon"]["sites"][0].pop("tags", None)  # every site's point the same shape
        notification = config["Butler"]["webhookNotification"]
        for group in ("qlikSenseServerLicenseMonitor", "qlikSenseServerLicenseExpiryAlert"):
            notification[group]["rateLimit"] = 0  # every run must call every webhook
        config["licmon"]["timeouts"] = {"webhook": 10, "influxDb": 10, "mqtt": 10, "qrsRead": 30}
        if task_events is not None:
            set_task_events(config, task_events)
        deployment = Deployment(root, config)
        deployment.write_config()
        stack.callback(deployment.stop_all)
        yield Estate(
            deployment,
            simulator,
            answers,
            receiver,
            influx,
            forwarder,
            recorder,
            Arrivals(receiver, recorder, forwarder),
        )


def set_task_events(config: dict[str, Any], on: bool) -> None:
    """`licmon.broker.taskEvents`: worker_send_task_events / task_send_sent_event (the
    switch "pipeline v2" adds; an unknown key is ignored by older versions)."""
    config["licmon"].setdefault("broker", {})["taskEvents"] = on


def tick() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.cache
def sender() -> Celery:
    """A client without a result backend: it publishes and nothing else, like beat.

    (A client with the Redis result backend subscribes to every task's result channel, and
    its UNSUBSCRIBEs would be counted as the pipeline's commands.)
    """
    app = Celery("licmon-bench-client", broker=BROKER_URL)
    app.conf.task_serializer = "json"
    app.conf.accept_content = ["json"]
    return app


def fetch(site: str, check_id: str) -> Any:
    """`license.fetch(site, check_id, tick)` on its queue: the public way in, as beat sends
    it (worker/dispatch.py: no result stored)."""
    return sender().send_task(
        "license.fetch",
        args=(site,),
        kwargs={"check_id": check_id, "tick": tick()},
        queue="license.fetch",
        ignore_result=True,
    )


def wait_drained(timeout: float = 30) -> None:
    """Until no message is delivered but unacknowledged (kombu's `unacked` hash) and every
    queue is empty: the last acknowledgement has happened."""
    broker = redis.Redis.from_url(BROKER_URL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with broker.pipeline(transaction=False) as pipe:
            pipe.hlen("unacked")
            for name in QUEUES:
                pipe.llen(name)
            if not any(pipe.execute()):
                return
        time.sleep(0.005)
    raise TimeoutError(f"messages still unacknowledged after {timeout} s")


def process_tree(root_pid: int) -> list[int]:
    pids, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        pids.append(pid)
        children = Path(f"/proc/{pid}/task/{pid}/children")
        with suppress(OSError):
            pending += [int(child) for child in children.read_text().split()]
    return pids


def start_bare_worker(
    world: Estate, pool: str, concurrency: int, events: bool = False
) -> subprocess.Popen[bytes]:
    """The bare Celery app (bench/bare_app.py) on the estate's config and Redis."""
    log = world.deployment.root / f"bare-{time.monotonic_ns()}.log"
    env = world.deployment.env() | {"BARE_TASK_EVENTS": "1" if events else "0"}
    name = f"bare{time.monotonic_ns()}@%h"
    command = [CELERY, "-A", "bare_app", "worker", "--loglevel=INFO", "--pool", pool]
    process = subprocess.Popen(
        [*command, "-c", str(concurrency), "-n", name],
        cwd=BENCH,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    world.deployment.processes.append(("bare-worker", process, log))  # stopped with the rest
    deadline = time.monotonic() + 30
    while "ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(f"bare worker did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    stop_process(process, timeout=20)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(share * 100) - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [value * 1000 for value in seconds]
    return {
        "n": len(ms),
        "median": round(statistics.median(ms), 1),
        "p95": round(percentile(ms, 0.95), 1),
        "min": round(min(ms), 1),
        "max": round(max(ms), 1),
    }


def lean_python() -> str:
    """The interpreter without Flower (`make footprint`'s), if there is one."""
    lean = REPO / ".venv-lean" / "bin" / "python"
    return str(lean) if lean.exists() else sys.executable
