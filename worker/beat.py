"""Beat: one entry per check kind and site on its later.js schedule, a check id per tick,
a startup check; only the beat holding the lease schedules (worker/leader.py).

The check id (`site@tick`) is what makes a tick idempotent: two beats, or one restarted
after it sent but before it saved its state, send the same id and the fetch task runs once.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import Any

from celery.beat import PersistentScheduler, ScheduleEntry
from celery.signals import beat_init

from licmon.checks import CHECK_KINDS, DEFAULT_KIND
from licmon.config.model import MonitorConfig
from worker import runtime
from worker.leader import Leader
from worker.schedules import LaterJsSchedule
from worker.settings import FETCH_TASK

log = logging.getLogger("licmon.beat")


def instant_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_id(site: str, moment: datetime) -> str:
    return f"{site}@{instant_text(moment)}"


def beat_schedule(config: MonitorConfig) -> dict[str, dict[str, Any]]:
    return {
        kind.entry_name(site.name): {
            "task": FETCH_TASK,
            "schedule": LaterJsSchedule(kind.frequency(site)),
            # No queue: the app's router sends each site's check to its zone's queue.
            "kwargs": {"site": site.name, "kind": kind.name},
        }
        for kind in CHECK_KINDS
        for site in config.sites
    }


def due_tick(schedule: LaterJsSchedule, last_run_at: datetime, now: datetime) -> datetime:
    """The latest fire time after `last_run_at` that is not in the future.

    After beat was down, several ticks may have passed; one check runs, stamped with the
    newest of them, so the data point is not dated in the past.
    """
    tick = schedule.latest_fire(last_run_at, now)
    return now.replace(microsecond=0) if tick is None else tick


class LicenseScheduler(PersistentScheduler):
    """Celery's persistent scheduler, adding the tick's check id to each fetch it sends,
    scheduling only while it holds the beats' lease."""

    @functools.cached_property
    def leader(self) -> Leader:
        return Leader(self)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        wait = self.leader.standby_wait()
        if wait is not None:
            return wait
        # Back in time to renew the lease, however far the next entry is.
        return min(super().tick(*args, **kwargs), self.leader.every)

    def apply_async(
        self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        site = entry.kwargs.get("site")
        if entry.task == FETCH_TASK and site and isinstance(entry.schedule, LaterJsSchedule):
            tick = due_tick(entry.schedule, entry.last_run_at, datetime.now(UTC))
            kind = entry.kwargs.get("kind") or DEFAULT_KIND
            return self.leader.send(
                site, check_id(site, tick), instant_text(tick), kind, entry, producer
            )
        return super().apply_async(entry, producer, advance, **kwargs)

    def close(self) -> None:
        self.leader.step_down()
        super().close()


@beat_init.connect
def check_at_startup(sender: Any = None, **_: Any) -> None:
    """Butler checks once when it starts; so do we, with a check id of its own. Only the
    leading beat does: a standby sends none, neither now nor when it takes over."""
    leader = sender.scheduler.leader
    if not leader.leads():
        return
    started = datetime.now(UTC)
    for kind in CHECK_KINDS:
        for site in runtime.config().sites:
            log.info("startup check of %s: %s", site.name, check_id(site.name, started))
            leader.send(site.name, check_id(site.name, started), instant_text(started), kind.name)
