"""`celery -A worker worker --beat-thread`: beat and worker in one process."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from licmon.simulator import SimulatedLicense, SiteSpec, run_simulator
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import (
    Deployment,
    Stack,
    in_days,
    ran_as,
    wait_for,
)

pytest_plugins = ["tests.pipeline_fixtures"]


@pytest.fixture
def one_process(tmp_path_factory: pytest.TempPathFactory, stack: Stack) -> Iterator[Deployment]:
    site = SiteSpec("solo", license=SimulatedLicense(valid_to=[in_days(200)]))
    with run_simulator([site], stack.certs) as simulator:
        config = stack.document(
            simulator,
            status_hooks=[stack.hook("/solo")],
            frequency="every 2 seconds",
            rate_limit=0,
        )
        deployment = Deployment(tmp_path_factory.mktemp("beat-thread"), config)
        try:
            yield deployment
        finally:
            deployment.stop_all()


def test_beat_thread_sends_the_startup_check_and_the_ticks(
    one_process: Deployment, receiver: HttpReceiver
) -> None:
    worker = one_process.start(
        "worker", "--pool", "threads", "-c", "4", "--beat-thread", ready="ready."
    )

    def delivered() -> Counter[str]:
        return Counter(r.headers["x-licmon-check-id"] for r in receiver.received("/solo"))

    # The startup check and at least two ticks, each delivered once.
    wait_for(lambda: len(delivered()) >= 3, 20, "the startup check and two ticks")
    log = one_process.logs()
    (startup,) = re.findall(r"startup check of solo: (solo@\S+)", log)
    # On a busy machine the startup check may still wait when the first tick comes: it
    # then runs once, as that tick.
    assert ran_as(log, startup) in delivered() and max(delivered().values()) == 1
    # One process: the threads pool and the beat thread have no child process.
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    assert children == []
