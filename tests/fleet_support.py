"""What the fleet's end-to-end tests share: a Redis of their own (they kill processes and
read whole databases), `licmon status` run as a command, and the deliveries per check id."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from licmon.simulator import QlikCerts
from licmon.simulator.server import Simulator
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import (
    Deployment,
    hook,
    ran_as,
    site_entries,
    wait_for,
    webhooks_only,
)
from tests.services import free_port, stop_process

LICMON = str(Path(sys.executable).parent / "licmon")
# Nothing on disk but its log: the test's Redis starts empty and leaves nothing behind.
NO_DISK = ("--save", "", "--appendonly", "no", "--dir")


@dataclass
class RedisServer:
    """A redis-server owned by one test module: no persistence, on a free loopback port."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="licmon-redis-")))
    process: subprocess.Popen[bytes] | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(self.url(db))

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                *NO_DISK,
                str(self.root),
            ],
            stdout=(self.root / "redis.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

        def answers() -> bool:
            try:
                return bool(self.client().ping())
            except redis.RedisError:
                return False

        wait_for(answers, 10, "redis-server to answer")

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.root, ignore_errors=True)


def on_own_redis(deployment: Deployment, server: RedisServer) -> Deployment:
    deployment.broker_url, deployment.result_backend = server.url(0), server.url(1)
    return deployment


def status(deployment: Deployment, *args: str) -> tuple[int, Any]:
    """`licmon status --json [args]`: its exit code and what it printed."""
    deployment.write_config()
    done = subprocess.run(
        [LICMON, "status", "--json", "--config", str(deployment.config_path), *args],
        capture_output=True,
        text=True,
        env=deployment.env(),
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout else done.stderr


def by_site(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {site["site"]: site for site in view["sites"]}


def delivered(receiver: HttpReceiver, path: str) -> Counter[str]:
    """How many times each check id reached the webhook at `path`."""
    return Counter(request.headers["x-licmon-check-id"] for request in receiver.received(path))


def fleet_document(
    certs: QlikCerts,
    simulator: Simulator,
    receiver: HttpReceiver,
    path: str,
    zones: dict[str, str | None],
    frequency: str = "every 2 seconds",
) -> dict[str, Any]:
    """Every simulated site (in its zone from `zones`) delivering its status to one webhook;
    a short lease, and failures given up at once."""
    return {
        "Butler": webhooks_only(frequency, [hook(receiver, path, "POST")], []),
        "licmon": {
            "sites": site_entries(certs, simulator, zones),
            "beat": {"leaseSeconds": 3},
            "broker": {"taskEvents": False},
            "timeouts": {"webhook": 2, "qrsRead": 2},
            "retries": {"quickAttempts": 1, "retries": 0, "backoffSeconds": 1},
        },
    }


def published(log: str) -> list[str]:
    """Check ids a beat put in a queue: sent, or sent again for a lost message."""
    return re.findall(r"(\S+@\S+): (?:sent to \S+ as task|the waiting check of .* sent again)", log)


def tick_accounting(
    beat_logs: list[str], worker_logs: str, received: Counter[str]
) -> dict[str, Any]:
    """Every check the beats sent against every check delivered: messages sent, checks
    delivered, and the lists that must stay empty: sent by two beats, delivered twice,
    sent but never delivered (lost; a check that waited counts as the newer tick it ran
    as), delivered but never sent."""
    sent = [check for log in beat_logs for check in published(log)]
    everything = "\n".join([*beat_logs, worker_logs])
    ran = {check: ran_as(everything, check) for check in sent}
    return {
        "messages sent": len(sent),
        "checks delivered": len(received),
        "sent by two beats": sorted(
            check for check in set(sent) if sum(check in published(log) for log in beat_logs) > 1
        ),
        "delivered twice": sorted(check for check, count in received.items() if count > 1),
        "lost": sorted(check for check in sent if ran[check] not in received),
        "delivered but never sent": sorted(set(received) - set(ran.values())),
    }
