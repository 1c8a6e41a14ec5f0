"""`license.fetch`: read one site's license and fan the status out, one task per target.

Four layers, each failing in its own way:
1. fetch, under tenacity's quick attempts: the QRS call only;
2. judge: pure;
3. publish the whole fan-out through one producer, outside the QRS retry: a broker error
   is retried as a broker error (kombu's publish retry, then the task's own retry carrying
   the status), never by fetching again;
4. complete the claim (`LicmonTask.__call__`).

Before the claim, a message on the wrong queue is forwarded to its site's zone (tasks/gate.py);
each check's outcome is kept for `licmon status` (licmon/state/fleet.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from celery import Task
from celery.utils.time import get_exponential_backoff_interval
from kombu.exceptions import OperationalError

from licmon.checking import endpoint_for
from licmon.checks import DEFAULT_KIND, CheckKind, check_kind
from licmon.config.model import MonitorConfig, Site
from licmon.config.reliability import PUBLISH_RETRY
from licmon.destinations import DESTINATIONS
from licmon.qrs.client import QrsClient
from tasks import counting, fleet, gate
from tasks.base import Done, LicmonTask, quickly
from tasks.deliver import DELIVERY_TASKS
from worker import runtime
from worker.app import app
from worker.beat import check_id as make_check_id
from worker.beat import instant_text
from worker.settings import FETCH_TASK

log = logging.getLogger("licmon.tasks")
# QRS clients a worker process keeps (each holds at most one idle TLS connection).
QRS_CLIENTS_KEPT = 32


class FetchTask(LicmonTask):
    abstract = True

    def claim_name(self, arguments: dict[str, Any]) -> str:
        # A check sent by hand with a site alone is its own check.
        check = arguments.get("check_id") or f"task:{self.request.id}"
        return f"check:{arguments.get('kind') or DEFAULT_KIND}:{check}"

    def describe(self, arguments: dict[str, Any]) -> dict[str, str]:
        site = str(arguments.get("site", ""))
        try:
            host = runtime.config().site(site).host
        except KeyError:
            host = ""
        return {
            "site": site,
            "destination": "qrs",
            "target": host,
            "check_id": str(arguments.get("check_id") or ""),
        }

    def before_claim(self, arguments: dict[str, Any]) -> dict[str, Any] | Done:
        return gate.prepare(self, arguments)

    def on_failure(
        self,
        exc: Exception,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        try:
            super().on_failure(exc, task_id, args, kwargs, einfo)
        finally:
            fleet.failed(self.arguments(args, kwargs), exc)
            counting.count_check_failure(self.arguments(args, kwargs), exc)  # metrics


def read(kind: CheckKind, site: Site, config: MonitorConfig) -> Any:
    """Layers 1 and 2: the QRS answer, judged."""

    # The site's client (and its TLS connection) is kept while the site is among the most
    # recently checked of this process: reused by frequent checks, never piling up.
    client = runtime.resources().recent(
        ("qrs", site), lambda: QrsClient(endpoint_for(site)), keep=QRS_CLIENTS_KEPT
    )

    def call() -> Any:
        return kind.fetch(client)

    answer = quickly(call, config.retry)
    return kind.evaluate(site, answer, datetime.now(UTC), config)


def plan(kind: CheckKind, config: MonitorConfig, status: Any) -> list[tuple[str, str]]:
    """(destination, target) of every delivery of this status."""
    notices = kind.notices(status)
    return [
        (destination.name, target)
        for destination in DESTINATIONS
        if (settings := config.settings(destination.name)) is not None
        for target in destination.targets(settings, notices)
    ]


def publish(
    deliveries: list[tuple[str, str]],
    site: str,
    kind: str,
    status: dict[str, Any],
    check_id: str,
    tick: str,
) -> list[dict[str, str]]:
    """Layer 3: every delivery through one producer (one connection, one channel)."""
    sent = []
    with app.producer_or_acquire() as producer:
        for destination, target in deliveries:
            result = DELIVERY_TASKS[destination].apply_async(
                kwargs={
                    "site": site,
                    "target": target,
                    "status": status,
                    "check_id": check_id,
                    "tick": tick,
                    "kind": kind,
                },
                producer=producer,
                retry=True,
                retry_policy=PUBLISH_RETRY,
                # What Flower shows; Celery would otherwise saferepr the whole status.
                kwargsrepr=repr({"site": site, "target": target, "check_id": check_id}),
            )
            sent.append({"destination": destination, "target": target, "taskId": result.id})
    return sent


@app.task(name=FETCH_TASK, bind=True, base=FetchTask)
def fetch_license(
    self: Task,
    site: str,
    check_id: str | None = None,
    tick: str | None = None,
    kind: str = DEFAULT_KIND,
    status: dict[str, Any] | None = None,
    replay_of: str | None = None,
) -> dict[str, Any]:
    """Beat sends `site`, `check_id`, `tick` and `kind`; by hand, `site` alone checks it now.

    `status` is set only by this task's own retry after a broker error: the check was read
    and judged already and is not read again. `replay_of` is the task id of the dead letter
    a replay re-sends (handled in tasks/base.py).
    """
    config = runtime.config()
    target_site = config.site(site)
    check = check_kind(kind)
    moment = datetime.now(UTC)
    tick = tick or instant_text(moment)
    check_id = check_id or make_check_id(site, moment)
    fresh = status is None
    judged = read(check, target_site, config) if status is None else check.from_json(status)
    status = judged.to_json()
    if fresh:  # a retry carrying the status was recorded when it was read
        fleet.succeeded(check, site, status, check_id)
    deliveries = plan(check, config, judged)
    try:
        sent = publish(deliveries, site, kind, status, check_id, tick)
    except OperationalError as exc:
        log.warning(
            "checked %s (%s) but the broker refused the deliveries: %s", site, check_id, exc
        )
        countdown = get_exponential_backoff_interval(
            factor=self.retry_backoff,
            retries=self.request.retries,
            maximum=self.retry_backoff_max,
            full_jitter=True,
        )
        raise self.retry(
            exc=exc,
            countdown=countdown,
            kwargs={
                "site": site,
                "check_id": check_id,
                "tick": tick,
                "kind": kind,
                "status": status,
                "replay_of": replay_of,
            },
        ) from None
    log.info(
        "checked %s (%s): %s; delivering to %s",
        site,
        check_id,
        check.summary(judged),
        ", ".join(f"{d['destination']}/{d['target']}" for d in sent) or "nothing",
    )
    return status | {"checkId": check_id, "deliveries": sent}
