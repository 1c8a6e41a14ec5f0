"""A Qlik Cloud tenant end to end, with real processes: 20 days from its end with its
analyzer allotment at its minimum, checked by a real Celery worker, told to an alert webhook
and MQTT once each, written to InfluxDB 1.6 and served by `licmon exporter`; its API key is
in none of what they show."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from licmon.simulator import (
    CloudAllotment,
    CloudTenants,
    CloudTenantSpec,
    SimulatedCloudLicense,
    SimulatedLicense,
    SiteSpec,
    run_cloud_tenants,
    run_simulator,
)
from licmon.simulator.server import Simulator
from tests.fleet_support import LICMON
from tests.pipeline_support import (
    INFLUX_DB,
    Deployment,
    Stack,
    client,
    deliveries_done,
    in_days,
    never,
    wait_for,
)
from tests.services import InfluxServer, free_port, stop_process

pytest_plugins = ["tests.pipeline_fixtures"]

TENANT = "acme-cloud"
ALERTS = "/cloud-alert/post"
KEY = f"eyJhbGciOi.{uuid.uuid4().hex}.cloudkey"


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudTenants]:
    allotments = [CloudAllotment("analyzer", 50, 45), CloudAllotment("professional", 10, 2)]
    spec = CloudTenantSpec(
        TENANT, api_key=KEY, license=SimulatedCloudLicense(ends_in_days=20, allotments=allotments)
    )
    with run_cloud_tenants([spec], tmp_path_factory.mktemp("cloud")) as running:
        yield running


@pytest.fixture(scope="module")
def simulator(certs: Any) -> Iterator[Simulator]:
    spec = SiteSpec("qrs-beside", license=SimulatedLicense(valid_to=[in_days(365)]))
    with run_simulator([spec], certs) as running:
        yield running


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    simulator: Simulator,
    tenants: CloudTenants,
    stack: Stack,
    broker: redis.Redis,
) -> Iterator[Deployment]:
    body = stack.document(simulator, alert_hooks=[stack.hook(ALERTS)], rate_limit=0)
    tenant = tenants.tenants[TENANT]
    body["licmon"]["cloudTenants"] = [
        {"name": TENANT, "url": tenant.url, "apiKey": KEY, "caFile": str(tenants.ca_file)}
    ]
    body["licmon"]["cloudAlerts"] = {"allotments": {"analyzer": {"minAvailable": 5}}}
    broker.delete(*(f"licmon:{what}:qlik_cloud:{TENANT}" for what in ("alerts", "fleet")))
    deployment = Deployment(tmp_path_factory.mktemp("cloud-e2e"), body)
    deployment.start_worker(concurrency=2)
    try:
        yield deployment
    finally:
        deployment.stop_all()


def check(deployment: Deployment, tick: datetime) -> dict[str, Any]:
    result = (
        client()
        .send_task(
            "license.fetch",
            args=(TENANT,),
            kwargs={
                "check_id": f"{TENANT}@{uuid.uuid4().hex[:6]}",
                "tick": tick.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "kind": "qlik_cloud",
            },
            queue="license.fetch",
        )
        .get(timeout=60)
    )
    deliveries_done(deployment, result)
    return result


def test_the_level_30_and_the_allotment_alert_once_per_target_points_and_metrics(
    deployment: Deployment, stack: Stack, tenants: CloudTenants, influx_server: InfluxServer
) -> None:
    first = datetime.now(UTC).replace(microsecond=0)
    result = check(deployment, first)
    assert (result["status"], result["daysUntilExpiry"], result["low"]) == (
        "warning",
        20,
        ["analyzer"],
    )
    assert KEY not in json.dumps(result)

    def posted() -> list[dict[str, Any]]:
        return [r.json() for r in stack.receiver.received(ALERTS)]  # type: ignore[misc]

    def mqtt_alerts() -> list[str]:
        topic = f"{stack.prefix}/qliksense_server_license_expire/{TENANT}"
        return [m.payload for m in stack.messages.for_site(TENANT) if m.topic == topic]

    wait_for(lambda: len(posted()) == 2 and len(mqtt_alerts()) == 2, 15, "the two alerts")
    by_event = {alert["event"]: alert for alert in posted()}
    assert set(by_event) == {"cloud license about to expire alert", "cloud allotment low"}
    assert by_event["cloud license about to expire alert"]["level"] == 30
    assert (
        by_event["cloud allotment low"]["allotment"],
        by_event["cloud allotment low"]["available"],
    ) == (
        "analyzer",
        5,
    )
    assert sorted(mqtt_alerts()) == sorted(
        [
            f"Qlik Cloud analyzer allotment low on {TENANT}: 5 of 50 available",
            f"Qlik Cloud license of {TENANT} ends in 20 days, on {result['expiryDate']}",
        ]
    )
    status_topic = f"{stack.prefix}/qlik_cloud_license/{TENANT}"
    (document,) = [m for m in stack.messages.for_site(TENANT) if m.topic == status_topic]
    assert json.loads(document.payload)["tenant"] == TENANT and KEY not in document.payload

    check(deployment, first + timedelta(seconds=1))  # nothing new: nobody hears again
    never(lambda: len(posted()) > 2 or len(mqtt_alerts()) > 2, 1.0, "a repeated alert")

    def rows(measurement: str) -> list[dict[str, Any]]:
        query = f"SELECT * FROM {measurement} WHERE tenant = '{TENANT}'"
        series = influx_server.query(query, db=INFLUX_DB)["results"][0].get("series", [])
        return [dict(zip(s["columns"], row, strict=True)) for s in series for row in s["values"]]

    wait_for(lambda: len(rows("qlik_cloud_license")) == 2, 15, "both checks' license points")
    latest = max(rows("qlik_cloud_license"), key=lambda row: row["time"])
    assert (latest["days_until_expiry"], latest["license_status"], latest["trial"]) == (
        20,
        "Ok",
        "false",
    )
    allotments = {
        row["allotment"]: row
        for row in rows("qlik_cloud_allotment")
        if row["time"] == latest["time"]
    }
    assert (allotments["analyzer"]["available"], allotments["professional"]["units_used"]) == (5, 2)

    port = free_port()
    exporter = subprocess.Popen(
        [LICMON, "exporter", "--config", str(deployment.config_path), "--port", str(port)],
        env=deployment.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def scraped() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return r.read().decode()
            except OSError:
                return ""

        text = wait_for(scraped, 20, "the exporter's first scrape")
    finally:
        stop_process(exporter)
    assert KEY not in text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    labels = (("tenant", TENANT), ("zone", ""))
    end = tenants.tenants[TENANT].license.end()
    assert samples[("qlik_cloud_license_expiry_timestamp_seconds", labels)] == end.timestamp()
    analyzer = (("allotment", "analyzer"), *labels)
    assert samples[("qlik_cloud_allotment_available", analyzer)] == 5
    assert (
        samples[("licmon_check_success", (("check", "qlik_cloud"), ("site", TENANT), ("zone", "")))]
        == 1
    )


def test_the_tenant_status_view(deployment: Deployment) -> None:
    done = subprocess.run(
        [LICMON, "status", "--kind", "cloud", "--json", "--config", str(deployment.config_path)],
        env=deployment.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    (tenant,) = json.loads(done.stdout)["tenants"]
    assert (tenant["tenant"], tenant["status"], tenant["daysUntilExpiry"], tenant["low"]) == (
        TENANT,
        "warning",
        20,
        ["analyzer"],
    )
    assert KEY not in done.stdout + done.stderr
