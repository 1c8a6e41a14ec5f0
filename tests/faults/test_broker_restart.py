"""Redis restarted under a working deployment (scenario 1) and Redis without persistence
(scenario 7)."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from kombu import pools

from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, run_simulator
from tests.faults.support import (
    RESTORE_BOUND,
    VISIBILITY_TIMEOUT,
    Tally,
    dead_letters,
    fault_document,
    log_time,
    running_redis,
    webhook_receipts,
)
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import REPO, Deployment, command, in_days, wait_for

TICK = "2026-11-28T00:00:00Z"
# Three webhooks that fail until just before Redis goes down (their retries are then
# waiting for their countdowns, held by the worker), and one that is in flight during it.
HELD = ["hold-1", "hold-2", "hold-3"]
PATHS = [*HELD, "slow"]


def _retries(log: str) -> list[tuple[str, int, float]]:
    """(task id, countdown, when it was logged) of every retry the workers scheduled."""
    return [
        (task_id, int(seconds), log_time(line) or 0.0)
        for line, task_id, seconds in re.findall(
            r"^(.*Task deliver\.webhook\[([^\]]+)\] retry: Retry in (\d+)s.*)$", log, re.M
        )
    ]


def test_redis_restart_with_held_retries_and_queued_checks_loses_and_doubles_nothing(
    root: Path, certs: QlikCerts, receiver: HttpReceiver, report: Callable[..., None]
) -> None:
    sites = [
        SiteSpec(name, license=SimulatedLicense(valid_to=[in_days(200)]))
        for name in ("alpha", "queued-1", "queued-2", "queued-3")
    ]
    for path in HELD:
        receiver.on(f"/{path}", status=503)
    receiver.on("/slow", delay=12)
    with running_redis(root, "aof") as server, run_simulator(sites, certs) as simulator:
        document = fault_document(
            certs,
            simulator,
            receiver,
            [f"/{path}" for path in PATHS],
            retries={
                "quickAttempts": 1,
                "quickWindowSeconds": 1,
                "retries": 6,
                "backoffSeconds": 8,
                "backoffMaxSeconds": 8,
            },
        )
        # The in-flight delivery takes 12 s: its timeout and time limits must allow it.
        document["licmon"]["timeouts"]["webhook"] = 13
        deployment = Deployment(
            root, document, broker_url=server.url(0), result_backend=server.url(1)
        )
        try:
            # Two workers: each returns what it held when it reconnects.
            workers = [deployment.start_worker(concurrency=2) for _ in range(2)]

            deployment.client().send_task(
                "license.fetch",
                args=("alpha",),
                kwargs={"check_id": f"alpha@{TICK}", "tick": TICK},
                queue="license.fetch",
            )
            wait_for(
                lambda: (
                    len({task for task, _, _ in _retries(deployment.logs())}) >= 3
                    and receiver.received("/slow")
                ),
                30,
                "three retries scheduled and a delivery in flight",
            )
            # Three checks wait in their queue: the workers stop consuming it for now.
            control = deployment.client().control
            stopped = control.cancel_consumer("license.fetch", reply=True, timeout=5, limit=2)
            assert len(stopped) == 2, stopped
            for name in ("queued-1", "queued-2", "queued-3"):
                deployment.client().send_task(
                    "license.fetch",
                    args=(name,),
                    kwargs={"check_id": f"{name}@{TICK}", "tick": TICK},
                    queue="license.fetch",
                )
            wait_for(lambda: server.client().llen("license.fetch") == 3, 10, "3 queued checks")
            for path in PATHS:
                receiver.on(f"/{path}", status=200)
            scheduled = time.monotonic()
            down_at = time.time()
            went_down, back = server.restart(down=10)
            # The retries still waiting for their countdown when Redis went down.
            pending = {
                task
                for task, countdown, logged in _retries(deployment.logs())
                if logged + countdown > down_at
            }

            wait_for(
                lambda: (
                    any(worker.poll() is not None for worker in workers)
                    or deployment.logs().count("Connected to redis") >= 4
                ),
                30,
                "the workers to reconnect",
            )
            # kombu 5.7.0 under celery 5.7.0 crashed here: "Unrecoverable error:
            # AttributeError("'NoneType' object has no attribute 'hostname'")".
            crash = re.findall(r"CRITICAL.*", deployment.logs())
            assert all(worker.poll() is None for worker in workers), f"a worker exited: {crash}"
            # kombu's pooled connections of this test process died with the old Redis.
            pools.reset()
            control = deployment.client().control
            # Remote control is Redis pub/sub: asked before the worker has subscribed again,
            # the command is lost; ask until it answers.
            wait_for(
                lambda: (
                    len(control.add_consumer("license.fetch", reply=True, timeout=1, limit=2)) == 2
                ),
                30,
                "the workers to consume the checks' queue again",
            )
            expected = {(f"{site.name}@{TICK}", path) for site in sites for path in PATHS}
            wait_for(
                lambda: expected <= set(webhook_receipts(receiver)),
                VISIBILITY_TIMEOUT + RESTORE_BOUND + 15,
                "every delivery of the four checks",
            )
            # Everything expected arrived; a duplicate would be a redelivery we do not know
            # of: give it a bounded window to show.
            time.sleep(3)
            tally = Tally(expected, webhook_receipts(receiver))
            # Nothing left unacknowledged to come back later: the delivery that ran through
            # the outage was acknowledged too.
            wait_for(lambda: server.client().hlen("unacked") == 0, 10, "nothing unacknowledged")

            # The held retries, after Redis was back: how long until they ran.
            held_after = [
                request.at - back
                for request in receiver.received()
                if request.path.lstrip("/") in HELD and request.at > scheduled
            ]
            log = deployment.logs()
            report(
                "1 Redis (AOF) restarted 10 s under 2 workers, retries held, 3 checks queued",
                tally,
                retries_pending=len(pending),
                retry_after_back_s=round(max(held_after, default=0.0), 1),
                down_s=round(back - went_down, 1),
            )
            assert all(worker.poll() is None for worker in workers), log
            assert "Unrecoverable error" not in log, log
            assert [process.pid for _, process, _ in deployment.processes] == [
                worker.pid for worker in workers
            ]
            assert not tally.lost and not tally.unexpected, tally
            assert not tally.duplicated, (tally.twice(), log)
            assert not dead_letters(server)
            # Required: within the visibility timeout plus the sweep after Redis is back. Each
            # worker returns what it held on reconnecting, so it is seconds: the sweep could
            # not return them before ~20 s here (held 10 s before Redis was back).
            assert pending, "no retry was waiting for its countdown when Redis went down"
            assert max(held_after, default=0.0) <= VISIBILITY_TIMEOUT + RESTORE_BOUND
            assert max(held_after, default=0.0) <= 15, held_after
        finally:
            deployment.stop_all()


def test_redis_without_persistence_is_warned_about_or_refused(
    root: Path, certs: QlikCerts, receiver: HttpReceiver, report: Callable[..., None]
) -> None:
    site = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)]))
    with running_redis(root, "none") as server, run_simulator([site], certs) as simulator:
        document = fault_document(certs, simulator, receiver, ["/status"])
        deployment = Deployment(
            root, document, broker_url=server.url(0), result_backend=server.url(1)
        )
        try:
            deployment.start_worker(concurrency=1)
            deployment.start_beat()
            wait_for(lambda: "startup check of alpha" in deployment.logs(), 20, "beat's start")
            logs = [log.read_text() for _, _, log in deployment.processes]
        finally:
            deployment.stop_all()
        # One clear warning in each process, naming what is lost and how to keep it.
        for log in logs:
            warnings = re.findall(r"WARNING.*the broker's Redis.*", log)
            assert len(warnings) == 1, log
            assert f"127.0.0.1:{server.port}/0" in warnings[0]
            assert "has no append-only file (AOF) and no RDB snapshots" in warnings[0]
            assert "queued checks, retries waiting for their countdown" in warnings[0]
            assert "'appendonly yes'" in warnings[0]

        # Asked to, both refuse to start: exit status 3 and the reason, no traceback.
        deployment.document["licmon"]["broker"]["requirePersistence"] = True
        deployment.write_config()
        for role in ("worker", "beat"):
            done = subprocess.run(
                command(role),
                cwd=REPO,
                env=deployment.env(),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 3, done.stderr
            assert f"licmon {role}: refusing to start" in done.stderr
            assert "Traceback" not in done.stderr
    report("7 Redis without persistence", warned="worker and beat, once each", refused="exit 3")


@pytest.mark.parametrize("persistence", ["aof", "rdb", "none"])
def test_persistence_is_read_from_redis_itself(root: Path, persistence: str) -> None:
    from worker.persistence import read_persistence

    with running_redis(root, persistence) as server:
        found = read_persistence(server.client())
    assert (found.aof, found.rdb) == {
        "aof": (True, False),
        "rdb": (False, True),
        "none": (False, False),
    }[persistence]


def test_local_scripts_start_redis_with_aof() -> None:
    """`make test` (scripts/start-services.sh) and `make demo` (scripts/demo.py) start Redis
    as deployed: with an append-only file, so nothing queued is lost on a restart."""
    script = (REPO / "scripts" / "start-services.sh").read_text()
    (command,) = re.findall(r"redis-server [^\n]*\\\n[^\n]*", script)
    assert "--appendonly yes" in command
    demo = (REPO / "scripts" / "demo.py").read_text()
    assert '"--appendonly", "yes"' in demo and '"--appendonly", "no"' not in demo
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
