"""After the broker connection comes back, put back at once what this worker was holding.

A worker holds messages it has not acknowledged: retries waiting for their countdown (Celery
keeps the message until its ETA), and the task it is running. When Redis goes away, Celery
drops what it was waiting on (its timer is cleared with the connection) and kombu tries to
return the messages to their queues, which fails while Redis is down. The messages stay in
Redis's unacknowledged set, safe, but only kombu's sweep returns them, once the visibility
timeout has passed: up to `licmon.broker.visibilityTimeoutSeconds` after Redis is back.

This consumer step, started on every (re)connection before the worker consumes anything,
returns those messages itself: each message the old connection held that no task of this
worker is running, and that nobody received since the connection was lost (its score in
kombu's index is still from before), goes back to the front of its queue in one Redis
transaction. A retry held during a broker restart then runs seconds after the restart, in
every worker that survives it; a worker that did not survive leaves its messages to the
sweep. A task that was running finishes on its own and is acknowledged (were that lost,
the sweep would bring it back later, and its done claim would skip it).

It reads kombu's Redis QoS (`_delivered`, `_dirty`) and calls `_do_restore_message`: the
versions in `constraints.txt` are the ones `tests/faults` proves this with.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import bootsteps
from celery.worker import state
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

log = logging.getLogger("licmon.worker")
# How often the prefork pool looks for children that died (kill -9, OOM) without being
# told: billiard's own pool does every 5 s, and its exit notice (the child's sentinel) does
# not always wake the event loop.
REAP_SECONDS = 1.0


class ReapLostChildren(bootsteps.StartStopStep):
    """Worker step: a killed prefork child's task goes back to its queue within about a
    second (Celery rejects it back to the queue as soon as the pool sees the child gone),
    not up to 5 s later. Registered again with every event loop, as the pool's own timers
    are (the loop's timers are cleared when the broker connection is lost)."""

    label = "Reap lost children"
    requires = ("celery.worker.components:Pool",)

    def register_with_event_loop(self, worker: Any, hub: Any) -> None:
        maintain = getattr(worker.pool, "maintain_pool", None)
        # Prefork's reaps dead children; a pool without children (threads) does nothing.
        if maintain is not None:
            hub.call_repeatedly(REAP_SECONDS, maintain)


class ReturnHeldMessages(bootsteps.StartStopStep):
    """Consumer step: after a reconnection, return what the lost connection held."""

    label = "Return held messages"
    # After Tasks (which makes the new channel), before the event loop consumes from it.
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        self.channel: Any = None
        self.lost_at: float | None = None
        super().__init__(parent, **kwargs)

    def start(self, parent: Any) -> None:
        consumer = getattr(parent, "task_consumer", None)
        channel = getattr(consumer, "channel", None)
        previous, self.channel = self.channel, channel
        if previous is None or channel is None or previous is channel or self.lost_at is None:
            return
        try:
            returned = return_held(previous, channel, self.lost_at, running_tags())
        except Exception:  # the sweep still returns them later: never stop the worker for it
            log.exception("could not return the messages held before the reconnection")
            return
        if returned:
            log.warning(
                "returned %d message(s) held when the broker connection was lost "
                "(retries waiting for their countdown) to their queues",
                returned,
            )

    def stop(self, parent: Any) -> None:
        # Called when the connection is lost (the consumer restarts) and at shutdown.
        self.lost_at = time.time()


def running_tags() -> set[str]:
    """Delivery tags of the tasks this worker is running: they finish on their own."""
    tags = set()
    for request in tuple(state.active_requests):
        message = getattr(request, "message", None)
        tag = getattr(message, "delivery_tag", None)
        if tag is not None:
            tags.add(str(tag))
    return tags


def held_tags(channel: Any) -> list[str]:
    """What the channel received and neither acknowledged nor returned (kombu's QoS)."""
    qos = getattr(channel, "_qos", None)
    if qos is None:
        return []
    delivered = list(getattr(qos, "_delivered", {}))
    acked = set(getattr(qos, "_dirty", set()))
    return [str(tag) for tag in delivered if tag not in acked]


def return_held(previous: Any, channel: Any, lost_at: float, running: set[str]) -> int:
    """Return each message `previous` held (less `running`) that is still as it was when
    the connection was lost; how many were returned."""
    tags = [tag for tag in held_tags(previous) if tag not in running]
    if not tags:
        return 0
    returned = 0
    with channel.conn_or_acquire() as client:
        for tag in tags:
            returned += _return_one(channel, client, tag, lost_at)
    return returned


def _return_one(channel: Any, client: Any, tag: str, lost_at: float) -> int:
    index, table = channel.unacked_index_key, channel.unacked_key
    outcome = 0

    def transaction(pipe: Any) -> None:
        nonlocal outcome
        outcome = 0
        score = pipe.zscore(index, tag)
        raw = pipe.hget(table, tag)
        pipe.multi()
        # Gone: acknowledged, or already returned by kombu or its sweep. A newer score: the
        # sweep returned it and another worker holds it now; returning it again would run
        # it twice.
        if raw is None or score is None or score > lost_at:
            return
        payload, exchange, routing_key = loads(bytes_to_str(raw))
        pipe.zrem(index, tag)
        pipe.hdel(table, tag)
        channel._do_restore_message(payload, exchange, routing_key, pipe)
        outcome = 1

    # WATCHed: if anyone touches the index or the table meanwhile, Redis refuses the EXEC
    # and the check runs again on what is there now.
    client.transaction(transaction, index, table)
    return outcome
