"""`license.fetch`: read one site's license and fan the status out, one task per target."""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import Any

from celery import Task

from licmon.checking import endpoint_for, judge
from licmon.config.model import Site
from licmon.core.status import LicenseStatus
from licmon.destinations import DESTINATIONS
from licmon.qrs.client import QrsClient
from tasks.deliver import DELIVERY_TASKS
from tasks.reliability import ReliableTask, run_once
from worker import runtime
from worker.app import app
from worker.beat import check_id as make_check_id
from worker.beat import instant_text
from worker.settings import FETCH_TASK

log = logging.getLogger("licmon.tasks")


@functools.cache
def qrs_client(site: Site) -> QrsClient:
    # One client per site and process: its TLS connection is reused from check to check.
    return QrsClient(endpoint_for(site))


def fan_out(site: Site, status: dict[str, Any], check_id: str, tick: str) -> list[dict[str, str]]:
    config = runtime.config()
    judged = LicenseStatus.from_json(status)
    sent = []
    for destination in DESTINATIONS:
        for target in destination.targets(config, judged):
            result = DELIVERY_TASKS[destination.name].apply_async(
                kwargs={
                    "site": site.name,
                    "target": target,
                    "status": status,
                    "check_id": check_id,
                    "tick": tick,
                }
            )
            sent.append({"destination": destination.name, "target": target, "taskId": result.id})
    return sent


@app.task(name=FETCH_TASK, bind=True, base=ReliableTask)
def fetch_license(
    self: Task, site: str, check_id: str | None = None, tick: str | None = None
) -> dict[str, Any] | None:
    """Beat sends `site`, `check_id` and `tick`; by hand, `site` alone checks it now."""
    config = runtime.config()
    target_site = config.site(site)
    moment = datetime.now(UTC)
    tick = tick or instant_text(moment)
    check_id = check_id or make_check_id(site, moment)
    details = {"site": site, "destination": "qrs", "target": target_site.host, "check_id": check_id}

    def check() -> dict[str, Any]:
        answer = qrs_client(target_site).get_license()
        status = judge(target_site, answer, datetime.now(UTC), config.date_order).to_json()
        deliveries = fan_out(target_site, status, check_id, tick)
        log.info(
            "checked %s (%s): %s, %s days left; delivering to %s",
            site,
            check_id,
            status["status"],
            status["daysUntilExpiry"],
            ", ".join(f"{d['destination']}/{d['target']}" for d in deliveries) or "nothing",
        )
        return status | {"checkId": check_id, "deliveries": deliveries}

    return run_once(self, f"check:{check_id}", check, details)
