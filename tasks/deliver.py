"""`deliver.<destination>`: one status to one target. One task family per destination,
each on its own queue, registered from `licmon.destinations.DESTINATIONS`."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import Task

from licmon.core.status import LicenseStatus
from licmon.destinations import DESTINATIONS, Delivery, Destination
from tasks.reliability import ReliableTask, run_once
from worker import runtime
from worker.app import app
from worker.settings import delivery_task

log = logging.getLogger("licmon.tasks")


def deliver(
    task: Task,
    destination: Destination,
    site: str,
    target: str,
    status: dict[str, Any],
    check_id: str,
    tick: str,
) -> str | None:
    config = runtime.config()
    delivery = Delivery(
        site=config.site(site),
        status=LicenseStatus.from_json(status),
        check_id=check_id,
        tick=datetime.fromisoformat(tick),
    )
    details = {
        "site": site,
        "destination": destination.name,
        "target": target,
        "check_id": check_id,
    }

    def send() -> str:
        return destination.deliver(config, target, delivery, runtime.redis_client())

    done = run_once(task, f"delivery:{check_id}:{destination.name}:{target}", send, details)
    if done is not None:
        log.info("%s/%s for %s (%s): %s", destination.name, target, site, check_id, done)
    return done


def _register(destination: Destination) -> Task:
    @app.task(name=delivery_task(destination.name), bind=True, base=ReliableTask)
    def deliver_to(
        self: Task, site: str, target: str, status: dict[str, Any], check_id: str, tick: str
    ) -> str | None:
        return deliver(self, destination, site, target, status, check_id, tick)

    return deliver_to


DELIVERY_TASKS: dict[str, Task] = {
    destination.name: _register(destination) for destination in DESTINATIONS
}
