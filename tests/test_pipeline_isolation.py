"""One webhook never answers, another answers 500, InfluxDB is down: MQTT and the healthy
webhook still deliver within 2 s of the fetch, and the failing targets retry, then end in
the dead-letter list and as FAILURE in the result backend (what Flower shows)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis
import requests

from licmon.simulator import SimulatedLicense, SiteSpec, run_simulator
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import (
    WEBHOOK_TOKEN,
    Deployment,
    MessageLog,
    Stack,
    client,
    fetch,
    in_days,
    wait_for,
)
from tests.services import InfluxServer, free_port

pytest_plugins = ["tests.pipeline_fixtures"]
FLOWER_PORT = free_port()
FLOWER_AUTH = "ops:fl0wer-pass"


@pytest.fixture(scope="module")
def faulty(
    tmp_path_factory: pytest.TempPathFactory,
    stack: Stack,
) -> Iterator[Deployment]:
    receiver, influx_server = stack.receiver, stack.influx
    receiver.on("/never-answers", hang=True)
    receiver.on("/fails", status=500)
    site = SiteSpec("iso", license=SimulatedLicense(valid_to=[in_days(30)]))
    with run_simulator([site], stack.certs) as simulator:
        hooks = [stack.hook(path) for path in ("/never-answers", "/fails", "/healthy")]
        deployment = Deployment(
            tmp_path_factory.mktemp("faulty"), stack.document(simulator, status_hooks=hooks)
        )
        # Flower first, so it sees every event of the run.
        deployment.start(
            "flower",
            f"--port={FLOWER_PORT}",
            "--address=127.0.0.1",
            ready="Visit me at",
            env={"FLOWER_BASIC_AUTH": FLOWER_AUTH},
        )
        deployment.start_worker()
        try:
            yield deployment
        finally:
            deployment.stop_all()
            if influx_server.process is None:
                influx_server.start()


def test_failing_destinations_never_delay_or_lose_the_others(
    faulty: Deployment,
    receiver: HttpReceiver,
    topics: tuple[str, MessageLog],
    influx_server: InfluxServer,
    broker: redis.Redis,
) -> None:
    _, mqtt_log = topics
    influx_server.stop()
    tick = "2026-11-28T05:00:00Z"
    check_id = "iso@" + tick
    started = time.monotonic()
    outcome = fetch("iso", check_id, tick)

    def healthy_call() -> bool:
        return any(
            r.headers.get("x-licmon-check-id") == check_id for r in receiver.received("/healthy")
        )

    wait_for(healthy_call, 10, "the healthy webhook", every=0.01)
    webhook_after = time.monotonic() - started
    wait_for(lambda: len(mqtt_log.for_site("iso")) >= 2, 10, "MQTT status and alert", every=0.01)
    mqtt_after = time.monotonic() - started
    assert webhook_after < 2.0, f"healthy webhook after {webhook_after:.2f} s"
    assert mqtt_after < 2.0, f"MQTT after {mqtt_after:.2f} s"

    deliveries = {d["target"]: d["taskId"] for d in outcome.get(timeout=10)["deliveries"]}
    failing = {"status-1": "webhook", "status-2": "webhook", "influxdb": "influxdb"}

    def dead_letters() -> dict[str, dict]:
        entries = [json.loads(raw) for raw in broker.lrange("licmon:deadletters", 0, -1)]
        mine = {entry["target"]: entry for entry in entries if entry["checkId"] == check_id}
        return mine if set(failing) <= set(mine) else {}

    letters = wait_for(dead_letters, 60, "three dead letters")
    for target, destination in failing.items():
        assert letters[target]["destination"] == destination
        assert letters[target]["site"] == "iso"
        assert letters[target]["attempts"] == 2  # the first run and the one Celery retry
        state = client().AsyncResult(deliveries[target])
        wait_for(lambda state=state: state.state == "FAILURE", 10, f"{target} FAILURE")
    assert "500" in letters["status-2"]["reason"]
    assert "1 s" in letters["status-1"]["reason"] or "timed out" in letters["status-1"]["reason"]
    assert WEBHOOK_TOKEN not in json.dumps(letters)
    # Retried: each failing webhook was called by the first run and by the Celery retry.
    assert len(receiver.received("/never-answers")) >= 2
    assert len(receiver.received("/fails")) >= 2
    for target in ("status", "alert", "status-3"):
        # Delivered (the receivers above saw them); a delivery stores only its failures.
        assert client().AsyncResult(deliveries[target]).state == "PENDING"

    done = subprocess.run(
        [sys.executable, "-m", "licmon.cli.main", "deadletters"],
        capture_output=True,
        text=True,
        env=faulty.env(),
        timeout=30,
        check=True,
    )
    assert "iso  webhook/status-2  " + check_id in done.stdout
    assert "iso  influxdb/influxdb  " + check_id in done.stdout
    assert WEBHOOK_TOKEN not in done.stdout
    # Nor in the worker's log, nor in the task arguments and results that Flower shows.
    assert WEBHOOK_TOKEN not in faulty.logs()
    for task_id in deliveries.values():
        meta = client().backend.get_task_meta(task_id)
        assert WEBHOOK_TOKEN not in json.dumps(meta, default=str)


def test_flower_shows_readable_tasks_without_secrets(faulty: Deployment) -> None:
    api = f"http://127.0.0.1:{FLOWER_PORT}/api/tasks"
    assert requests.get(api, timeout=10).status_code == 401
    user, password = FLOWER_AUTH.split(":")

    def tasks() -> dict[str, dict]:
        found = requests.get(api, auth=(user, password), timeout=10).json()
        failed = [task for task in found.values() if task.get("state") == "FAILURE"]
        return found if len(failed) >= 3 else {}

    shown = wait_for(tasks, 30, "Flower to show the failed deliveries")
    names = {task["name"] for task in shown.values()}
    assert {"license.fetch", "deliver.influxdb", "deliver.mqtt", "deliver.webhook"} <= names
    failed = {task["name"] for task in shown.values() if task["state"] == "FAILURE"}
    assert failed == {"deliver.webhook", "deliver.influxdb"}
    fetch_task = next(task for task in shown.values() if task["name"] == "license.fetch")
    assert "'iso'" in fetch_task["args"] and "iso@2026-11-28T05:00:00Z" in fetch_task["kwargs"]
    assert WEBHOOK_TOKEN not in json.dumps(shown)
