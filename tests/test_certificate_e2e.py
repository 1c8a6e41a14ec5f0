"""Certificates end to end, with real processes: a site whose proxy certificate ends in 10
days and whose client certificate ends in 40, checked by a real Celery worker, told to an
alert webhook and MQTT, written to InfluxDB 1.6 and served by `licmon exporter`."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from licmon.simulator import (
    QlikCerts,
    SimulatedLicense,
    SiteSpec,
    ensure_client_cert,
    run_simulator,
)
from licmon.simulator.server import Simulator
from licmon.simulator.tls_endpoint import TlsEndpoint
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
from tests.qrs_support import proxy_ending_in
from tests.services import InfluxServer, free_port, stop_process

pytest_plugins = ["tests.pipeline_fixtures"]

SITE = "certsite"
ALERTS = "/certificate-alert/post"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsEndpoint]:
    with proxy_ending_in(10, tmp_path_factory.mktemp("proxy")) as (endpoint, _):
        yield endpoint


@pytest.fixture(scope="module")
def simulator(certs: QlikCerts) -> Iterator[Simulator]:
    spec = SiteSpec(SITE, license=SimulatedLicense(valid_to=[in_days(365)]))
    with run_simulator([spec], certs) as running:
        yield running


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    simulator: Simulator,
    stack: Stack,
    broker: redis.Redis,
    proxy: TlsEndpoint,
) -> Iterator[Deployment]:
    body = stack.document(simulator, alert_hooks=[stack.hook(ALERTS)], rate_limit=0)
    (site,) = body["licmon"]["sites"]
    client_pair = ensure_client_cert(stack.certs, 40)
    site["cert"] |= {"clientCert": str(client_pair.cert), "clientCertKey": str(client_pair.key)}
    site["certificates"] = {"enable": True, "endpoints": [f"127.0.0.1:{proxy.port}"]}
    broker.delete(*(f"licmon:{what}:certificate:{SITE}" for what in ("alerts", "fleet")))
    deployment = Deployment(tmp_path_factory.mktemp("certificates"), body)
    deployment.start_worker(concurrency=2)
    try:
        yield deployment
    finally:
        deployment.stop_all()


def check(deployment: Deployment, step: str, tick: datetime) -> dict[str, Any]:
    result = (
        client()
        .send_task(
            "license.fetch",
            args=(SITE,),
            kwargs={
                "check_id": f"{SITE}@{step}-{uuid.uuid4().hex[:6]}",
                "tick": tick.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "kind": "certificate",
            },
            queue="license.fetch",
        )
        .get(timeout=60)
    )
    deliveries_done(deployment, result)
    return result


def test_one_alert_per_target_naming_the_proxy_points_for_every_certificate_and_metrics(
    deployment: Deployment,
    stack: Stack,
    proxy: TlsEndpoint,
    influx_server: InfluxServer,
) -> None:
    endpoint = f"127.0.0.1:{proxy.port}"
    first = datetime.now(UTC).replace(microsecond=0)
    result = check(deployment, "one", first)
    assert (result["status"], result["daysUntilExpiry"]) == ("warning", 10)

    def posted() -> list[dict[str, Any]]:
        return [r.json() for r in stack.receiver.received(ALERTS)]  # type: ignore[misc]

    def mqtt_alerts() -> list[str]:
        topic = f"{stack.prefix}/qliksense_server_license_expire/{SITE}"
        return [m.payload for m in stack.messages.for_site(SITE) if m.topic == topic]

    wait_for(lambda: len(posted()) == 1 and len(mqtt_alerts()) == 1, 15, "the alerts")
    (alert,) = posted()
    assert alert["event"] == "certificate about to expire alert"
    assert (alert["site"], alert["endpoint"], alert["subject"]) == (SITE, endpoint, "localhost")
    assert (alert["daysUntilExpiry"], alert["level"]) == (10, 14)
    (text,) = mqtt_alerts()
    assert text.startswith(f"Certificate localhost of {SITE} ({endpoint}) expires in 10 days")
    status_topic = f"{stack.prefix}/qliksense_certificate/{SITE}"
    (document,) = [m for m in stack.messages.for_site(SITE) if m.topic == status_topic]
    assert json.loads(document.payload)["daysUntilExpiry"] == 10

    # The next check crosses no new level: nobody hears of it again.
    check(deployment, "two", first + timedelta(seconds=1))
    never(lambda: len(posted()) > 1 or len(mqtt_alerts()) > 1, 1.0, "a second alert")

    def points() -> list[dict[str, Any]]:
        query = f"SELECT * FROM qlik_sense_certificate WHERE site = '{SITE}'"
        series = influx_server.query(query, db=INFLUX_DB)["results"][0].get("series", [])
        return [dict(zip(s["columns"], row, strict=True)) for s in series for row in s["values"]]

    wait_for(lambda: len({p["time"] for p in points()}) == 2, 15, "both checks' points")
    latest = [p for p in points() if p["time"] == max(q["time"] for q in points())]
    days = {(p["endpoint"], p["subject"]): p["days_until_expiry"] for p in latest}
    qrs = f"127.0.0.1:{stack_port(deployment)}"
    assert days[(endpoint, "localhost")] == 10
    assert [d for (where, _), d in days.items() if where.startswith("client:")] == [40]
    assert any(where == qrs for where, _ in days)  # the QRS port's chain
    assert {p["expired"] for p in latest} == {False}
    assert all(p["not_after"].endswith("Z") for p in latest)
    assert {p["foo"] for p in latest} == {"bar"}  # the server license's static tags

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
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    proxy_leaf = (("endpoint", endpoint), ("site", SITE), ("subject", "localhost"), ("zone", ""))
    assert samples[("qlik_sense_certificate_days_until_expiry", proxy_leaf)] == 10
    assert samples[("qlik_sense_certificate_expired", proxy_leaf)] == 0
    ends = samples[("qlik_sense_certificate_expiry_timestamp_seconds", proxy_leaf)]
    assert abs(ends - (first + timedelta(days=10)).timestamp()) < 600
    client_days = [
        value
        for (name, labels), value in samples.items()
        if name == "qlik_sense_certificate_days_until_expiry"
        and dict(labels)["endpoint"].startswith("client:")
    ]
    assert client_days == [40]
    health = (("check", "certificate"), ("site", SITE), ("zone", ""))
    assert samples[("licmon_check_success", health)] == 1


def stack_port(deployment: Deployment) -> int:
    (site,) = deployment.document["licmon"]["sites"]
    return int(site["port"])


def test_the_certificate_status_view(deployment: Deployment, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            LICMON,
            "status",
            "--kind",
            "certificate",
            "--json",
            "--config",
            str(deployment.config_path),
        ],
        env=deployment.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    (site,) = json.loads(done.stdout)["sites"]
    assert (site["site"], site["status"], site["daysUntilExpiry"]) == (SITE, "warning", 10)
    assert len(site["certificates"]) >= 4
