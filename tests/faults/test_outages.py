"""Destinations down, a webhook refusing, a worker stopped mid-countdown (scenario 5): the
declared retries carry every delivery through, once, and nothing is dead-lettered."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, run_simulator
from tests.faults.support import (
    DurableSubscriber,
    Mosquitto,
    Tally,
    dead_letters,
    fault_document,
    mqtt_receipts,
    running_redis,
    webhook_receipts,
)
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import Deployment, in_days, wait_for
from tests.services import InfluxServer, free_port

TICK = "2026-11-28T00:00:00Z"
CHECK = f"alpha@{TICK}"
DB = "butler_faults"


def influx_writes(influx: InfluxServer) -> int:
    """Writes InfluxDB accepted (204), from its HTTP log."""
    log = (influx.root / "influxd.log").read_text(errors="replace")
    return len(re.findall(rf'"POST /write\?db={DB}[^"]*" 204 ', log))


def test_destinations_down_and_a_worker_stopped_mid_countdown_deliver_each_once(
    root: Path, certs: QlikCerts, receiver: HttpReceiver, report: Callable[..., None]
) -> None:
    site = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)]))
    mosquitto = Mosquitto(root / "mosquitto")
    influx = InfluxServer(http_port=free_port(), root=root / "influx", http_log=True)
    (root / "influx").mkdir()
    mosquitto.start()
    influx.start()
    subscriber = DurableSubscriber(mosquitto.port, "faults/#")
    with running_redis(root) as server, run_simulator([site], certs) as simulator:
        document = fault_document(
            certs,
            simulator,
            receiver,
            ["/status"],
            # Enough declared retries to outlast a 30 s outage whatever the jitter draws:
            # countdowns of up to 4, then 8 s, 20 times.
            retries={
                "quickAttempts": 1,
                "quickWindowSeconds": 1,
                "retries": 20,
                "backoffSeconds": 4,
                "backoffMaxSeconds": 8,
            },
        )
        butler = document["Butler"]
        butler["qlikSenseLicense"]["serverLicenseMonitor"]["destination"] |= {
            "influxDb": {"enable": True},
            "mqtt": {"enable": True},
        }
        butler["influxDb"] = {
            "enable": True,
            "hostIP": "127.0.0.1",
            "hostPort": influx.http_port,
            "v1Config": {"dbName": DB, "retentionPolicy": {"name": "10d", "duration": "10d"}},
        }
        butler["mqttConfig"] = {
            "enable": True,
            "brokerHost": "127.0.0.1",
            "brokerPort": mosquitto.port,
            "qlikSenseServerLicenseTopic": "faults/status",
            "qlikSenseServerLicenseExpireTopic": "faults/alert",
        }
        deployment = Deployment(
            root, document, broker_url=server.url(0), result_backend=server.url(1)
        )
        try:
            first = deployment.start_worker(concurrency=2)
            # Everything down or refusing at once.
            mosquitto.stop()
            influx.stop()
            receiver.on("/status", status=500)
            began = time.monotonic()
            deployment.client().send_task(
                "license.fetch",
                args=("alpha",),
                kwargs={"check_id": CHECK, "tick": TICK},
                queue="license.fetch",
            )
            wait_for(
                lambda: len(re.findall(r"retry: Retry in", deployment.logs())) >= 3,
                20,
                "all three deliveries waiting for a retry",
            )
            # A worker stopped (SIGTERM) while retries wait for their countdown: it hands
            # them back to the broker on its way out, and a new worker takes them.
            time.sleep(max(0.0, began + 8 - time.monotonic()))
            deployment.stop(first)
            assert "Restoring" in deployment.processes[0][2].read_text()
            deployment.start_worker(concurrency=2)

            time.sleep(max(0.0, began + 20 - time.monotonic()))
            receiver.on("/status", status=200)
            time.sleep(max(0.0, began + 30 - time.monotonic()))
            mosquitto.start()
            influx.start()
            back = time.monotonic()

            def everything() -> bool:
                mqtt = mqtt_receipts(subscriber.received())
                return bool(
                    webhook_receipts(receiver)[(CHECK, "status")]
                    and mqtt[(CHECK, "mqtt")]
                    and influx_writes(influx)
                )

            wait_for(everything, 30, "the webhook, the MQTT status and the InfluxDB point")
            done = time.monotonic()
            # Every delivery of the check arrived; a duplicate would need a redelivery we
            # do not know of, or an MQTT resend: a bounded window for one to show.
            time.sleep(3)
            receipts = (
                webhook_receipts(receiver)
                + mqtt_receipts(subscriber.received())
                + Counter({(CHECK, "influxdb"): influx_writes(influx)})
            )
            tally = Tally({(CHECK, "status"), (CHECK, "mqtt"), (CHECK, "influxdb")}, receipts)
            points = influx.query("SELECT * FROM qlik_sense_server_license", db=DB)
            (series,) = points["results"][0]["series"]
            report(
                "5 Mosquitto, InfluxDB down 30 s, webhook 500 for 20 s, SIGTERM mid-countdown",
                tally,
                delivered_after_back_s=round(done - back, 1),
                dead_letters=len(dead_letters(server)),
            )
            assert not tally.lost and not tally.duplicated and not tally.unexpected, tally
            assert not dead_letters(server)
            assert [row[0] for row in series["values"]] == [TICK]  # the check's own point
        finally:
            deployment.stop_all()
            subscriber.close()
            mosquitto.stop()
            influx.stop()
