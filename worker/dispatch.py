"""Sending a check through the gate that keeps at most one check per site waiting.

Beat sends every tick and the startup check this way (fenced by its lease), and the fetch
task forwards a zoned site's check that arrived on the wrong queue this way too. The gate's
record lives in `licmon.state.pending`; this module adds the two things Redis alone cannot
do: looking into the queue for the record's message, and publishing.

Publishing goes through the app, so the router in `worker/settings.py` picks the queue;
the record names the same queue, from the same config.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import redis
from celery import Celery

from licmon.redis_connect import is_redis
from licmon.state.pending import Outcome
from licmon.state.queues import fetch_queue, task_ids
from worker import runtime
from worker.settings import FETCH_TASK

log = logging.getLogger("licmon.dispatch")


class Sent(StrEnum):
    PUBLISHED = "published"  # a new message is in the queue
    WAITING = "waiting"  # the site's waiting message will run the newest tick
    REPUBLISHED = "republished"  # the waiting message was gone; a new one replaces it
    ALREADY = "already"  # another beat (or this one) sent this tick before
    NOT_LEADER = "not-leader"  # this beat lost its lease; nothing sent


@dataclass(frozen=True)
class Dispatch:
    sent: Sent
    task_id: str
    queue: str


@dataclass
class QueueScan:
    """The task ids in each queue (and taken but unacknowledged), read at most once per
    `seconds`: beat offers hundreds of sites of a zone in one burst, and one read serves
    them all. Ids this process publishes are added as it goes."""

    client: redis.Redis
    seconds: float = 0.0
    _seen: dict[str, tuple[float, set[str]]] = field(default_factory=dict)

    def contains(self, queue: str, task_id: str) -> bool:
        read_at, ids = self._seen.get(queue, (float("-inf"), set()))
        if time.monotonic() - read_at > self.seconds:
            ids = task_ids(self.client, queue)
            self._seen[queue] = (time.monotonic(), ids)
        return task_id in ids

    def add(self, queue: str, task_id: str) -> None:
        if queue in self._seen:
            self._seen[queue][1].add(task_id)


def publish(
    app: Celery, kind: str, site: str, check_id: str, tick: str, task_id: str, producer: Any
) -> None:
    app.send_task(
        FETCH_TASK,
        kwargs={"site": site, "kind": kind, "check_id": check_id, "tick": tick},
        task_id=task_id,
        producer=producer,
        # Nobody waits for a scheduled check's result: it is not stored (a failure is,
        # `task_store_errors_even_if_ignored`), which spares Redis five commands a check.
        ignore_result=True,
    )


def send_check(
    app: Celery,
    kind: str,
    site: str,
    check_id: str,
    tick: str,
    *,
    lease: tuple[str, str] | None = None,
    entry: str | None = None,
    scan: QueueScan | None = None,
    producer: Any = None,
) -> Dispatch:
    """Publish a check of `site` unless one already waits for it, which then runs this
    (newer) tick instead. `lease` and `entry` fence a beat (`PendingChecks.offer`)."""
    config = runtime.config()
    queue = fetch_queue(config.site(site).zone)
    task_id = str(uuid.uuid4())
    if not is_redis(config.broker.url.get_secret_value()):
        # The demo's embedded broker: no queue in Redis to look into, and each process has
        # a state store of its own. One beat, one worker: publish every check.
        publish(app, kind, site, check_id, tick, task_id, producer)
        log.info("%s: sent to %s as task %s", check_id, queue, task_id)
        return Dispatch(Sent.PUBLISHED, task_id, queue)
    pending = runtime.pending()
    scan = scan or QueueScan(runtime.resources().redis)
    offer = pending.offer(kind, site, check_id, tick, queue, task_id, lease=lease, entry=entry)
    if offer.outcome is Outcome.NOT_LEADER:
        log.warning("%s: not sent, this beat no longer holds the lease", check_id)
        return Dispatch(Sent.NOT_LEADER, "", queue)
    if offer.outcome is Outcome.ALREADY:
        log.info("%s: sent before, not again", check_id)
        return Dispatch(Sent.ALREADY, "", queue)
    if offer.outcome is Outcome.PUBLISH:
        publish(app, kind, site, check_id, tick, task_id, producer)
        scan.add(queue, task_id)
        log.info("%s: sent to %s as task %s", check_id, queue, task_id)
        return Dispatch(Sent.PUBLISHED, task_id, queue)
    # A check of the site waits. Trust the record only while its message is really there.
    if scan.contains(offer.queue, offer.task):
        log.info(
            "%s: a check of %s still waits in %s (task %s); it will run as this tick",
            check_id,
            site,
            offer.queue,
            offer.task,
        )
        return Dispatch(Sent.WAITING, offer.task, offer.queue)
    return _replace_lost(app, kind, site, offer.task, queue, scan, producer)


def recover(app: Celery, kind: str, site: str, scan: QueueScan, producer: Any = None) -> None:
    """Send again the waiting check of `site` whose message is gone: a beat killed between
    writing the record and publishing, or a queue purged by hand."""
    waiting = runtime.pending().waiting(kind, site)
    if waiting is not None and not scan.contains(waiting[1].queue, waiting[0]):
        queue = fetch_queue(runtime.config().site(site).zone)
        _replace_lost(app, kind, site, waiting[0], queue, scan, producer)


def _replace_lost(
    app: Celery, kind: str, site: str, gone: str, queue: str, scan: QueueScan, producer: Any
) -> Dispatch:
    task_id = str(uuid.uuid4())
    check = runtime.pending().replace(kind, site, gone, task_id, queue)
    if check is None:
        # A worker took the record meanwhile, with the newest tick in it: nothing is lost.
        return Dispatch(Sent.WAITING, gone, queue)
    publish(app, kind, site, check.check_id, check.tick, task_id, producer)
    scan.add(queue, task_id)
    log.warning(
        "%s: the waiting check of %s (task %s) is no longer in %s; sent again as task %s",
        check.check_id,
        site,
        gone,
        queue,
        task_id,
    )
    return Dispatch(Sent.REPUBLISHED, task_id, queue)
