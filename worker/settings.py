"""Every Celery setting of the service, in one place, each with the reason it has its value:
queues, routes, the retry policy of every task, and the reliability settings.

Queues: one for fetching and one per destination, so a backlog of webhook retries never
delays an MQTT message or the next license check; and one for fetching per zone, for the
workers inside that zone's network.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kombu import Queue

from licmon import lifetimes, redis_connect
from licmon.config import reliability
from licmon.config.model import MonitorConfig, RetryPolicy
from licmon.plugins import DESTINATIONS
from licmon.state.queues import FETCH_QUEUE, FETCH_TASK, fetch_queue

# The digest (tasks/digest.py): the fan-out runs beside the checks, each of its deliveries
# on its destination's queue.
DIGEST_TASK = "alerts.digest"
DIGEST_DELIVERY_TASK = "alerts.digest_to"


def delivery_task(destination: str) -> str:
    return f"deliver.{destination}"


def delivery_queue(destination: str) -> str:
    return f"deliver.{destination}"


# How many times a message may come back because its worker died (OOM, kill -9) before it
# is dead-lettered instead of crashing the next worker too.
MAX_REDELIVERIES = 3
# A finished check or delivery refuses duplicates (a second beat, a resend) this long.
DONE_SECONDS = lifetimes.DONE_SECONDS


def claim_seconds(config: MonitorConfig) -> int:
    """How long a claim is held: past the longest retry chain the config allows, and past
    every redelivery after a lost worker that the cap allows."""
    broker = config.broker
    return reliability.claim_seconds(
        config.retry, broker.time_limits, broker.visibility_timeout, MAX_REDELIVERIES
    )


def transport_options(config: MonitorConfig) -> dict[str, Any]:
    """kombu's Redis ack emulation: a message delivered to a worker that never acknowledges
    it (the worker was lost) is put back in its queue by any worker's restore sweep once
    the visibility timeout has passed, within RESTORE_BOUND_SECONDS of it."""
    return {
        # Above the longest countdown plus the hard time limit (checked by the config), or a
        # retry waiting for its countdown would be given to a second worker.
        "visibility_timeout": int(config.broker.visibility_timeout),
        # kombu's defaults sweep every 10 s but scan only every 10th time (about 100 s).
        "unacked_restore_interval": reliability.RESTORE_SWEEP_SECONDS,
        "unacked_restore_throttle": 1,
        # A worker killed while sweeping holds the sweep's lock this long (kombu: 300 s).
        "unacked_mutex_expire": reliability.RESTORE_MUTEX_SECONDS,
    }


def retry_annotations(policy: RetryPolicy) -> dict[str, Any]:
    """Celery's declared retries (autoretry) for every task of the service: jittered
    exponential countdowns, `retries` times, after the quick in-task attempts."""
    return {
        "max_retries": policy.retries,
        "retry_backoff": max(1, int(policy.backoff_seconds)),
        "retry_backoff_max": int(policy.backoff_max_seconds),
        "retry_jitter": True,
    }


def queues() -> tuple[Queue, ...]:
    # The central queues only. A worker started without -Q consumes exactly these (fixed
    # when it starts, worker/zones.py), so it never takes a zone's checks; a zone's queue,
    # `license.fetch.<zone>`, exists once a check is routed to it or a worker names it with
    # -Q or --zone.
    return (
        Queue(FETCH_QUEUE),
        *(Queue(delivery_queue(destination.name)) for destination in DESTINATIONS),
    )


def routes() -> dict[str, dict[str, str]]:
    table = {FETCH_TASK: {"queue": FETCH_QUEUE}, DIGEST_TASK: {"queue": FETCH_QUEUE}}
    for destination in DESTINATIONS:
        table[delivery_task(destination.name)] = {"queue": delivery_queue(destination.name)}
    return table


def fetch_router(config: MonitorConfig) -> Callable[..., dict[str, str] | None]:
    """A site's check goes to its zone's queue (`license.fetch.<zone>`), whoever sends it
    through this app: beat, the startup check, a person's `send_task`. An explicit `queue=`
    still wins, as in Celery; a zoned site's check that lands centrally that way is forwarded
    by the fetch task (`worker/dispatch.py`)."""
    queue_of = {site.name: fetch_queue(site.zone) for site in config.sites}

    def route(
        name: str,
        args: Sequence[Any] | None,
        kwargs: Mapping[str, Any] | None,
        options: Mapping[str, Any],
        task: Any = None,
        **_: Any,
    ) -> dict[str, str] | None:
        if name != FETCH_TASK:
            return None
        site = (kwargs or {}).get("site") or (args[0] if args else None)
        queue = queue_of.get(site) if isinstance(site, str) else None
        return {"queue": queue} if queue else None

    return route


def beat_state_file() -> str:
    path = Path(os.environ.get("LICMON_BEAT_STATE", ".licmon/beat-schedule"))
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def celery_settings(config: MonitorConfig) -> dict[str, Any]:
    broker_url = config.broker.url.get_secret_value()
    # Only Redis has a visibility timeout; the demo's embedded SQLite transport refuses it.
    # TLS and Sentinel come from the one place every Redis connection is built.
    transport = (
        transport_options(config) | redis_connect.broker_transport_options(config.broker)
        if redis_connect.is_redis(broker_url)
        else {}
    )
    limits = config.broker.time_limits
    events = config.broker.task_events
    return redis_connect.celery_options(config.broker) | {
        "broker_url": broker_url,
        "result_backend": redis_connect.result_backend_url(config.broker),
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": transport,
        # Results are for Flower and `licmon` to inspect, not an archive. Deliveries store
        # none (nobody reads them) except their failures.
        "result_expires": 24 * 3600,
        "task_store_errors_even_if_ignored": True,
        "task_queues": queues(),
        "task_default_queue": FETCH_QUEUE,
        # The fetch router first: it knows each site's zone; the table routes the rest.
        "task_routes": (fetch_router(config), routes()),
        "task_annotations": {"*": retry_annotations(config.retry)},
        # JSON only: task arguments are site names and statuses, readable in Flower.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # Acknowledge after the work, so a worker that dies mid-task loses nothing; the
        # idempotency claims make the resulting redelivery harmless.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message at a time per worker process: a hanging webhook cannot sit on a
        # prefetched MQTT message that another process could send now.
        "worker_prefetch_multiplier": 1,
        # The longest a task can take with the configured timeouts and quick retries; the
        # hard limit kills a child stuck past it (a C call ignoring signals).
        "task_soft_time_limit": limits.soft,
        "task_time_limit": limits.hard,
        # Flower learns "started" from events; storing it too costs a write per task.
        "task_track_started": False,
        # No task of ours has a rate limit; the worker skips their bookkeeping.
        "worker_disable_rate_limits": True,
        # Events feed Flower: 4 PUBLISHes per delivery; `licmon.broker.taskEvents` turns
        # them off.
        "worker_send_task_events": events,
        "task_send_sent_event": events,
        # later.js schedules are evaluated in UTC, as Butler does.
        "timezone": "UTC",
        "enable_utc": True,
        "beat_scheduler": "worker.beat:LicenseScheduler",
        "beat_schedule_filename": beat_state_file(),
        # A later.js schedule may be days apart; beat wakes at least this often regardless.
        "beat_max_loop_interval": 60,
    }
