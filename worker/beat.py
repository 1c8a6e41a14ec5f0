"""Beat: one entry per check kind and site on its later.js schedule, a check id per tick,
a startup check.

The check id (`site@tick`) is what makes a tick idempotent: two beats, or one restarted
after it sent but before it saved its state, send the same id and the fetch task runs once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from celery.beat import PersistentScheduler, ScheduleEntry
from celery.signals import beat_init

from licmon.checks import CHECK_KINDS
from licmon.config.model import MonitorConfig
from worker import runtime
from worker.persistence import check_broker_persistence
from worker.schedules import LaterJsSchedule
from worker.settings import FETCH_QUEUE, FETCH_TASK

log = logging.getLogger("licmon.beat")
# Beat down for years on a per-second schedule is not worth walking tick by tick.
_MAX_STEPS = 100_000


def instant_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_id(site: str, moment: datetime) -> str:
    return f"{site}@{instant_text(moment)}"


def beat_schedule(config: MonitorConfig) -> dict[str, dict[str, Any]]:
    return {
        kind.entry_name(site.name): {
            "task": FETCH_TASK,
            "schedule": LaterJsSchedule(kind.frequency(site)),
            "kwargs": {"site": site.name, "kind": kind.name},
            "options": {"queue": FETCH_QUEUE},
        }
        for kind in CHECK_KINDS
        for site in config.sites
    }


def due_tick(schedule: LaterJsSchedule, last_run_at: datetime, now: datetime) -> datetime:
    """The latest fire time after `last_run_at` that is not in the future.

    After beat was down, several ticks may have passed; one check runs, stamped with the
    newest of them, so the data point is not dated in the past.
    """
    tick = schedule.next_fire(last_run_at)
    if tick is None or tick > now:
        return now.replace(microsecond=0)
    for _ in range(_MAX_STEPS):
        following = schedule.next_fire(tick)
        if following is None or following > now:
            break
        tick = following
    return tick


class LicenseScheduler(PersistentScheduler):
    """Celery's persistent scheduler, adding the tick's check id to each fetch it sends."""

    def apply_async(
        self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        site = entry.kwargs.get("site")
        if entry.task == FETCH_TASK and site and isinstance(entry.schedule, LaterJsSchedule):
            tick = due_tick(entry.schedule, entry.last_run_at, datetime.now(UTC))
            # A new dict: the next entry shares the old one's kwargs object.
            entry.kwargs = {
                **entry.kwargs,
                "check_id": check_id(site, tick),
                "tick": instant_text(tick),
            }
        return super().apply_async(entry, producer, advance, **kwargs)


@beat_init.connect
def check_persistence(**_: Any) -> None:
    check_broker_persistence(runtime.config(), runtime.resources().redis, "beat")


@beat_init.connect
def check_at_startup(sender: Any = None, **_: Any) -> None:
    """Butler checks once when it starts; so do we, with a check id of its own."""
    started = datetime.now(UTC)
    for kind in CHECK_KINDS:
        for site in runtime.config().sites:
            log.info("startup check of %s: %s", site.name, check_id(site.name, started))
            sender.app.send_task(
                FETCH_TASK,
                kwargs={
                    "site": site.name,
                    "kind": kind.name,
                    "check_id": check_id(site.name, started),
                    "tick": instant_text(started),
                },
                queue=FETCH_QUEUE,
            )
