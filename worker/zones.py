"""Which zones a worker serves.

`celery -A worker worker -Q license.fetch.<zone>` consumes that zone's checks only; a worker
without -Q consumes the central queues only (worker/settings.py `queues`). `--zone <zone>`
adds a zone's queue to whatever the worker consumes, so one worker can serve a zone and the
central queues at once (`celery -A worker worker --zone dc-a`) without listing every
delivery queue by hand.

A worker that consumes a zone's queue while no configured site is in that zone is most
likely a typo that leaves the real zone unserved: it says so when it starts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import click
from celery import Celery, bootsteps

from licmon.config.fleet import ZONE_RULE, is_zone
from licmon.state.queues import FETCH_QUEUE, fetch_queue
from worker import runtime

log = logging.getLogger("licmon.worker")


def _zones(_: click.Context, __: click.Parameter, values: Sequence[str]) -> tuple[str, ...]:
    zones = tuple(zone.strip() for value in values for zone in value.split(",") if zone.strip())
    for zone in zones:
        if not is_zone(zone):
            raise click.BadParameter(f"{zone!r}: expected {ZONE_RULE}")
    return zones


class ZoneQueues(bootsteps.Step):
    """Adds `--zone` queues to the worker's, after -Q (and its default) are applied."""

    label = "Zone queues"

    def __init__(self, worker: Any, zone: Sequence[str] = (), **kwargs: Any) -> None:
        queues = worker.app.amqp.queues
        # Fix what this worker consumes now (its -Q, or the central queues). A zone's queue
        # this process creates later, by forwarding a check there, must never join it, not
        # even when the consumer restarts after a lost connection: without -Q, Celery 5.4
        # consumes every queue the app knows of at that moment.
        queues.select(list(queues.consume_from))
        for name in zone:
            queues.select_add(fetch_queue(name))
        configured = {site.zone for site in runtime.config().sites if site.zone}
        prefix = f"{FETCH_QUEUE}."
        for queue in queues.consume_from:
            if queue.startswith(prefix) and queue[len(prefix) :] not in configured:
                log.warning(
                    "this worker consumes %s, but no configured site is in zone %r",
                    queue,
                    queue[len(prefix) :],
                )
        super().__init__(worker, **kwargs)


def install(app: Celery) -> None:
    app.user_options["worker"].add(
        click.Option(
            ["--zone"],
            multiple=True,
            callback=_zones,
            metavar="ZONE",
            help="Also consume this zone's checks (queue license.fetch.ZONE); repeat or "
            "separate with commas.",
        )
    )
    app.steps["worker"].add(ZoneQueues)
