"""Zones with real processes: a central worker, one worker per zone, a beat, and
`licmon status` reading what they wrote.

Sites: a1 and a2 in zone east, b1 in zone west, c1 central, c2 central with a QRS that
refuses the client (every check fails), n1 in zone north, which no worker serves.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, run_simulator
from tests.fleet_support import (
    RedisServer,
    by_site,
    delivered,
    fleet_document,
    on_own_redis,
    status,
)
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import REPO, Deployment, client, command, in_days, wait_for

pytest_plugins = ["tests.pipeline_fixtures", "tests.fleet_fixtures"]

ZONES = {"a1": "east", "a2": "east", "b1": "west", "c1": None, "c2": None, "n1": "north"}
PATH = "/zones"


@dataclass
class Fleet:
    deployment: Deployment
    redis: RedisServer
    receiver: HttpReceiver
    central: subprocess.Popen[bytes]
    east: subprocess.Popen[bytes]
    west: subprocess.Popen[bytes]
    beat: subprocess.Popen[bytes]

    def checks(self, site: str) -> set[str]:
        return {check for check in delivered(self.receiver, PATH) if check.startswith(f"{site}@")}

    def checked_sites(self, process: subprocess.Popen[bytes]) -> set[str]:
        return set(re.findall(r"checked (\S+) \(", self.deployment.log_of(process)))


def tick_of(check_id: str) -> datetime:
    return datetime.fromisoformat(check_id.split("@", 1)[1].replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory,
    certs: QlikCerts,
    receiver: HttpReceiver,
    own_redis: RedisServer,
) -> Iterator[Fleet]:
    specs = [
        SiteSpec(name, license=SimulatedLicense(valid_to=[in_days(200)]))
        for name in ZONES
        if name != "c2"
    ] + [SiteSpec("c2", fault="401")]
    with run_simulator(specs, certs) as simulator:
        document = fleet_document(certs, simulator, receiver, PATH, ZONES)
        deployment = on_own_redis(Deployment(tmp_path_factory.mktemp("zones"), document), own_redis)
        try:
            central = deployment.start_worker(2)
            east = deployment.start_worker(2, "--pool", "threads", "-Q", "license.fetch.east")
            west = deployment.start_worker(2, "--pool", "threads", "-Q", "license.fetch.west")
            beat = deployment.start_beat(own_state=True)
            yield Fleet(deployment, own_redis, receiver, central, east, west, beat)
        finally:
            deployment.stop_all()


def test_zones_wait_while_their_worker_is_down_and_status_shows_it(fleet: Fleet) -> None:
    deployment, state = fleet.deployment, fleet.redis.client(0)
    wait_for(
        lambda: all(len(fleet.checks(site)) >= 2 for site in ("a1", "a2", "b1", "c1")),
        30,
        "two checks of every site a worker serves",
    )
    # Each worker fetched its own sites only; the central one never consumes a zone queue.
    assert fleet.checked_sites(fleet.east) == {"a1", "a2"}
    assert fleet.checked_sites(fleet.west) == {"b1"}
    assert fleet.checked_sites(fleet.central) == {"c1"}
    central_log = deployment.log_of(fleet.central)
    assert not re.search(r"\.> license\.fetch\.", central_log)
    east_log = deployment.log_of(fleet.east)
    assert re.search(r"\.> license\.fetch\.east ", east_log)
    # Deliveries stay central: the zone worker receives none.
    assert "Task deliver." not in east_log and "Task deliver.webhook" in central_log
    assert "gave up: site c2" in central_log

    code, view = status(deployment)
    sites = by_site(view)
    assert code == 3  # c2 unknown, n1 never
    assert {name: site["status"] for name, site in sites.items()} == {
        "a1": "ok", "a2": "ok", "b1": "ok", "c1": "ok", "c2": "unknown", "n1": "never",
    }  # fmt: skip
    assert sites["a1"]["zone"] == "east" and sites["c1"]["zone"] is None
    assert sites["a1"]["daysUntilExpiry"] == 200
    assert sites["a1"]["expiryDate"] == in_days(200).isoformat()
    assert sites["a1"]["lastError"] is None and sites["a1"]["consecutiveFailures"] == 0
    assert sites["c2"]["lastError"]["kind"] == "auth_rejected"
    assert sites["c2"]["consecutiveFailures"] >= 1 and sites["c2"]["lastSuccess"] is None
    assert sites["n1"]["waiting"] and sites["n1"]["lastChecked"] is None
    assert view["queues"]["license.fetch.north"] == 1
    assert view["beat"]["leader"]["pid"] == fleet.beat.pid
    assert 0 <= view["beat"]["leaseAgeSeconds"] <= 3
    assert status(deployment, "--site", "a1")[0] == 0
    code, message = status(deployment, "--site", "nowhere")
    assert code == 3 and "no site named 'nowhere'" in message

    # A zoned site's check sent to license.fetch by a bare Celery client is forwarded, not
    # fetched centrally. Its tick is the newest any check of a1 has, so it runs as itself.
    forwarded = client(deployment.broker_url, deployment.result_backend).send_task(
        "license.fetch",
        args=("a1",),
        kwargs={"check_id": "a1@by-hand", "tick": "2100-01-01T00:00:00Z"},
        queue="license.fetch",
    )
    assert forwarded.get(timeout=20)["forwardedTo"] == "license.fetch.east"
    wait_for(lambda: "a1@by-hand" in fleet.checks("a1"), 20, "the forwarded check delivered")
    assert fleet.checked_sites(fleet.central) == {"c1"}

    # West's worker stops: b1's check waits, the others go on, and the queue stays at one.
    deployment.stop(fleet.west)
    before = {site: fleet.checks(site) for site in ("a1", "a2", "b1", "c1")}

    def b1_stale() -> bool:
        return by_site(status(deployment)[1])["b1"]["status"] == "stale"

    # "every 2 seconds": stale after two periods and one more for the second check.
    wait_for(b1_stale, 20, "b1 to be shown stale")
    for site in ("a1", "a2", "c1"):
        wait_for(lambda s=site: len(fleet.checks(s) - before[s]) >= 3, 15, f"{site} checked")
    code, view = status(deployment)
    assert code == 3
    assert by_site(view)["b1"]["waiting"] and view["queues"]["license.fetch.west"] == 1
    assert {by_site(view)[site]["status"] for site in ("a1", "a2", "c1")} == {"ok"}
    assert fleet.checks("b1") == before["b1"]
    beat_log = deployment.log_of(fleet.beat)
    # The first tick after the stop was sent; every later one found it waiting.
    assert len(re.findall(r"a check of b1 still waits in license\.fetch\.west", beat_log)) >= 2

    # Purged by hand: the next tick sees the waiting check's message gone and sends again.
    resent = "the waiting check of b1"
    resent_before = deployment.log_of(fleet.beat).count(resent)
    state.delete("license.fetch.west")
    # b1 waits nowhere until the next tick (every 2 s); on a loaded machine that tick may
    # come before `licmon status` has started, and then beat has said it sent it again.
    waiting = by_site(status(deployment)[1])["b1"]["waiting"]
    assert not waiting or deployment.log_of(fleet.beat).count(resent) > resent_before
    wait_for(
        lambda: status(deployment)[1]["queues"]["license.fetch.west"] == 1,
        10,
        "the lost check of b1 sent again",
    )
    assert "the waiting check of b1" in deployment.log_of(fleet.beat)
    # A check sent by hand meanwhile is merged into the waiting one, which will run as it
    # (its tick is the newest).
    merged = client(deployment.broker_url, deployment.result_backend).send_task(
        "license.fetch",
        args=("b1",),
        kwargs={"check_id": "b1@by-hand", "tick": "2100-01-01T00:00:00Z"},
        queue="license.fetch",
    )
    assert merged.get(timeout=20)["forwardedTo"] == "license.fetch.west"
    assert status(deployment)[1]["queues"]["license.fetch.west"] == 1

    # West's worker is back: the one waiting message runs first, as the newest tick, and is
    # delivered once; none of the ticks it stood for while west was down is delivered.
    west = deployment.start_worker(2, "--pool", "threads", "-Q", "license.fetch.west")
    back = datetime.now(UTC)
    wait_for(lambda: len(fleet.checks("b1") - before["b1"]) >= 2, 20, "b1 checked again, twice")
    first = re.findall(r"checked b1 \((b1@\S+)\)", deployment.log_of(west))[0]
    assert first == "b1@by-hand" and delivered(fleet.receiver, PATH)[first] == 1
    # Every tick sent before the worker took the waiting message was merged into it (beat
    # sends a tick within milliseconds of its time: a second covers a loaded machine).
    new = fleet.checks("b1") - before["b1"] - {first}
    assert not [check for check in new if tick_of(check) < back - timedelta(seconds=1)], new
    assert max(delivered(fleet.receiver, PATH).values()) == 1
    wait_for(lambda: by_site(status(deployment)[1])["b1"]["status"] == "ok", 10, "b1 ok again")


def test_one_worker_serves_a_zone_and_the_central_queues(fleet: Fleet) -> None:
    deployment = fleet.deployment
    for process in (fleet.central, fleet.east):
        deployment.stop(process)
    before = {site: fleet.checks(site) for site in ("a1", "c1")}
    # `--zone` adds to the central queues; a zone no site has is most likely a typo.
    both = deployment.start_worker(2, "--zone", "east", "--zone", "eats,elsewhere")
    for site in ("a1", "c1"):
        wait_for(lambda s=site: fleet.checks(s) - before[s], 20, f"{site} checked")
    # By this worker itself: a check of a1 that the stopped east worker had read may still
    # be delivered meanwhile (deliveries are central), so the log is what tells.
    wait_for(
        lambda: fleet.checked_sites(both) >= {"a1", "c1"}, 20, "a1 and c1 checked by the worker"
    )
    assert "b1" not in fleet.checked_sites(both)
    log = deployment.log_of(both)
    for typo in ("eats", "elsewhere"):
        assert f"consumes license.fetch.{typo}, but no configured site is in zone '{typo}'" in log
    assert "zone 'east'" not in log
    # A zone that cannot name a queue is refused before the worker starts.
    done = subprocess.run(
        [*command("worker"), "--zone", "dc east"],
        cwd=REPO,
        env=deployment.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done
    assert "'dc east': expected a zone name" in done.stderr
