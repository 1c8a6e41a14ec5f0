"""Two beats (scenario 4): started together, or the second 7 s after the first, for three
ticks of `every 5 seconds`. Every tick and the startup check reach each target once."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, run_simulator
from tests.faults.support import Tally, fault_document, running_redis, webhook_receipts
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import Deployment, in_days, wait_for, worker_settled

PATHS = ["status-a", "status-b"]
PERIOD = 5


def _boundaries(start: datetime, end: datetime) -> list[datetime]:
    """Every multiple of PERIOD seconds (later.js's `every 5 seconds`) in [start, end]."""
    first = start.replace(microsecond=0) + timedelta(seconds=-(start.second % PERIOD))
    found = []
    moment = first
    while moment <= end:
        if moment >= start:
            found.append(moment)
        moment += timedelta(seconds=PERIOD)
    return found


def _id(moment: datetime) -> str:
    return "alpha@" + moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("gap", [0, 7], ids=["together", "7 s apart"])
def test_two_beats_send_every_tick_and_the_startup_check_once(
    root: Path, certs: QlikCerts, receiver: HttpReceiver, report: Callable[..., None], gap: int
) -> None:
    site = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)]))
    with running_redis(root) as server, run_simulator([site], certs) as simulator:
        document = fault_document(
            certs, simulator, receiver, [f"/{path}" for path in PATHS], frequency="every 5 seconds"
        )
        deployment = Deployment(
            root, document, broker_url=server.url(0), result_backend=server.url(1)
        )
        try:
            deployment.start_worker(concurrency=2)
            # Each beat keeps its own state file, as two deployments would.
            first = deployment.spawn("beat", env={"LICMON_BEAT_STATE": str(root / "beat-a")})
            if gap:
                deployment.wait_ready(*first, "beat: Starting")
                time.sleep(gap)
            second = deployment.spawn("beat", env={"LICMON_BEAT_STATE": str(root / "beat-b")})
            deployment.wait_ready(*first, "beat: Starting")
            first_started = datetime.now(UTC) - timedelta(seconds=gap)
            deployment.wait_ready(*second, "beat: Starting")
            # Three ticks with both beats running (and a second of slack each side).
            time.sleep(3 * PERIOD + 3)
            stopped = datetime.now(UTC)
            for process, _ in (first, second):
                deployment.stop(process)

            beat_logs = [log.read_text() for _, log in (first, second)]
            startups = [
                re.findall(r"startup check of alpha: (alpha@\S+)", log) for log in beat_logs
            ]
            skipped = ["startup check of alpha skipped" in log for log in beat_logs]
            sends = sum(log.count("Sending due task license check alpha") for log in beat_logs)
            sent_startups = sum(len(ids) for ids in startups)
            worker_log = deployment.processes[0][2]
            wait_for(
                lambda: worker_settled(
                    worker_log.read_text(), "license.fetch", sends + sent_startups
                ),
                30,
                "the worker to finish every check the beats sent",
            )
            time.sleep(1)
            receipts = webhook_receipts(receiver)

            # What must have arrived: the startup check (its period's id) and every tick
            # from the second beat's start until the beats stopped (one second of slack at
            # each end: a tick that close to a start or stop may or may not be sent).
            period_ids = {ids[0] for ids in startups if ids}
            ticks = _boundaries(
                first_started + timedelta(seconds=1), stopped - timedelta(seconds=1)
            )
            expected_ids = period_ids | {_id(tick) for tick in ticks}
            tally = Tally({(check, path) for check in expected_ids for path in PATHS}, receipts)
            report(
                f"4 two beats, every 5 seconds, started {'together' if not gap else '7 s apart'}",
                tally,
                startup_checks_sent=sent_startups,
                ticks_required=len(ticks),
            )
            # One startup check between them; the other beat found its period checked (or,
            # started in the instant a tick was being sent, sent that tick's own id).
            assert sent_startups == 1 or (sent_startups == 2 and len(period_ids) == 1), startups
            assert any(skipped) or len(period_ids) == 1, beat_logs
            assert len(ticks) >= 3
            assert not tally.lost, tally
            # Nothing twice, whatever it is (a tick at the edges included).
            assert not tally.twice(), tally
            assert all(re.fullmatch(r"alpha@\S+", check) for check, _ in receipts)
        finally:
            deployment.stop_all()
