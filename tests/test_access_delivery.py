"""The access-license kind end to end without Celery: the simulator read over mutual TLS,
judged, and delivered by the real destinations to the session's InfluxDB 1.6 and Mosquitto.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from licmon.checking import check_site
from licmon.checks.access_license import ACCESS_LICENSE
from licmon.core.alerts import CheckOutcome
from licmon.destinations.base import Delivery
from licmon.plugins import PLUGINS, load_config_text
from licmon.resources import Resources
from licmon.simulator import (
    QlikCerts,
    Seats,
    SimulatedAccess,
    Simulator,
    SiteSpec,
    run_simulator,
)
from tests.mqtt_private_broker import Subscriber
from tests.qrs_support import session_certs
from tests.services import REDIS_URL, InfluxServer

destination = PLUGINS.destination

TICK = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return session_certs(tmp_path_factory, loopback=True)[0]


@pytest.fixture(scope="module")
def sim(certs: QlikCerts) -> Iterator[Simulator]:
    with run_simulator([SiteSpec("prod")], certs) as simulator:
        yield simulator


def config_for(certs: QlikCerts, port: int, influx: str, mqtt: tuple[str, int], topic: str) -> Any:
    host, _, influx_port = influx.removeprefix("http://").partition(":")
    text = f"""\
        Butler:
          qlikSenseLicense:
            serverLicenseMonitor:
              enable: true
              destination:
                mqtt: {{enable: true}}
                influxDb: {{enable: false}}
            licenseMonitor:
              enable: true
              destination:
                influxDb:
                  enable: true
                  tag: {{static: [{{name: feature, value: access}}]}}
          influxDb:
            enable: true
            hostIP: {host}
            hostPort: {influx_port}
            dbName: butler
            tag: {{static: [{{name: env, value: test}}]}}
          mqttConfig:
            enable: true
            brokerHost: {mqtt[0]}
            brokerPort: {mqtt[1]}
            qlikSenseServerLicenseTopic: {topic}/qliksense_server_license
        licmon:
          sites:
            - name: prod
              host: 127.0.0.1
              port: {port}
              verifyHostname: false
              tags: [{{name: dc, value: a}}]
              cert: {{clientCert: {certs.client_cert}, clientCertKey: {certs.client_key},
                     clientCertCA: {certs.root_ca}}}
        """
    return load_config_text(textwrap.dedent(text), env={})


def deliver_all(config: Any, status: Any, check_id: str) -> list[str]:
    """What tasks/fetch.py plans and tasks/deliver.py does, target by target."""
    site = config.site("prod")
    notices = ACCESS_LICENSE.notices(status)
    outcome = CheckOutcome(ok=True, checked_at=TICK)
    delivery = Delivery(site, ACCESS_LICENSE, status, notices, check_id, TICK, outcome)
    resources = Resources(REDIS_URL)
    done = []
    try:
        for name in ("influxdb", "mqtt", "webhook", "apprise"):
            settings = config.settings(name, ACCESS_LICENSE.name)
            if settings is None:
                continue
            target = destination(name)
            for each in target.status_targets(settings):
                done.append(f"{name}/{each}")
                target.deliver(settings, each, delivery, resources)
    finally:
        resources.close()
    return done


def test_points_and_mqtt_document_of_every_type(
    sim: Simulator,
    certs: QlikCerts,
    influx: InfluxServer,
    mqtt_broker: tuple[str, int],
) -> None:
    site = sim.sites["prod"]
    site.access = SimulatedAccess.all_types(
        professional=Seats(total=20, allocated=15, used=12, quarantined=1, excess=0)
    )
    topic = f"licmon-test/{uuid.uuid4().hex[:8]}"
    config = config_for(certs, site.port, influx.url, mqtt_broker, topic)
    prod = config.site("prod")
    with contextlib.closing(Resources(REDIS_URL)) as client:
        status = check_site(ACCESS_LICENSE, prod, client, TICK, config)
    assert status.error is None
    subscriber = Subscriber(*mqtt_broker, f"{topic}/#")
    try:
        assert deliver_all(config, status, "prod@1") == ["influxdb/influxdb", "mqtt/status"]
        message = subscriber.next()
    finally:
        subscriber.close()

    assert message.topic == f"{topic}/qliksense_access_license"
    document = json.loads(message.payload)
    assert document["site"] == "prod" and document["checkId"] == "prod@1"
    assert document["professional"] == {
        "allocated": 15,
        "available": 4,
        "excess": 0,
        "quarantined": 1,
        "total": 20,
        "used": 12,
    }
    assert document["tokens_available"] == {"available_tokens": 250, "total_tokens": 1000}

    result = influx.query(
        'SELECT * FROM "qlik_sense_license" GROUP BY "license_type"', db="butler"
    )["results"][0]["series"]
    by_type = {
        s["tags"]["license_type"]: [dict(zip(s["columns"], v, strict=True)) for v in s["values"]]
        for s in result
    }
    assert sorted(by_type) == sorted(
        [
            "professional",
            "analyzer",
            "analyzer_capacity",
            "token_login",
            "token_user",
            "tokens_available",
        ]
    )
    (professional,) = by_type["professional"]
    assert professional == {
        "time": "2026-03-01T06:00:00Z",
        "allocated": 15,
        "allocated_minutes": None,
        "allocated_tokens": None,
        "available": 4,
        "available_tokens": None,
        "dc": "a",
        "env": "test",
        "excess": 0,
        "feature": "access",
        "quarantined": 1,
        "quarantined_tokens": None,
        "site": "prod",
        "token_cost": None,
        "total": 20,
        "total_tokens": None,
        "unavailable_minutes": None,
        "unavailable_tokens": None,
        "used": 12,
        "used_minutes": None,
        "used_tokens": None,
    }
    (user,) = by_type["token_user"]
    assert {k: v for k, v in user.items() if v is not None and k.endswith("tokens")} == {
        "allocated_tokens": 50,
        "quarantined_tokens": 0,
        "used_tokens": 20,  # Butler's is always missing
    }
    assert by_type["token_user"][0]["token_cost"] == 1
    fields = influx.query('SHOW FIELD KEYS FROM "qlik_sense_license"', db="butler")
    types = dict(fields["results"][0]["series"][0]["values"])
    assert types == {
        name: "float"
        for name in (
            "allocated",
            "allocated_minutes",
            "allocated_tokens",
            "available",
            "available_tokens",
            "excess",
            "quarantined",
            "quarantined_tokens",
            "token_cost",
            "total",
            "total_tokens",
            "unavailable_minutes",
            "unavailable_tokens",
            "used",
            "used_minutes",
            "used_tokens",
        )
    }
    tags = influx.query('SHOW TAG KEYS FROM "qlik_sense_license"', db="butler")
    assert sorted(v[0] for v in tags["results"][0]["series"][0]["values"]) == [
        "dc",
        "env",
        "feature",
        "license_type",
        "site",
    ]


def test_a_disabled_type_writes_no_point_and_a_failed_check_none(
    sim: Simulator, certs: QlikCerts, influx: InfluxServer, mqtt_broker: tuple[str, int]
) -> None:
    site = sim.sites["prod"]
    site.access = SimulatedAccess(analyzer=None)
    config = config_for(certs, site.port, influx.url, mqtt_broker, "licmon-test/x")
    prod = config.site("prod")
    with contextlib.closing(Resources(REDIS_URL)) as client:
        status = check_site(ACCESS_LICENSE, prod, client, TICK, config)
        site.fault = "503"
        try:
            failed = check_site(ACCESS_LICENSE, prod, client, TICK, config)
        finally:
            site.fault = "none"
    deliver_all(config, status, "prod@2")
    deliver_all(config, failed, "prod@3")
    assert failed.error is not None and "answered 503" in failed.error
    result = influx.query(
        'SHOW TAG VALUES FROM "qlik_sense_license" WITH KEY = "license_type"', db="butler"
    )
    assert [v[1] for v in result["results"][0]["series"][0]["values"]] == ["professional"]
    count = influx.query('SELECT COUNT("total") FROM "qlik_sense_license"', db="butler")
    assert count["results"][0]["series"][0]["values"][0][1] == 1
