"""What the benchmarks share: the simulated estate, the destinations, timings from results.

Every piece is real: the QRS simulator over mutual TLS, Redis, Mosquitto, a private
InfluxDB 1.x, and an HTTP receiver. Times come from the result backend (`date_done` of each
delivery task, `checkedAt` of its check), so nothing in the pipeline is instrumented.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from licmon.simulator import SimulatedLicense, SiteSpec, ensure_qlik_certs, run_simulator  # noqa: E402
from licmon.simulator.server import Simulator  # noqa: E402
from tests.http_receiver import HttpReceiver, run_receiver  # noqa: E402
from tests.pipeline_support import (  # noqa: E402
    BROKER_URL,
    RESULT_BACKEND,
    Deployment,
    client,
    document,
    hook,
    in_days,
)
from tests.services import InfluxServer, free_port, port_open  # noqa: E402


@dataclass
class Estate:
    deployment: Deployment
    simulator: Simulator
    receiver: HttpReceiver
    influx: InfluxServer

    @property
    def site_names(self) -> list[str]:
        return list(self.simulator.sites)


def require_services() -> None:
    missing = [
        name
        for name, port in (("Redis", 6379), ("Mosquitto", 1883))
        if not port_open("127.0.0.1", port)
    ]
    if missing:
        raise SystemExit(
            f"the benchmark needs {' and '.join(missing)} on 127.0.0.1 (make services)"
        )


@contextmanager
def estate(root: Path, sites: int, status_hooks: int, alert_hooks: int) -> Iterator[Estate]:
    """`sites` simulated sites (30 days left, so alerts fire) wired to every destination."""
    require_services()
    for url in (BROKER_URL, RESULT_BACKEND):
        redis.Redis.from_url(url).flushdb()
    with ExitStack() as stack:
        certs = ensure_qlik_certs(root / "certs")
        specs = [
            SiteSpec(f"s{i:04d}", license=SimulatedLicense(valid_to=[in_days(30)]))
            for i in range(sites)
        ]
        simulator = stack.enter_context(run_simulator(specs, certs))
        receiver = stack.enter_context(contextmanager(run_receiver)())
        influx = InfluxServer(http_port=free_port())
        influx.start()
        stack.callback(influx.cleanup)
        config = document(
            certs,
            simulator,
            receiver,
            influx.http_port,
            "licmon-bench",
            status_hooks=[hook(receiver, f"/status-{i}", "POST") for i in range(status_hooks)],
            alert_hooks=[hook(receiver, f"/alert-{i}", "POST") for i in range(alert_hooks)],
        )
        notification = config["Butler"]["webhookNotification"]
        for group in ("qlikSenseServerLicenseMonitor", "qlikSenseServerLicenseExpiryAlert"):
            notification[group]["rateLimit"] = 0  # every run must call every webhook
        config["licmon"]["timeouts"] = {"webhook": 10, "influxDb": 10, "mqtt": 10, "qrsRead": 30}
        deployment = Deployment(root, config)
        deployment.write_config()
        stack.callback(deployment.stop_all)
        yield Estate(deployment, simulator, receiver, influx)


def fetch(site: str, check_id: str) -> Any:
    tick = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return client().send_task(
        "license.fetch",
        args=(site,),
        kwargs={"check_id": check_id, "tick": tick},
        queue="license.fetch",
    )


def answer_to_last_delivery(
    fetch_result: dict[str, Any], timeout: float = 120
) -> tuple[float, dt.datetime]:
    """Seconds from the QRS answer (the check's `checkedAt`) to the last delivery's end."""
    app = client()
    done = []
    for delivery in fetch_result["deliveries"]:
        result = app.AsyncResult(delivery["taskId"])
        result.get(timeout=timeout, propagate=True)
        done.append(result.date_done)
    checked = dt.datetime.fromisoformat(fetch_result["checkedAt"].replace("Z", "+00:00"))
    last = max(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC) for moment in done)
    return (last - checked).total_seconds(), last


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(share * 100) - 1]
