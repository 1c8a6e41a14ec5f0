"""Beat as a process: a startup check, then ticks on the later.js schedule; a restart
sends no tick twice, and a startup check only for a period of the schedule nobody checked."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest

from licmon.simulator import SimulatedLicense, SiteSpec, run_simulator
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import (
    Deployment,
    Stack,
    in_days,
    ran_as,
    wait_for,
    worker_settled,
)

pytest_plugins = ["tests.pipeline_fixtures"]


@pytest.fixture(scope="module")
def ticking(tmp_path_factory: pytest.TempPathFactory, stack: Stack) -> Iterator[Deployment]:
    site = SiteSpec("ticker", license=SimulatedLicense(valid_to=[in_days(200)]))
    with run_simulator([site], stack.certs) as simulator:
        config = stack.document(
            simulator,
            status_hooks=[stack.hook("/ticks")],
            frequency="every 2 seconds",
            rate_limit=0,
        )
        deployment = Deployment(tmp_path_factory.mktemp("beat"), config)
        deployment.start_worker(concurrency=2)
        try:
            yield deployment
        finally:
            deployment.stop_all()


def startup_ids(log: str) -> list[str]:
    return re.findall(r"startup check of ticker: (ticker@\S+)", log)


def startup_skipped(log: str) -> bool:
    return "startup check of ticker skipped: this period" in log


def test_startup_check_then_ticks_and_a_clean_restart(
    ticking: Deployment, receiver: HttpReceiver
) -> None:
    def calls() -> Counter[str]:
        return Counter(
            request.headers["x-licmon-check-id"] for request in receiver.received("/ticks")
        )

    def run_a_beat() -> None:
        """Start a beat and stop it once its startup check and two ticks of its own arrived."""
        before = set(calls())
        beat = ticking.start_beat()
        log = ticking.processes[-1][2]

        def two_ticks_in() -> bool:
            text = log.read_text()
            ids = startup_ids(text)
            seen = calls()
            # The startup check may be skipped (its period was checked already); else it
            # has the period's id, which may be the previous beat's last tick (delivered
            # before this beat started) or may have run as the first tick if that came
            # while it still waited.
            startup = ran_as(ticking.logs(), ids[0]) if ids else ""
            started = startup_skipped(text) or (bool(ids) and startup in seen)
            return started and len(set(seen) - before - {startup}) >= 2

        # "every 2 seconds": two ticks take 2 to 4 s after the first; 20 s is a broken beat.
        wait_for(two_ticks_in, 20, "a startup check and two ticks delivered")
        ticking.stop(beat)

    run_a_beat()
    run_a_beat()

    beat_logs = [log.read_text() for role, _, log in ticking.processes if role == "beat"]
    starts = [startup_ids(log) for log in beat_logs]
    # The first beat checks at once; the restarted one only if its period was not checked.
    assert len(starts[0]) == 1 and not startup_skipped(beat_logs[0]), beat_logs
    assert len(starts[1]) == 1 or (not starts[1] and startup_skipped(beat_logs[1])), beat_logs
    # Every message the beats published: ticks and the startup checks. A tick that came
    # while the site's previous check still waited published nothing (it made the waiting
    # one run as this newer tick).
    published = re.findall(r"(ticker@\S+): sent to \S+ as task", "\n".join(beat_logs))
    # Both beats are stopped; once the worker has run every fetch they sent and all that
    # those fanned out, nothing more can arrive.
    worker_log = next(log for role, _, log in ticking.processes if role == "worker")
    wait_for(
        lambda: worker_settled(worker_log.read_text(), "license.fetch", len(published)),
        30,
        "the worker to finish every check the beats sent",
    )
    delivered = calls()
    # Nothing twice: not across the restart, not the startup check.
    assert delivered and max(delivered.values()) == 1, delivered
    logs = ticking.logs()
    ran = {ran_as(logs, ids[0]) for ids in starts if ids}
    assert ran <= set(delivered)
    ticks = sorted(set(delivered) - ran)
    # Ticks and periods are calendar-aligned: even seconds, as later.js reads "every 2
    # seconds"; a startup check has its period's id.
    assert len(ticks) >= 4, delivered
    assert all(int(tick[-3:-1]) % 2 == 0 for tick in delivered), delivered
    # Every published check was delivered, as itself or as the tick it waited for; nothing
    # else was (a startup id equal to the previous beat's last tick is skipped as done).
    assert {ran_as(logs, check) for check in published} == set(delivered)
