"""What a check costs in Redis, bounded: at most 14 commands per delivery, the commands that
Lua scripts run included, with task events off. Counted as `make bench` counts them
(tests/redis_monitor.py): MONITOR on a Redis of this test's own, from the LPUSH of a check's
fetch message, sent as beat sends it, to the acknowledgement of the last of its 9
deliveries (3 status and 3 alert webhooks, MQTT status and alert, one InfluxDB point).

Bare Celery doing the same I/O costs 11.0 (bench/bare_app.py); what licmon adds is listed
in docs/benchmarks.md. A change that adds a round trip to every delivery fails here."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from licmon.simulator import SimulatedLicense, SiteSpec, run_simulator
from tests.fleet_support import RedisServer, on_own_redis
from tests.pipeline_support import Deployment, Stack, in_days
from tests.redis_monitor import RedisCommands, monitoring

pytest_plugins = ["tests.pipeline_fixtures", "tests.fleet_fixtures"]

SITE = "costed"
DELIVERIES = 9
BOUND = 14
CHECKS = 5


@pytest.fixture(scope="module")
def costed(
    tmp_path_factory: pytest.TempPathFactory, stack: Stack, own_redis: RedisServer
) -> Iterator[Deployment]:
    # 30 days left: every check alerts its alert targets (Butler's policy: every check).
    site = SiteSpec(SITE, license=SimulatedLicense(valid_to=[in_days(30)]))
    with run_simulator([site], stack.certs) as simulator:
        document = stack.document(
            simulator,
            status_hooks=[stack.hook(f"/cost/status-{i}") for i in range(3)],
            alert_hooks=[stack.hook(f"/cost/alert-{i}") for i in range(3)],
            rate_limit=0,
        )
        document["licmon"].setdefault("broker", {})["taskEvents"] = False
        deployment = on_own_redis(Deployment(tmp_path_factory.mktemp("cost"), document), own_redis)
        deployment.start_worker(2)
        try:
            yield deployment
        finally:
            deployment.stop_all()


def send(deployment: Deployment) -> str:
    """A check as beat sends it (worker/dispatch.py): by name, no result stored."""
    check_id = f"{SITE}@{uuid.uuid4().hex[:12]}"
    sent = deployment.client().send_task(
        "license.fetch",
        kwargs={"site": SITE, "check_id": check_id, "tick": "2026-12-07T00:00:00Z"},
        queue="license.fetch",
        ignore_result=True,
    )
    return str(sent.id)


def window(capture: RedisCommands, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        try:
            return capture.window(task_id, DELIVERIES)
        except LookupError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_delivery_costs_at_most_14_redis_commands_lua_included(
    costed: Deployment, own_redis: RedisServer
) -> None:
    with monitoring(own_redis.url(0)) as capture:
        for _ in range(2):  # a fresh worker's first checks load scripts, open connections
            window(capture, send(costed))
        windows = []
        for _ in range(CHECKS):
            windows.append(window(capture, send(costed)))
            time.sleep(0.3)  # one at a time, as the bench sends them
    per_check = [w["commands"] for w in windows]
    per_delivery = statistics.median(per_check) / DELIVERIES
    shown = {"per check": per_check, "by command": windows[0]["by_command"]}
    assert all(w["messages"] == DELIVERIES + 1 for w in windows), shown
    # Scripts run: the pending-check gate's and the alert decision's, their commands counted.
    assert all(w["lua_commands"] > 0 for w in windows), shown
    assert per_delivery <= BOUND, shown
