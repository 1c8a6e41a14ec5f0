"""`licmon deadletters --replay`: once the cause is fixed, dead-lettered deliveries and checks
go out again through the normal tasks and claims, and leave the list when they succeed."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, run_simulator
from tests.faults.support import (
    RedisServer,
    Tally,
    dead_letters,
    fault_document,
    running_redis,
    webhook_receipts,
)
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import REPO, Deployment, in_days, wait_for

TICK = "2026-11-28T00:00:00Z"
TOKEN = "s3cret-hook-token"


def cli(deployment: Deployment, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "licmon.cli.main", "deadletters", *arguments],
        cwd=REPO,
        env=deployment.env(),
        capture_output=True,
        text=True,
        timeout=90,
    )


def fetch(deployment: Deployment, site: str) -> None:
    deployment.client().send_task(
        "license.fetch",
        args=(site,),
        kwargs={"check_id": f"{site}@{TICK}", "tick": TICK},
        queue="license.fetch",
    )


@contextlib.contextmanager
def refused_letter(
    root: Path, certs: QlikCerts, receiver: HttpReceiver
) -> Iterator[tuple[Deployment, RedisServer]]:
    """One site whose one status webhook refuses (400): its check is sent, a worker runs."""
    site = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)]))
    receiver.on("/refused", status=400)
    with running_redis(root) as server, run_simulator([site], certs) as simulator:
        document = fault_document(certs, simulator, receiver, ["/refused"])
        deployment = Deployment(
            root, document, broker_url=server.url(0), result_backend=server.url(1)
        )
        try:
            deployment.start_worker(concurrency=1)
            fetch(deployment, "alpha")
            yield deployment, server
        finally:
            deployment.stop_all()


def test_replay_resends_through_the_normal_tasks_and_removes_what_succeeds(
    root: Path, certs: QlikCerts, receiver: HttpReceiver, report: Callable[..., None]
) -> None:
    sites = [
        SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)])),
        SiteSpec("denied", license=SimulatedLicense(valid_to=[in_days(200)]), fault="401"),
    ]
    receiver.on("/refused", status=400)  # permanent: dead-lettered at once
    receiver.on("/flaky", status=503)  # transient: dead-lettered after the retries
    with running_redis(root) as server, run_simulator(sites, certs) as simulator:
        document = fault_document(certs, simulator, receiver, ["/fine", "/refused", "/flaky"])
        for hook in document["Butler"]["webhookNotification"]["qlikSenseServerLicenseMonitor"][
            "webhooks"
        ]:
            hook["webhookURL"] += f"?token={TOKEN}"
        deployment = Deployment(
            root, document, broker_url=server.url(0), result_backend=server.url(1)
        )
        try:
            deployment.start_worker(concurrency=2)
            fetch(deployment, "alpha")
            fetch(deployment, "denied")
            wait_for(lambda: len(dead_letters(server)) == 3, 30, "three dead letters")
            letters = {(x["site"], x["destination"], x["target"]): x for x in dead_letters(server)}
            assert set(letters) == {
                ("alpha", "webhook", "status-2"),
                ("alpha", "webhook", "status-3"),
                ("denied", "qrs", "127.0.0.1"),
            }
            # What a replay needs, and no secret: target keys, never the URL or its token.
            assert all(letter["taskId"] and letter["arguments"] for letter in letters.values())
            assert TOKEN not in json.dumps(list(letters.values()))
            assert receiver.url("/refused") not in json.dumps(list(letters.values()))

            # The cause fixed; replay only the webhooks first.
            receiver.on("/refused", status=200)
            receiver.on("/flaky", status=200)
            done = cli(deployment, "--replay", "--destination", "webhook", "--wait", "30")
            assert done.returncode == 0, done.stdout + done.stderr
            assert "replayed 2 of 2" in done.stdout and "2 succeeded" in done.stdout
            assert [x["destination"] for x in dead_letters(server)] == ["qrs"]
            check = f"alpha@{TICK}"
            # Same check id as the first time: a receiver that did get it can drop it.
            assert webhook_receipts(receiver)[(check, "refused")] == 1
            assert webhook_receipts(receiver)[(check, "flaky")] == 1

            # The QRS fixed: replaying the check runs it, and its fan-out, once.
            simulator.sites["denied"].fault = "none"
            done = cli(deployment, "--replay", "--site", "denied", "--wait", "30")
            assert done.returncode == 0, done.stdout + done.stderr
            assert not dead_letters(server)
            denied = f"denied@{TICK}"
            wait_for(
                lambda: all(
                    webhook_receipts(receiver)[(denied, path)] for path in ("fine", "refused")
                ),
                20,
                "the replayed check's deliveries",
            )
            expected = {(check, path) for path in ("fine", "refused", "flaky")} | {
                (denied, path) for path in ("fine", "refused", "flaky")
            }
            wait_for(lambda: expected <= set(webhook_receipts(receiver)), 20, "every delivery")
            tally = Tally(expected, webhook_receipts(receiver))
            report("replay of 3 dead letters after the cause was fixed", tally, left_in_list=0)
            assert not tally.lost and not tally.duplicated, tally
        finally:
            deployment.stop_all()


def test_a_replay_that_fails_again_takes_its_letters_place(
    root: Path, certs: QlikCerts, receiver: HttpReceiver
) -> None:
    with refused_letter(root, certs, receiver) as (deployment, server):
        (first,) = wait_for(lambda: dead_letters(server), 30, "the dead letter")
        done = cli(deployment, "--replay", "--wait", "30")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "0 succeeded, 1 failed again" in done.stdout
        (second,) = dead_letters(server)
        assert second["taskId"] != first["taskId"]
        assert (second["checkId"], second["target"]) == (first["checkId"], first["target"])

        # Its claim done (delivered after all, say by a redelivery): removed, not sent.
        claim = f"licmon:claim:delivery:alpha@{TICK}:server_license:webhook:status-1"
        server.client().set(claim, "done")
        calls = len(receiver.received("/refused"))
        done = cli(deployment, "--replay")
        assert done.returncode == 0 and "delivered after all" in done.stdout, done.stdout
        assert not dead_letters(server) and len(receiver.received("/refused")) == calls


def test_a_claim_left_by_the_task_that_gave_up_is_freed_for_the_replay(
    root: Path, certs: QlikCerts, receiver: HttpReceiver
) -> None:
    with refused_letter(root, certs, receiver) as (deployment, server):
        (letter,) = wait_for(lambda: dead_letters(server), 30, "the dead letter")
        # As if the release in on_failure had been lost (Redis blinked just then).
        claim = f"licmon:claim:delivery:alpha@{TICK}:server_license:webhook:status-1"
        server.client().set(claim, letter["taskId"])
        receiver.on("/refused", status=200)
        done = cli(deployment, "--replay", "--wait", "30")
        assert done.returncode == 0 and "1 succeeded" in done.stdout, done.stdout
        assert server.client().get(claim) == b"done"
        assert webhook_receipts(receiver)[(f"alpha@{TICK}", "refused")] == 1
        # Held by someone else (being done right now): left alone.
        server.client().set(claim, "someone-else")
        fetch(deployment, "alpha")  # nothing: the check is done
        entry: dict[str, Any] = dict(letter) | {"taskId": "t-2"}
        server.client().lpush("licmon:deadletters", json.dumps(entry))
        done = cli(deployment, "--replay")
        assert "being done right now" in done.stdout and len(dead_letters(server)) == 1
        # A letter of an earlier version (no task id, no arguments) is listed, not sent.
        server.client().delete("licmon:deadletters")
        old = {key: letter[key] for key in ("task", "site", "destination", "target")}
        old |= {"checkId": letter["checkId"], "reason": "old", "attempts": 1}
        server.client().lpush("licmon:deadletters", json.dumps(old))
        done = cli(deployment, "--replay")
        assert done.returncode == 0 and "not replayable" in done.stdout, done.stdout
        assert "replayed 0 of 1" in done.stdout and len(dead_letters(server)) == 1


def test_usage_errors_have_their_own_exit_status(root: Path) -> None:
    config = root / "licmon.yaml"
    config.write_text("licmon: {}\n")
    for arguments in (["--clear", "--site", "alpha"], ["--wait", "5"], ["--clear", "--replay"]):
        command = [sys.executable, "-m", "licmon.cli.main", "deadletters", "--config", str(config)]
        done = subprocess.run(
            [*command, *arguments],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (arguments, done.stderr)
        assert "licmon deadletters:" in done.stderr and "Traceback" not in done.stderr
