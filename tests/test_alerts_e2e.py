"""Alerts people trust, end to end: one simulated site through a scripted life, checked by
two real Celery workers, told to MQTT, two alert webhooks and InfluxDB.

65 -> 61 -> 60 -> 45 -> 30 -> 29 -> 7 -> 3 days left, renewed to 365, then expired, then
its QRS failing four times and recovering. Each target hears, exactly once and in order:
60, 30, 7 (14 and 7 crossed at once), renewed, expired, check failing, check recovered.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, run_simulator
from licmon.simulator.access import Seats, SimulatedAccess
from licmon.simulator.server import Simulator
from licmon.state import metrics
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import (
    INFLUX_DB,
    WEBHOOK_TOKEN,
    Deployment,
    MessageLog,
    Stack,
    deliveries_done,
    fetch,
    in_days,
    never,
    wait_for,
)
from tests.services import InfluxServer

pytest_plugins = ["tests.pipeline_fixtures"]

SITE = "life"
KINDS = ("server_license", "access_license")
LEVELS = [60, 30, 14, 7, 1]
TICK_BASE = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def simulator(certs: QlikCerts) -> Iterator[Simulator]:
    spec = SiteSpec(SITE, license=SimulatedLicense(valid_to=[in_days(65)]))
    with run_simulator([spec], certs) as running:
        yield running


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    simulator: Simulator,
    stack: Stack,
    broker: redis.Redis,
) -> Iterator[Deployment]:
    body = stack.document(
        simulator,
        alert_hooks=[stack.hook("/life-alert/post"), stack.hook("/life-alert/get", "GET")],
        # Butler's rateLimit holds back an event sent again within it; here a day is seconds.
        rate_limit=0,
    )
    body["licmon"]["alerts"] = {"thresholdsDays": LEVELS, "digest": "at 8:00 am"}
    # Access licenses too, checked only when a test sends their check.
    body["Butler"]["qlikSenseLicense"]["licenseMonitor"] = {"enable": True}
    body["licmon"]["accessAlerts"] = {"professional": {"minAvailable": 5}}
    # A failed check gives up at once: the test counts failed checks, not retries.
    body["licmon"]["retries"] |= {"retries": 0, "quickAttempts": 1}
    # Its history is its own: the module's site name is new to this Redis.
    broker.delete(
        *(f"licmon:{what}:{kind}:{SITE}" for what in ("alerts", "fleet") for kind in KINDS)
    )
    deployment = Deployment(tmp_path_factory.mktemp("alerts"), body)
    deployment.start_worker(concurrency=2)
    deployment.start_worker(concurrency=2)
    try:
        yield deployment
    finally:
        deployment.stop_all()


@pytest.fixture
def site(simulator: Simulator) -> Any:
    """The module's one site, answering again (a test before may have left a fault)."""
    life = simulator.sites[SITE]
    life.fault = "none"
    return life


class Told:
    """What each alert target was told, in order."""

    def __init__(self, receiver: HttpReceiver, topics: tuple[str, MessageLog]) -> None:
        self.receiver = receiver
        self.prefix, self.mqtt = topics

    def mqtt_alerts(self) -> list[str]:
        topic = f"{self.prefix}/qliksense_server_license_expire/{SITE}"
        return [m.payload for m in self.mqtt.for_site(SITE) if m.topic == topic]

    def posted(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.receiver.received("/life-alert/post")]  # type: ignore[misc]

    def got(self) -> list[dict[str, str]]:
        return [dict(r.params) for r in self.receiver.received("/life-alert/get")]

    def counts(self) -> tuple[int, int, int]:
        return len(self.mqtt_alerts()), len(self.posted()), len(self.got())


@pytest.fixture
def told(receiver: HttpReceiver, topics: tuple[str, MessageLog]) -> Told:
    return Told(receiver, topics)


_TICKS = itertools.count()


def now() -> str:
    """A tick of its own second for every check: InfluxDB keeps one point per series and
    second (Butler's precision), and these checks follow each other within one."""
    return (TICK_BASE + timedelta(seconds=next(_TICKS))).strftime("%Y-%m-%dT%H:%M:%SZ")


def check(deployment: Deployment, step: str) -> dict[str, Any]:
    check_id = f"{SITE}@{step}-{uuid.uuid4().hex[:6]}"
    result = fetch(SITE, check_id, now()).get(timeout=30)
    deliveries_done(deployment, result)
    return result


def failed_check(deployment: Deployment, influx: InfluxServer, step: int) -> None:
    check_id = f"{SITE}@fail{step}-{uuid.uuid4().hex[:6]}"
    # The task's own failure, as the client rebuilds it.
    with pytest.raises(Exception, match="503"):
        fetch(SITE, check_id, now()).get(timeout=30)

    def recorded() -> bool:
        query = (
            f"SELECT count(ok) FROM qlik_sense_server_license_check "
            f"WHERE site = '{SITE}' AND ok = false"
        )
        series = influx.query(query, db=INFLUX_DB)["results"][0].get("series", [])
        return bool(series) and series[0]["values"][0][1] >= step

    wait_for(recorded, 20, f"failed check {step} in InfluxDB")


def test_a_site_through_its_life_tells_each_target_each_thing_once(
    deployment: Deployment, site: Any, told: Told, influx_server: InfluxServer
) -> None:
    first = told.counts()  # what earlier tests of this module told (none, in file order)
    expected = first[0]

    def step(days: int, alerts: int) -> None:
        nonlocal expected
        site.license = SimulatedLicense(valid_to=[in_days(days)])
        check(deployment, f"d{days}")
        expected += alerts
        wait_for(
            lambda: told.counts() == (expected,) * 3,
            15,
            f"{expected} alerts at {days}: {told.counts()} {told.mqtt_alerts()}",
        )

    for days, alerts in [(65, 0), (61, 0), (60, 1), (45, 0), (30, 1), (29, 0), (7, 1), (3, 0)]:
        step(days, alerts)
    step(365, 1)  # renewed
    # Two checks at once on two workers: one decides the "expired" alert, the other nothing.
    site.license = SimulatedLicense(valid_to=[in_days(-1)], date_format="iso")
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda n: check(deployment, f"expired{n}"), range(2)))
    expected += 1
    wait_for(lambda: told.counts() == (expected,) * 3, 15, "the expired alert")

    site.fault = "503"
    for number in range(1, 5):
        failed_check(deployment, influx_server, number)
        if number == 3:
            expected += 1
            wait_for(lambda n=expected: told.counts() == (n,) * 3, 15, "check failing")
    site.fault = "none"
    check(deployment, "back")
    expected += 1
    wait_for(lambda: told.counts() == (expected,) * 3, 15, "check recovered")
    never(lambda: told.counts() != (expected,) * 3, 1.0, "an alert more than expected")

    expiry = {days: in_days(days).isoformat() for days in (60, 30, 7, 365, -1)}
    mqtt = told.mqtt_alerts()[first[0] :]
    assert mqtt[:5] == [
        f"Qlik Sense server license is about to expire in 60 days, on {expiry[60]}",
        f"Qlik Sense server license is about to expire in 30 days, on {expiry[30]}",
        f"Qlik Sense server license is about to expire in 7 days, on {expiry[7]}",
        f"Qlik Sense server license renewed, now valid until {expiry[365]} (365 days)",
        f"Qlik Sense server license expired on {expiry[-1]}",
    ]
    assert mqtt[5].startswith(f"Qlik Sense server license check failing for {SITE}: ")
    assert "503" in mqtt[5]
    assert mqtt[6] == f"Qlik Sense server license check recovered for {SITE}"

    posted = told.posted()[first[1] :]
    assert [call["event"] for call in posted] == [
        "server license about to expire alert",
        "server license about to expire alert",
        "server license about to expire alert",
        "server license renewed",
        "server license has expired alert",
        "server license check failing",
        "server license check recovered",
    ]
    # Butler's events keep Butler's parameters; the new ones name the site.
    assert posted[0] == {
        "event": "server license about to expire alert",
        "licenseExpired": False,
        "expiryDateStr": posted[0]["expiryDateStr"],
        "daysUntilExpiry": 60,
    }
    assert posted[3] == {
        "event": "server license renewed",
        "site": SITE,
        "expiryDateStr": posted[3]["expiryDateStr"],
        "daysUntilExpiry": 365,
    }
    assert set(posted[5]) == {"event", "site", "errorKind", "reason"}
    assert (posted[5]["site"], posted[5]["errorKind"]) == (SITE, "server_unavailable")
    assert "token" not in posted[5]["reason"]
    assert posted[6] == {"event": "server license check recovered", "site": SITE}
    got = told.got()[first[2] :]
    assert [call["event"] for call in got] == [call["event"] for call in posted]
    assert got[5]["errorKind"] == "server_unavailable" and got[5]["site"] == SITE

    # Every check is a point of its own measurement; Butler's has only the ones read.
    keys = influx_server.query(
        "SHOW FIELD KEYS FROM qlik_sense_server_license_check", db=INFLUX_DB
    )["results"][0]["series"][0]["values"]
    assert sorted(map(tuple, keys)) == [
        ("duration_ms", "float"),
        ("error_kind", "string"),
        ("ok", "boolean"),
    ]
    rows = influx_server.query(
        f"SELECT ok, error_kind FROM qlik_sense_server_license_check WHERE site = '{SITE}'",
        db=INFLUX_DB,
    )["results"][0]["series"][0]["values"]
    assert [(ok, kind) for _, ok, kind in rows][-5:] == [
        (False, "server_unavailable"),
        (False, "server_unavailable"),
        (False, "server_unavailable"),
        (False, "server_unavailable"),
        (True, ""),
    ]
    license_points = influx_server.query(
        f"SELECT count(days_until_expiry) FROM qlik_sense_server_license WHERE site = '{SITE}'",
        db=INFLUX_DB,
    )["results"][0]["series"][0]["values"][0][1]
    assert license_points == len(rows) - 4


def test_a_check_sent_twice_tells_nobody_twice(
    deployment: Deployment, site: Any, told: Told
) -> None:
    before = told.counts()
    site.license = SimulatedLicense(valid_to=[in_days(730)], serial="1111222233334444")
    check_id = f"{SITE}@twice-{uuid.uuid4().hex[:6]}"
    first = fetch(SITE, check_id, now()).get(timeout=30)
    deliveries_done(deployment, first)
    # The same check again, as a redelivered message would bring it: its claim is done.
    assert fetch(SITE, check_id, now()).get(timeout=30) is None
    wait_for(lambda: told.counts() == tuple(n + 1 for n in before), 15, "one renewed each")
    never(lambda: told.counts() != tuple(n + 1 for n in before), 1.0, "a second renewed")
    assert told.mqtt_alerts()[-1].startswith("Qlik Sense server license renewed")


def test_access_licenses_low_then_recovered_tell_each_target_once(
    deployment: Deployment, site: Any, told: Told
) -> None:
    before = told.counts()

    def access_check(allocated: int) -> None:
        site.access = SimulatedAccess(professional=Seats(total=20, allocated=allocated, used=1))
        check_id = f"{SITE}@access-{uuid.uuid4().hex[:6]}"
        result = (
            deployment.client()
            .send_task(
                "license.fetch",
                args=(SITE,),
                kwargs={"check_id": check_id, "tick": now(), "kind": "access_license"},
                queue="license.fetch",
            )
            .get(timeout=30)
        )
        deliveries_done(deployment, result)

    for allocated in (18, 19, 10, 12):  # 2 left, 1 left, 10 left, 8 left
        access_check(allocated)
    wait_for(lambda: told.counts() == tuple(n + 2 for n in before), 15, "low, then recovered")
    never(lambda: told.counts() != tuple(n + 2 for n in before), 1.0, "a third access alert")
    assert told.mqtt_alerts()[-2:] == [
        f"Qlik Sense professional access licenses low on {SITE}: 2 of 20 available",
        f"Qlik Sense professional access licenses recovered on {SITE}: 10 of 20 available",
    ]
    assert told.posted()[-2:] == [
        {
            "event": "access license low",
            "site": SITE,
            "licenseType": "professional",
            "available": 2,
            "total": 20,
        },
        {
            "event": "access license recovered",
            "site": SITE,
            "licenseType": "professional",
            "available": 10,
            "total": 20,
        },
    ]


def test_the_digest_lists_the_sites_at_or_below_a_level_once_per_tick(
    deployment: Deployment,
    site: Any,
    told: Told,
    topics: tuple[str, MessageLog],
    broker: redis.Redis,
) -> None:
    site.license = SimulatedLicense(valid_to=[in_days(12)], serial="5555666677778888")
    check(deployment, "digest")
    wait_for(lambda: told.mqtt_alerts()[-1:] != [], 15, "the check's alerts")
    before = told.counts()
    # The check's own deliveries are counted by now (workers write counts in batches).
    time.sleep(metrics.FLUSH_SECONDS + 0.5)
    counted = metrics.deliveries(broker)
    tick = now()
    app = deployment.client()
    result = app.send_task("alerts.digest", kwargs={"tick": tick}, queue="license.fetch").get(
        timeout=30
    )
    assert result["sites"] == 1
    assert sorted((d["destination"], d["target"]) for d in result["deliveries"]) == [
        ("mqtt", "alert"),
        ("webhook", "alert-1"),
        ("webhook", "alert-2"),
    ]
    line = f"{SITE}: 12 days left, until {in_days(12).isoformat()}"
    webhooks = (before[0], before[1] + 1, before[2] + 1)
    wait_for(lambda: told.counts() == webhooks, 15, "the digest's webhooks")
    # MQTT: the alert topic's subtopic `_digest` (no site can be named so).
    (digest,) = topics[1].wait("_digest", 1)
    assert digest.topic == f"{topics[0]}/qliksense_server_license_expire/_digest"
    assert digest.payload == f"Qlik Sense licenses at or below a threshold: {line}"
    assert told.posted()[-1] == {"event": "server license digest", "count": 1, "sites": line}
    # GET: merged into the URL's own query string (which carries its token).
    assert told.got()[-1] == {
        "event": "server license digest",
        "count": "1",
        "sites": line,
        "token": WEBHOOK_TOKEN,
    }
    # The same tick again (a second beat): refused by its claim.
    assert (
        app.send_task("alerts.digest", kwargs={"tick": tick}, queue="license.fetch").get(timeout=30)
        is None
    )
    never(
        lambda: told.counts() != webhooks or len(topics[1].for_site("_digest")) != 1,
        1.0,
        "a second digest",
    )

    # The exporter counts them as deliveries of their destinations (within a batch's wait).
    def delivered() -> tuple[int, int]:
        after = metrics.deliveries(broker)
        return tuple(
            after.get((name, "delivered"), 0) - counted.get((name, "delivered"), 0)
            for name in ("mqtt", "webhook")
        )

    wait_for(lambda: delivered() == (1, 2), metrics.FLUSH_SECONDS + 5, "the digest counted")
