"""Several beats, one leader: real beat processes, kill -9 of the leader, a standby taking
over; every tick accounted for from the beats' logs and the webhook's receiver.

Sites t1 and t2 tick `every 2 seconds`; h1 ticks hourly (only its startup check, and a
waiting check whose message was lost, ever run). The lease is 3 s: renewed every second,
a dead leader's lease is taken over within about 4 s.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, run_simulator
from licmon.state.lease import Lease
from licmon.state.pending import PendingChecks
from tests.fleet_support import RedisServer, delivered, fleet_document, on_own_redis
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import (
    CELERY,
    REPO,
    Deployment,
    in_days,
    ran_as,
    wait_for,
    worker_settled,
)

pytest_plugins = ["tests.pipeline_fixtures", "tests.fleet_fixtures"]

PATH = "/leader"
TICKING = ("t1", "t2")
# Far above the 3 s lease plus a renewal period on a loaded machine; the bound.
TAKEOVER_BOUND = 30


@dataclass
class Beats:
    deployment: Deployment
    redis: RedisServer
    receiver: HttpReceiver
    worker: subprocess.Popen[bytes]
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        name = f"beat{len(self.started)}@%h"
        beat = self.deployment.start_beat("--enable-remote-control", "-n", name, own_state=True)
        self.started.append(beat)
        return beat

    def leader_pid(self) -> int | None:
        holder = Lease(self.redis.client(0), 3).holder()
        return None if holder is None else holder.pid

    def kill_leader(self) -> float:
        """kill -9 the leader; seconds until another beat holds the lease."""
        pid = wait_for(self.leader_pid, 10, "a leader")
        (leader,) = [beat for beat in self.started if beat.pid == pid]
        self.deployment.kill(leader)
        killed = time.monotonic()
        alive = {beat.pid for beat in self.started if beat.poll() is None}
        wait_for(lambda: self.leader_pid() in alive, TAKEOVER_BOUND, "a standby to take over")
        return time.monotonic() - killed

    def checks(self, site: str) -> list[str]:
        return sorted(c for c in delivered(self.receiver, PATH) if c.startswith(f"{site}@"))

    def wait_ticks(self, count: int, after: datetime) -> None:
        def fresh() -> bool:
            return all(
                len([c for c in self.checks(site) if tick_of(c) > after]) >= count
                for site in TICKING
            )

        wait_for(fresh, 20, f"{count} more tick(s) of every ticking site")

    def beat_logs(self) -> list[str]:
        return [self.deployment.log_of(beat) for beat in self.started]


def tick_of(check_id: str) -> datetime:
    return datetime.fromisoformat(check_id.split("@", 1)[1].replace("Z", "+00:00"))


def published(log: str) -> list[str]:
    """Check ids this beat put in a queue: sent, or sent again for a lost message."""
    return re.findall(r"(\S+@\S+): (?:sent to \S+ as task|the waiting check of .* sent again)", log)


@pytest.fixture
def beats(
    tmp_path_factory: pytest.TempPathFactory,
    certs: QlikCerts,
    receiver: HttpReceiver,
    own_redis: RedisServer,
) -> Iterator[Beats]:
    specs = [
        SiteSpec(name, license=SimulatedLicense(valid_to=[in_days(200)]))
        for name in (*TICKING, "h1")
    ]
    with run_simulator(specs, certs) as simulator:
        document = fleet_document(certs, simulator, receiver, PATH, {})
        document["licmon"]["sites"][-1]["frequency"] = "every 1 hour"
        deployment = Deployment(tmp_path_factory.mktemp("leader"), document)
        on_own_redis(deployment, own_redis)
        own_redis.client(0).flushall()
        with receiver.lock:
            receiver.requests.clear()  # the module's receiver: count this test's calls only
        worker = deployment.start_worker(4, "--pool", "threads")
        try:
            yield Beats(deployment, own_redis, receiver, worker)
        finally:
            deployment.stop_all()


def account(beats: Beats) -> dict[str, int]:
    """Stop every beat, let the worker finish, and check every tick: each check id sent by
    one beat only, each delivered exactly once (as itself or as the newer tick it waited
    for), nothing delivered that no beat sent."""
    for beat in beats.started:
        beats.deployment.stop(beat)
    logs = beats.beat_logs()
    sent = [check for log in logs for check in published(log)]
    wait_for(
        lambda: worker_settled(beats.deployment.log_of(beats.worker), "license.fetch", len(sent)),
        30,
        "the worker to run every check sent",
    )
    received = delivered(beats.receiver, PATH)
    everything = "\n".join([*logs, beats.deployment.log_of(beats.worker)])
    twice = [check for check in set(sent) if sum(check in published(log) for log in logs) > 1]
    lost = [check for check in sent if ran_as(everything, check) not in received]
    assert not twice, f"sent by two beats: {twice}"
    assert max(received.values()) == 1, f"delivered twice: {received}"
    assert not lost, f"sent but never delivered: {lost}"
    assert set(received) == {ran_as(everything, check) for check in sent}
    return {
        "messages sent": len(sent),
        "checks delivered": len(received),
        "delivered twice": 0,
        "sent by two beats": 0,
        "lost": 0,
    }


def ping(node: str, env: dict[str, str]) -> bool:
    done = subprocess.run(
        [CELERY, "-A", "worker", "inspect", "ping", "-d", node, "--timeout", "5"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode == 0 and "pong" in done.stdout


def test_two_beats_one_leads_and_a_standby_takes_over_after_kill_9(beats: Beats) -> None:
    deployment = beats.deployment
    leader = beats.start()
    wait_for(lambda: beats.leader_pid() == leader.pid, 10, "the first beat to lead")
    standby = beats.start()
    wait_for(lambda: "standing by" in deployment.log_of(standby), 10, "the standby to wait")
    # Both answer the compose health check; only the leader sent startup checks.
    host = socket.gethostname()
    assert ping(f"beat0@{host}", deployment.env()) and ping(f"beat1@{host}", deployment.env())
    assert len(re.findall(r"startup check of", deployment.log_of(leader))) == 3
    beats.wait_ticks(2, after=datetime.now(UTC))

    # As if a beat had written h1's waiting-check record and died before publishing it.
    lost_tick = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    PendingChecks(beats.redis.client(0)).offer(
        "server_license", "h1", f"h1@{lost_tick}", lost_tick, "license.fetch", "never-sent"
    )

    last_before = {site: beats.checks(site)[-1] for site in TICKING}
    takeover = beats.kill_leader()
    taken_over = datetime.now(UTC)
    assert beats.leader_pid() == standby.pid and takeover < TAKEOVER_BOUND
    beats.wait_ticks(2, after=taken_over)
    # The new leader adopted the schedule: it resent the lost check of h1, and the ticks
    # missed during the handover ran once, as the newest of them.
    wait_for(lambda: f"h1@{lost_tick}" in beats.checks("h1"), 10, "the lost check of h1")
    for site in TICKING:
        after = [c for c in beats.checks(site) if c > last_before[site]]
        first = tick_of(after[0])
        assert first <= taken_over and (taken_over - first).total_seconds() < 2 + takeover, after
    assert "startup check of" not in deployment.log_of(standby)
    figures = account(beats)
    print(f"\ntwo beats: takeover {takeover:.2f} s after kill -9; ticks {figures}")


def test_three_beats_and_repeated_kills_of_the_leader(beats: Beats) -> None:
    for _ in range(3):
        beats.start()
    takeovers = []
    for _ in range(4):
        beats.wait_ticks(1, after=datetime.now(UTC))
        takeovers.append(beats.kill_leader())
        beats.start()  # the replacement a supervisor would start: a standby now
        beats.wait_ticks(1, after=datetime.now(UTC))
    startups = [len(re.findall(r"startup check of", log)) for log in beats.beat_logs()]
    assert startups == [3] + [0] * (len(beats.started) - 1)
    assert max(takeovers) < TAKEOVER_BOUND
    figures = account(beats)
    print(
        f"\nthree beats, {len(takeovers)} kills: takeover "
        + ", ".join(f"{seconds:.2f}" for seconds in takeovers)
        + f" s; ticks {figures}"
    )
