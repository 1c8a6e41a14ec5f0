"""Workers lost mid-delivery: the whole worker (scenario 2), a prefork child (scenario 3),
and a message that kills every worker that takes it (scenario 6)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, run_simulator
from tests.faults.support import (
    RESTORE_BOUND,
    VISIBILITY_TIMEOUT,
    RedisServer,
    Tally,
    children,
    dead_letters,
    fault_document,
    kill9,
    kill_whole_worker,
    running_redis,
    sender_of,
    webhook_receipts,
)
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import Deployment, in_days, wait_for

TICK = "2026-11-28T00:00:00Z"
CHECK = f"alpha@{TICK}"
PATHS = ["fast-1", "fast-2", "victim"]


class Setup:
    """One site, three status webhooks, a worker; the test decides what happens to it."""

    def __init__(
        self, root: Path, server: RedisServer, certs: QlikCerts, receiver: HttpReceiver, sim: Any
    ) -> None:
        self.server = server
        self.receiver = receiver
        document = fault_document(certs, sim, receiver, [f"/{path}" for path in PATHS])
        self.deployment = Deployment(
            root, document, broker_url=server.url(0), result_backend=server.url(1)
        )

    def check(self) -> dict[str, Any]:
        """Send the check and wait for its fan-out; its result (the deliveries' task ids)."""
        outcome = self.deployment.client().send_task(
            "license.fetch",
            args=("alpha",),
            kwargs={"check_id": CHECK, "tick": TICK},
            queue="license.fetch",
        )
        result = outcome.get(timeout=30)
        # Let go of the result's subscription now, while this Redis still runs.
        del outcome
        gc.collect()
        return result

    def claims_done(self, targets: list[str]) -> bool:
        """Whether these webhook deliveries of the check have completed their claims."""
        client = redis.Redis.from_url(self.server.url(0))
        try:
            keys = [f"licmon:claim:delivery:{CHECK}:server_license:webhook:{t}" for t in targets]
            return all(value == b"done" for value in client.mget(keys))
        finally:
            client.close()

    def victim_calls(self) -> list[Any]:
        return self.receiver.received("/victim")

    def tally(self) -> Tally:
        return Tally({(CHECK, path) for path in PATHS}, webhook_receipts(self.receiver))


def _start_worker(deployment: Deployment, pool: str, concurrency: int) -> Any:
    if pool == "threads":
        return deployment.start(
            "worker",
            "--pool",
            "threads",
            "-c",
            str(concurrency),
            "-n",
            f"test{len(deployment.processes)}@%h",
            ready="ready.",
        )
    return deployment.start_worker(concurrency=concurrency)


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_a_whole_worker_killed_mid_delivery_is_redone_within_the_visibility_timeout(
    root: Path, certs: QlikCerts, receiver: HttpReceiver, report: Callable[..., None], pool: str
) -> None:
    site = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)]))
    receiver.on("/victim", delay=20)  # still in flight when the worker dies
    with running_redis(root) as server, run_simulator([site], certs) as simulator:
        setup = Setup(root, server, certs, receiver, simulator)
        deployment = setup.deployment
        try:
            worker = _start_worker(deployment, pool, 2)
            setup.check()
            wait_for(
                lambda: (
                    setup.victim_calls()
                    and {(CHECK, "fast-1"), (CHECK, "fast-2")} <= set(webhook_receipts(receiver))
                    # Done means claimed done too: a delivery killed between its receipt and
                    # its claim's completion is redone, and would arrive twice as well.
                    and setup.claims_done(["status-1", "status-2"])
                ),
                20,
                "two deliveries done and the third in flight",
            )
            receiver.on("/victim", status=200)
            kill_whole_worker(worker)
            killed = time.monotonic()
            _start_worker(deployment, pool, 2)

            redone = wait_for(
                lambda: len(setup.victim_calls()) >= 2 and setup.victim_calls()[1],
                VISIBILITY_TIMEOUT + RESTORE_BOUND + 15,
                "the lost delivery to be redone",
            )
            # Every message of the check has been handled; a further duplicate would have to
            # come from a redelivery we do not know of: a bounded window for it to show.
            time.sleep(3)
            tally = setup.tally()
            after = redone.at - killed
            report(
                f"2 whole worker killed mid-delivery ({pool})",
                tally,
                redone_after_kill_s=round(after, 1),
                bound_s=VISIBILITY_TIMEOUT + RESTORE_BOUND,
            )
            assert after <= VISIBILITY_TIMEOUT + RESTORE_BOUND, after
            assert not tally.lost and not tally.unexpected, tally
            # The killed delivery reached the receiver before the kill: at-least-once, it
            # arrives twice, with the same check id. Nothing else does.
            assert tally.twice() == {(CHECK, "victim")}, tally
            assert not dead_letters(server)
        finally:
            deployment.stop_all()


def test_a_killed_prefork_child_is_redone_within_seconds(
    root: Path, certs: QlikCerts, receiver: HttpReceiver, report: Callable[..., None]
) -> None:
    site = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)]))
    receiver.on("/victim", delay=20)
    with running_redis(root) as server, run_simulator([site], certs) as simulator:
        setup = Setup(root, server, certs, receiver, simulator)
        deployment = setup.deployment
        try:
            worker = deployment.start_worker(concurrency=2)
            setup.check()
            wait_for(setup.victim_calls, 20, "the delivery in flight")
            receiver.on("/victim", status=200)
            # The child running it: the one that sent the request in flight.
            port = setup.victim_calls()[0].client_port
            (child,) = wait_for(lambda: sender_of(port, children(worker.pid)), 5, "the child")
            kill9([child])
            killed = time.monotonic()
            redone = wait_for(
                lambda: len(setup.victim_calls()) >= 2 and setup.victim_calls()[1],
                20,
                "the lost delivery to be redone",
            )
            wait_for(
                lambda: set(setup.tally().expected) <= set(webhook_receipts(receiver)),
                20,
                "every delivery",
            )
            time.sleep(2)
            tally = setup.tally()
            after = redone.at - killed
            report(
                "3 prefork child killed mid-delivery", tally, redone_after_kill_s=round(after, 1)
            )
            assert after <= 5, after
            assert worker.poll() is None  # the worker itself carries on
            assert not tally.lost and tally.twice() == {(CHECK, "victim")}, tally
            assert not dead_letters(server)
        finally:
            deployment.stop_all()


def test_a_message_that_kills_every_worker_is_dead_lettered_after_the_cap(
    root: Path, certs: QlikCerts, receiver: HttpReceiver, report: Callable[..., None]
) -> None:
    site = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)]))
    receiver.on("/victim", hang=True)  # whoever takes it is killed before it is answered
    with running_redis(root) as server, run_simulator([site], certs) as simulator:
        setup = Setup(root, server, certs, receiver, simulator)
        deployment = setup.deployment
        try:
            worker = deployment.start_worker(concurrency=1)
            result = setup.check()
            (victim,) = [d["taskId"] for d in result["deliveries"] if d["target"] == "status-3"]
            killed = 0
            deadline = time.monotonic() + 90
            # Like the OOM killer: every time the delivery starts, its process dies.
            while not dead_letters(server) and time.monotonic() < deadline:
                if len(setup.victim_calls()) > killed:
                    wait_for(lambda: children(worker.pid), 10, "a pool child")
                    kill9(children(worker.pid))
                    killed += 1
                time.sleep(0.05)
            (letter,) = wait_for(lambda: dead_letters(server), 10, "the dead letter")
            state = deployment.client().AsyncResult(victim)
            wait_for(lambda: state.state == "FAILURE", 10, "the task to end FAILURE")
            claim = f"licmon:claim:delivery:{CHECK}:server_license:webhook:status-3"
            # The victim is not expected anywhere: it is expected in the dead letters.
            tally = Tally({(CHECK, "fast-1"), (CHECK, "fast-2")}, webhook_receipts(receiver))
            report(
                "6 a message that kills every worker",
                tally,
                kills=killed,
                starts=letter["attempts"],
                dead_lettered=1,
            )
            # Four starts died with their process; the fifth is over the cap (3 redeliveries).
            assert killed == 4 and len(setup.victim_calls()) == 4
            assert (letter["destination"], letter["target"], letter["attempts"]) == (
                "webhook",
                "status-3",
                5,
            )
            assert letter["checkId"] == CHECK and "redelivered 4 times" in letter["reason"]
            assert server.client().get(claim) is None  # free again: a replay may take it
            assert worker.poll() is None
            # The check's other deliveries went out once each.
            assert not tally.lost and not tally.duplicated, tally
        finally:
            deployment.stop_all()
