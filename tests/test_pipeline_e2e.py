"""The product end to end: a real Celery worker, real Redis, Mosquitto, InfluxDB 1.6 and an
HTTP receiver, fed by the QRS simulator over mutual TLS. Nothing here is mocked."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import redis

from licmon.simulator import SimulatedLicense, SiteSpec, run_simulator
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import (
    INFLUX_DB,
    Deployment,
    MessageLog,
    Stack,
    client,
    deliveries_done,
    fetch,
    in_days,
    influx_row,
    never,
    requests_with,
    wait_for,
)
from tests.services import InfluxServer

pytest_plugins = ["tests.pipeline_fixtures"]

SITES = {
    "alpha": SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(30)])),
    "forever": SiteSpec("forever", license=SimulatedLicense.perpetual()),
    "lapsed": SiteSpec(
        "lapsed", license=SimulatedLicense(valid_to=[in_days(-10)], date_format="iso")
    ),
    "again": SiteSpec("again", license=SimulatedLicense(valid_to=[in_days(100)])),
    # Only the rate-limit test checks these two, so its windows are its own.
    "limited": SiteSpec("limited", license=SimulatedLicense(valid_to=[in_days(100)])),
    "neighbour": SiteSpec("neighbour", license=SimulatedLicense(valid_to=[in_days(100)])),
    "flaky": SiteSpec("flaky", fault="503"),
    "denied": SiteSpec("denied", fault="401"),
}


@pytest.fixture(scope="module")
def healthy(
    tmp_path_factory: pytest.TempPathFactory,
    stack: Stack,
) -> Iterator[Deployment]:
    receiver = stack.receiver
    with run_simulator(list(SITES.values()), stack.certs) as simulator:
        deployment = Deployment(
            tmp_path_factory.mktemp("healthy"),
            stack.document(
                simulator,
                status_hooks=[stack.hook("/license-monitor/post")],
                alert_hooks=[
                    stack.hook("/license-alert/post"),
                    {
                        **stack.hook("/license-alert/get", "GET"),
                        "webhookURL": receiver.url("/license-alert/get?team=ops"),
                    },
                    stack.hook("/license-alert/put", "PUT"),
                ],
            ),
        )
        deployment.start_worker()
        try:
            yield deployment
        finally:
            deployment.stop_all()


def test_status_and_alert_reach_every_destination_as_butler_sends_them(
    healthy: Deployment,
    receiver: HttpReceiver,
    topics: tuple[str, MessageLog],
    influx_server: InfluxServer,
) -> None:
    prefix, mqtt_log = topics
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

    status_message, alert_message = sorted(mqtt_log.wait("alpha", 2), key=lambda m: m.topic)
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

    row = influx_row(influx_server, "alpha")
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
    fields = influx_server.query("SHOW FIELD KEYS FROM qlik_sense_server_license", db=INFLUX_DB)
    assert sorted(map(tuple, fields["results"][0]["series"][0]["values"])) == [
        ("days_until_expiry", "float"),
        ("expiry_date", "string"),
        ("license_expired", "boolean"),
    ]
    policies = influx_server.query(f'SHOW RETENTION POLICIES ON "{INFLUX_DB}"')["results"][0]
    assert policies["series"][0]["values"][1][:2] == ["10d", "240h0m0s"]


def test_expired_and_perpetual_licenses(
    healthy: Deployment,
    receiver: HttpReceiver,
    topics: tuple[str, MessageLog],
    influx_server: InfluxServer,
) -> None:
    _, mqtt_log = topics
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

    alert = next(m for m in mqtt_log.wait("lapsed", 2) if "expire/" in m.topic)
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

    row = influx_row(influx_server, "forever")
    assert (row["license_expired"], row["days_until_expiry"], row["expiry_date"]) == (
        False,
        None,
        None,
    )


def test_the_same_tick_twice_delivers_once(
    healthy: Deployment, receiver: HttpReceiver, topics: tuple[str, MessageLog]
) -> None:
    _, mqtt_log = topics
    tick = "2026-11-29T00:00:00Z"
    check_id = "again@" + tick
    first = fetch("again", check_id, tick)
    second = fetch("again", check_id, tick)  # a second beat, or a resend
    results = [first.get(timeout=30), second.get(timeout=30)]
    assert sorted(result is None for result in results) == [False, True]
    (ran,) = [result for result in results if result is not None]
    assert set(deliveries_done(healthy, ran)) == {"influxdb", "status", "status-1"}
    requests_with(receiver, check_id, 1)
    mqtt_log.wait("again", 1)

    def webhook_calls() -> int:
        calls = receiver.received()
        return len([r for r in calls if r.headers.get("x-licmon-check-id") == check_id])

    # Both fetches and every delivery of the one that ran have finished, so nothing we know
    # of is still in flight. A duplicate would come from a message we do not know of (a
    # redelivery), or reach the MQTT subscriber just after its publish was acknowledged:
    # give it a bounded second to show, failing as soon as it does.
    never(
        lambda: webhook_calls() > 1 or len(mqtt_log.for_site("again")) > 1,
        1.0,
        f"a second delivery of {check_id}",
    )


def test_rate_limit_holds_per_webhook_event_and_site_in_redis(
    healthy: Deployment, receiver: HttpReceiver, broker: redis.Redis
) -> None:
    def check(site: str, tick: str) -> str:
        """Run one check and wait for its deliveries; what its status webhook did."""
        result = fetch(site, f"{site}@{tick}", tick).get(timeout=30)
        # What the status webhook did, without the "(site …, check …)" the task adds.
        return deliveries_done(healthy, result)["status-1"].split(" (site ")[0]

    # One check after the other, each delivered before the next: the first takes the window.
    held = "skipped by rateLimit (300 s) for 'server license status'"
    assert check("limited", "2026-11-30T00:00:00Z") == "POST 'server license status'"
    assert check("limited", "2026-12-01T00:00:00Z") == held
    assert check("limited", "2026-12-02T00:00:00Z") == held
    # The same webhook and event for another site has a window of its own.
    assert check("neighbour", "2026-12-01T00:00:00Z") == "POST 'server license status'"

    # Every delivery has finished (and a sent webhook was answered), so the calls are all in.
    status_calls = [
        (r.headers["x-licmon-site"], r.headers["x-licmon-check-id"])
        for r in receiver.received("/license-monitor/post")
        if r.headers.get("x-licmon-site") in {"limited", "neighbour"}
    ]
    assert status_calls == [
        ("limited", "limited@2026-11-30T00:00:00Z"),
        ("neighbour", "neighbour@2026-12-01T00:00:00Z"),
    ]
    keys = [key.decode() for key in broker.keys("licmon:ratelimit:*limited/server license status")]
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


def test_a_message_that_keeps_killing_workers_is_dead_lettered(
    healthy: Deployment, broker: redis.Redis
) -> None:
    task_id = f"lost-{uuid.uuid4().hex}"
    claim = "licmon:claim:check:server_license:again@lost"
    # As if four workers had died running this message (acks_late brought it back each time):
    # its claim held by it, its starts counted.
    broker.set(claim, task_id, ex=600)
    broker.set(f"{claim}:starts:{task_id}", 4, ex=600)
    outcome = client().send_task(
        "license.fetch",
        args=("again",),
        kwargs={"check_id": "again@lost", "tick": "2026-11-28T03:00:00Z"},
        queue="license.fetch",
        task_id=task_id,
    )
    with pytest.raises(Exception, match="redelivered 4 times after lost workers; given up"):
        outcome.get(timeout=30)
    assert outcome.state == "FAILURE"

    def letters() -> list[dict]:
        # Celery stores the FAILURE before it calls on_failure, which writes the letter.
        found = [json.loads(raw) for raw in broker.lrange("licmon:deadletters", 0, -1)]
        return [entry for entry in found if entry["checkId"] == "again@lost"]

    (letter,) = wait_for(letters, 10, "the dead letter")
    assert (letter["task"], letter["site"]) == ("license.fetch", "again")
    # The dead letter names what was being done and how often it really started.
    assert (letter["destination"], letter["target"], letter["attempts"]) == ("qrs", "127.0.0.1", 5)
    assert broker.get(claim) is None  # free again: a later check of this id may run
