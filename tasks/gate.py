"""What a `license.fetch` message does before its check is claimed (`FetchTask.before_claim`).

1. If it is the message a site's waiting-check record names, it takes the record, and runs
   the newest tick offered while it waited instead of its own (licmon/state/pending.py).
2. If it arrived on a queue other than its site's (a zoned site's check sent to
   `license.fetch` by a bare Celery client naming the queue, or a site whose zone changed),
   it is forwarded to the right queue, through the same one-waiting-check gate as beat's
   ticks, and not run here: a central worker never reads a zone's QRS.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from celery import Task

from licmon.state.queues import fetch_queue
from tasks.base import Done
from worker import runtime
from worker.beat import check_id as make_check_id
from worker.beat import instant_text
from worker.dispatch import send_check

log = logging.getLogger("licmon.tasks")


def prepare(task: Task, arguments: dict[str, Any]) -> dict[str, Any] | Done:
    config = runtime.config()
    site = arguments.get("site")
    kind = arguments.get("kind") or config.plugins.default_kind.name
    try:
        wanted = fetch_queue(config.site(str(site)).zone)
    except KeyError:
        return arguments  # the run fails on the unknown site, with its own message
    taken = runtime.pending().take(kind, str(site), task.request.id)
    if taken is not None and taken.check_id != arguments.get("check_id"):
        log.info(
            "%s: waited while newer ticks came; checking the newest, %s",
            arguments.get("check_id"),
            taken.check_id,
        )
        arguments = arguments | {"check_id": taken.check_id, "tick": taken.tick}
    arrived = (task.request.delivery_info or {}).get("routing_key")
    if not arrived or arrived == wanted:
        return arguments
    now = datetime.now(UTC)
    check_id = arguments.get("check_id") or make_check_id(str(site), now)
    sent = send_check(
        task.app, kind, str(site), check_id, arguments.get("tick") or instant_text(now)
    )
    log.info("%s: arrived on %s, forwarded to %s (%s)", check_id, arrived, wanted, sent.sent)
    return Done({"forwardedTo": wanted, "checkId": check_id, "taskId": sent.task_id})
