"""The product end to end: a real Celery worker, real Redis, Mosquitto, InfluxDB 1.6 and an
HTTP receiver, fed by the QRS simulator over mutual TLS. Nothing here is mocked."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, ensure_qlik_certs, run_simulator
from licmon.simulator.server import Simulator
from tests.http_receiver import HttpReceiver, run_receiver
from tests.mqtt_private_broker import Received, Subscriber
from tests.pipeline_support import BROKER_URL, RESULT_BACKEND, Deployment, client, wait_for
from tests.services import InfluxServer

TODAY = dt.datetime.now(dt.UTC).date()
DB = "butler_e2e"


def in_days(days: int) -> dt.date:
    return TODAY + dt.timedelta(days=days)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return ensure_qlik_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    yield from run_receiver()


@pytest.fixture(scope="module")
def topics(mqtt_broker: tuple[str, int]) -> Iterator[tuple[str, Subscriber]]:
    prefix = f"licmon-e2e-{uuid.uuid4().hex[:8]}"
    subscriber = Subscriber(*mqtt_broker, f"{prefix}/#")
    yield prefix, subscriber
    subscriber.close()


@pytest.fixture(scope="module")
def broker(redis_url: str) -> redis.Redis:
    state = redis.Redis.from_url(BROKER_URL)
    state.flushdb()
    redis.Redis.from_url(RESULT_BACKEND).flushdb()
    return state


def document(
    certs: QlikCerts,
    simulator: Simulator,
    receiver: HttpReceiver,
    influx_port: int,
    prefix: str,
    status_hooks: list[dict[str, Any]],
    alert_hooks: list[dict[str, Any]],
) -> dict[str, Any]:
    cert = {
        "clientCert": str(certs.client_cert),
        "clientCertKey": str(certs.client_key),
        "clientCertCA": str(certs.root_ca),
    }
    sites = [
        {
            "name": name,
            "host": "127.0.0.1",
            "port": site.port,
            "verifyHostname": False,
            "cert": cert,
        }
        for name, site in simulator.sites.items()
    ]
    sites[0]["tags"] = [{"name": "env", "value": "prod"}]
    return {
        "Butler": {
            "qlikSenseLicense": {
                "serverLicenseMonitor": {
                    "enable": True,
                    "frequency": "every 24 hours",
                    "alert": {"thresholdDays": 60},
                    "destination": {
                        "influxDb": {
                            "enable": True,
                            "tag": {"static": [{"name": "foo", "value": "bar"}]},
                        },
                        "mqtt": {"enable": True},
                        "webhook": {"enable": True},
                    },
                }
            },
            "influxDb": {
                "enable": True,
                "hostIP": "127.0.0.1",
                "hostPort": influx_port,
                "v1Config": {"dbName": DB, "retentionPolicy": {"name": "10d", "duration": "10d"}},
                "tag": {
                    "static": [{"name": "foo", "value": "global"}, {"name": "dc", "value": "eu"}]
                },
            },
            "mqttConfig": {
                "enable": True,
                "brokerHost": "127.0.0.1",
                "brokerPort": 1883,
                "qlikSenseServerLicenseTopic": f"{prefix}/qliksense_server_license",
                "qlikSenseServerLicenseExpireTopic": f"{prefix}/qliksense_server_license_expire",
            },
            "webhookNotification": {
                "enable": True,
                "qlikSenseServerLicenseMonitor": {"rateLimit": 300, "webhooks": status_hooks},
                "qlikSenseServerLicenseExpiryAlert": {"rateLimit": 300, "webhooks": alert_hooks},
            },
        },
        "licmon": {
            "sites": sites,
            "mqtt": {"siteSubtopic": True},
            "timeouts": {"webhook": 1, "influxDb": 1, "mqtt": 2, "qrsRead": 2},
            "retries": {
                "quickAttempts": 2,
                "quickWindowSeconds": 1,
                "retries": 1,
                "backoffSeconds": 1,
                "backoffMaxSeconds": 1,
            },
        },
    }


def hook(receiver: HttpReceiver, path: str, method: str) -> dict[str, str]:
    return {"description": path, "webhookURL": receiver.url(path), "httpMethod": method}


# --- the healthy deployment ------------------------------------------------------------------

SITES = {
    "alpha": SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(30)])),
    "forever": SiteSpec("forever", license=SimulatedLicense.perpetual()),
    "lapsed": SiteSpec(
        "lapsed", license=SimulatedLicense(valid_to=[in_days(-10)], date_format="iso")
    ),
    "again": SiteSpec("again", license=SimulatedLicense(valid_to=[in_days(100)])),
    "flaky": SiteSpec("flaky", fault="503"),
    "denied": SiteSpec("denied", fault="401"),
}


@pytest.fixture(scope="module")
def healthy(
    tmp_path_factory: pytest.TempPathFactory,
    certs: QlikCerts,
    receiver: HttpReceiver,
    topics: tuple[str, Subscriber],
    influx_server: InfluxServer,
    broker: redis.Redis,
) -> Iterator[Deployment]:
    with run_simulator(list(SITES.values()), certs) as simulator:
        deployment = Deployment(
            tmp_path_factory.mktemp("healthy"),
            document(
                certs,
                simulator,
                receiver,
                influx_server.http_port,
                topics[0],
                status_hooks=[hook(receiver, "/license-monitor/post", "POST")],
                alert_hooks=[
                    hook(receiver, "/license-alert/post", "POST"),
                    {
                        **hook(receiver, "/license-alert/get", "GET"),
                        "webhookURL": receiver.url("/license-alert/get?team=ops"),
                    },
                    hook(receiver, "/license-alert/put", "PUT"),
                ],
            ),
        )
        deployment.start_worker()
        try:
            yield deployment
        finally:
            deployment.stop_all()


def fetch(site: str, check_id: str, tick: str) -> Any:
    return client().send_task(
        "license.fetch", args=(site,), kwargs={"check_id": check_id, "tick": tick}
    )


def messages_for(subscriber: Subscriber, site: str, count: int) -> list[Received]:
    seen: list[Received] = []

    def enough() -> bool:
        while not subscriber.messages.empty():
            seen.append(subscriber.messages.get())
        return len([m for m in seen if m.topic.endswith("/" + site)]) >= count

    wait_for(enough, 15, f"{count} MQTT message(s) for {site}")
    return [m for m in seen if m.topic.endswith("/" + site)]


def requests_with(receiver: HttpReceiver, check_id: str, count: int) -> list[Any]:
    def matching() -> list[Any]:
        found = [r for r in receiver.received() if r.headers.get("x-licmon-check-id") == check_id]
        return found if len(found) >= count else []

    return wait_for(matching, 15, f"{count} webhook call(s) for {check_id}")


def test_status_and_alert_reach_every_destination_as_butler_sends_them(
    healthy: Deployment,
    receiver: HttpReceiver,
    topics: tuple[str, Subscriber],
    influx_server: InfluxServer,
) -> None:
    prefix, subscriber = topics
    tick = "2026-11-28T00:00:00Z"
    result = fetch("alpha", "alpha@" + tick, tick).get(timeout=30)
    assert (result["status"], result["daysUntilExpiry"], result["checkId"]) == (
        "warning",
        30,
        "alpha@" + tick,
    )
    assert sorted((d["destination"], d["target"]) for d in result["deliveries"]) == [
        ("influxdb", "influxdb"),
        ("mqtt", "alert"),
        ("mqtt", "status"),
        ("webhook", "alert-1"),
        ("webhook", "alert-2"),
        ("webhook", "alert-3"),
        ("webhook", "status-1"),
    ]
    expiry = in_days(30).isoformat()
    expiry_raw = (
        SimulatedLicense(valid_to=[in_days(30)]).to_json()["keyDetails"].split("Valid To: ")[1][:22]
    )

    status_message, alert_message = sorted(
        messages_for(subscriber, "alpha", 2), key=lambda m: m.topic
    )
    assert status_message.topic == f"{prefix}/qliksense_server_license/alpha"
    assert (status_message.qos, status_message.retain) == (1, False)
    assert json.loads(status_message.payload) == {
        "licenseExpired": False,
        "expiryDateStr": expiry_raw,
        "daysUntilExpiry": 30,
        "expiryDate": expiry,
        "site": "alpha",
        "checkId": "alpha@" + tick,
    }
    assert alert_message.topic == f"{prefix}/qliksense_server_license_expire/alpha"
    assert (
        alert_message.payload
        == f"Qlik Sense server license is about to expire in 30 days, on {expiry}"
    )

    calls = {r.path: r for r in requests_with(receiver, "alpha@" + tick, 4)}
    butler_keys = {"licenseExpired": False, "expiryDateStr": expiry_raw, "daysUntilExpiry": 30}
    assert calls["/license-monitor/post"].method == "POST"
    assert calls["/license-monitor/post"].json() == {"event": "server license status"} | butler_keys
    assert (
        calls["/license-alert/post"].json()
        == {"event": "server license about to expire alert"} | butler_keys
    )
    assert calls["/license-alert/put"].method == "PUT"
    assert (
        calls["/license-alert/put"].json()
        == {"event": "server license about to expire alert"} | butler_keys
    )
    get = calls["/license-alert/get"]
    assert get.method == "GET" and get.body == b""
    assert get.params == [
        ("team", "ops"),
        ("event", "server license about to expire alert"),
        ("licenseExpired", "false"),
        ("expiryDateStr", expiry_raw),
        ("daysUntilExpiry", "30"),
    ]
    assert calls["/license-monitor/post"].headers["x-licmon-site"] == "alpha"

    def point() -> list[Any]:
        answer = influx_server.query(
            "SELECT * FROM qlik_sense_server_license WHERE site = 'alpha'", db=DB
        )["results"][0]
        return answer.get("series", [])

    (series,) = wait_for(point, 15, "the InfluxDB point")
    row = dict(zip(series["columns"], series["values"][0], strict=True))
    assert row == {
        "time": tick,
        "days_until_expiry": 30,
        "expiry_date": expiry,
        "license_expired": False,
        "foo": "bar",  # the feature's static tag wins over the global one
        "dc": "eu",
        "env": "prod",
        "site": "alpha",
    }
    fields = influx_server.query("SHOW FIELD KEYS FROM qlik_sense_server_license", db=DB)
    assert sorted(map(tuple, fields["results"][0]["series"][0]["values"])) == [
        ("days_until_expiry", "float"),
        ("expiry_date", "string"),
        ("license_expired", "boolean"),
    ]
    policies = influx_server.query(f'SHOW RETENTION POLICIES ON "{DB}"')["results"][0]
    assert policies["series"][0]["values"][1][:2] == ["10d", "240h0m0s"]


def test_expired_and_perpetual_licenses(
    healthy: Deployment,
    receiver: HttpReceiver,
    topics: tuple[str, Subscriber],
    influx_server: InfluxServer,
) -> None:
    _, subscriber = topics
    tick = "2026-11-28T01:00:00Z"
    lapsed = fetch("lapsed", "lapsed@" + tick, tick).get(timeout=30)
    forever = fetch("forever", "forever@" + tick, tick).get(timeout=30)
    assert (lapsed["status"], lapsed["daysUntilExpiry"], lapsed["licenseExpired"]) == (
        "expired",
        -10,
        True,
    )
    # A perpetual license raises no alert anywhere (Butler said "expire in null days").
    assert (forever["status"], forever["daysUntilExpiry"]) == ("ok", None)
    assert {d["target"] for d in forever["deliveries"]} == {"influxdb", "status", "status-1"}

    alert = next(m for m in messages_for(subscriber, "lapsed", 2) if "expire/" in m.topic)
    assert alert.payload == f"Qlik Sense server license expired on {in_days(-10).isoformat()}"
    calls = {r.path: r for r in requests_with(receiver, "lapsed@" + tick, 4)}
    assert calls["/license-alert/post"].json()["event"] == "server license has expired alert"
    assert calls["/license-alert/post"].json()["daysUntilExpiry"] == -10
    (status,) = requests_with(receiver, "forever@" + tick, 1)
    assert status.json() == {
        "event": "server license status",
        "licenseExpired": False,
        "expiryDateStr": None,
        "daysUntilExpiry": None,
    }

    def point() -> list[Any]:
        answer = influx_server.query(
            "SELECT * FROM qlik_sense_server_license WHERE site = 'forever'", db=DB
        )["results"][0]
        return answer.get("series", [])

    (series,) = wait_for(point, 15, "the perpetual license's point")
    row = dict(zip(series["columns"], series["values"][0], strict=True))
    assert (row["license_expired"], row["days_until_expiry"], row["expiry_date"]) == (
        False,
        None,
        None,
    )


def test_the_same_tick_twice_delivers_once(
    healthy: Deployment, receiver: HttpReceiver, topics: tuple[str, Subscriber]
) -> None:
    _, subscriber = topics
    tick = "2026-11-29T00:00:00Z"
    first = fetch("again", "again@" + tick, tick)
    second = fetch("again", "again@" + tick, tick)  # a second beat, or a resend
    results = [first.get(timeout=30), second.get(timeout=30)]
    assert sorted(result is None for result in results) == [False, True]
    requests_with(receiver, "again@" + tick, 1)
    messages_for(subscriber, "again", 1)
    time.sleep(2)  # let any duplicate arrive before counting
    assert (
        len(
            [
                r
                for r in receiver.received()
                if r.headers.get("x-licmon-check-id") == "again@" + tick
            ]
        )
        == 1
    )
    assert len(messages_for(subscriber, "again", 1)) == 1


def test_rate_limit_holds_per_webhook_event_and_site_in_redis(
    healthy: Deployment, receiver: HttpReceiver, broker: redis.Redis
) -> None:
    ticks = ["2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z"]
    for tick in ticks:
        fetch("again", "again@" + tick, tick).get(timeout=30)
    time.sleep(2)
    status_calls = [
        r.headers["x-licmon-check-id"]
        for r in receiver.received("/license-monitor/post")
        if r.headers.get("x-licmon-site") == "again"
    ]
    # The first check of the test before this one took the 300 s window.
    assert status_calls == ["again@2026-11-29T00:00:00Z"]
    keys = [key.decode() for key in broker.keys("licmon:ratelimit:*again/server license status")]
    assert len(keys) == 1 and 0 < broker.ttl(keys[0]) <= 300


def test_qrs_failures_retry_then_dead_letter(healthy: Deployment, broker: redis.Redis) -> None:
    tick = "2026-11-28T02:00:00Z"
    for site in ("flaky", "denied"):
        outcome = fetch(site, f"{site}@{tick}", tick)
        with pytest.raises(Exception) as caught:
            outcome.get(timeout=30)
        assert site in str(caught.value)
    done = subprocess.run(
        [sys.executable, "-m", "licmon.cli.main", "deadletters", "--json"],
        capture_output=True,
        text=True,
        env=healthy.env(),
        timeout=30,
        check=True,
    )
    letters = {entry["site"]: entry for entry in json.loads(done.stdout)}
    assert letters["flaky"]["attempts"] == 2  # the first run and one Celery retry
    assert "503" in letters["flaky"]["reason"]
    assert letters["denied"]["attempts"] == 1  # permanent: no retry
    assert "401" in letters["denied"]["reason"]
    assert letters["denied"]["checkId"] == f"denied@{tick}"
