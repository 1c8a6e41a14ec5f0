"""Beat: one entry per check kind and site on its later.js schedule, a check id per tick,
a startup check; only the beat holding the lease schedules (worker/leader.py).

The check id (`site@tick`) is what makes a tick idempotent: two beats, or one restarted
after it sent but before it saved its state, send the same id and the fetch task runs once.

The startup check is idempotent too. A period of a schedule runs from one fire time to the
next; every check beat sends marks its period in Redis (`licmon:beat:checked:...`, until
the period ends). A starting beat sends a site's startup check only if it takes that mark
for the current period first (SET NX): two beats started together send one, and a beat
restarted in a period already checked sends none. The startup check is the period's check:
its id is the period's start (`site@<last fire time>`), the id the period's tick has, so a
tick missed while beat was down, which beat sends as soon as it starts, is the same check.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from celery.beat import PersistentScheduler, ScheduleEntry
from celery.signals import beat_init

from licmon.config.model import MonitorConfig
from licmon.plugins import PLUGINS
from worker import runtime
from worker.leader import Leader
from worker.persistence import check_broker_persistence
from worker.schedules import LaterJsSchedule
from worker.settings import DIGEST_TASK, FETCH_TASK

# The digest's beat entry (licmon.alerts.digest).
DIGEST_ENTRY = "alerts digest"

log = logging.getLogger("licmon.beat")


def instant_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_id(site: str, moment: datetime) -> str:
    return f"{site}@{instant_text(moment)}"


def period_start(schedule: LaterJsSchedule, now: datetime) -> datetime | None:
    """The start of the schedule's period that holds `now`: its latest fire time at or
    before `now` (None if it has never fired before)."""
    end = schedule.next_fire(now)
    if end is None:
        return None
    after = schedule.next_fire(end)
    lookback = max(after - end if after is not None else timedelta(days=1), timedelta(seconds=2))
    # Periods of an irregular schedule differ ("at 8:00 am on weekdays"): look further back
    # until a fire time is found.
    for _ in range(20):
        first = schedule.next_fire(now - lookback)
        if first is not None and first <= now:
            # The newest fire time from there on, found by search (not tick by tick).
            tick = schedule.latest_fire(first - timedelta(seconds=1), now) or first
            # Whole seconds: the fire times of this port carry the arming moment's fraction.
            return tick.replace(microsecond=0)
        lookback *= 2
    return None


class PeriodMarks:
    """Which periods of which site's schedule have been checked, in the broker's Redis."""

    PREFIX = "licmon:beat:checked"

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def key(self, kind: str, site: str, start: datetime) -> str:
        return f"{self.PREFIX}:{kind}:{site}:{instant_text(start)}"

    @staticmethod
    def lifetime(schedule: LaterJsSchedule, start: datetime) -> int:
        """Seconds to keep a mark: until its period ends, and a minute more."""
        end = schedule.next_fire(start)
        span = (end - start).total_seconds() if end is not None else 24 * 3600
        return int(max(span, 1)) + 60

    def take(self, kind: str, site: str, schedule: LaterJsSchedule, start: datetime) -> bool:
        """Mark the period if nobody has: True if this beat is the first to check it."""
        key = self.key(kind, site, start)
        return bool(self._redis.set(key, "startup", nx=True, ex=self.lifetime(schedule, start)))

    def mark(self, kind: str, site: str, schedule: LaterJsSchedule, start: datetime) -> None:
        self._redis.set(self.key(kind, site, start), "tick", ex=self.lifetime(schedule, start))


def beat_schedule(config: MonitorConfig) -> dict[str, dict[str, Any]]:
    """One entry per check kind and site that kind checks (`CheckKind.frequency`), and the
    digest's when `licmon.alerts.digest` is set."""
    entries = {
        kind.entry_name(site.name): {
            "task": FETCH_TASK,
            "schedule": LaterJsSchedule(frequency),
            # No queue: the app's router sends each site's check to its zone's queue.
            "kwargs": {"site": site.name, "kind": kind.name},
        }
        for kind in config.plugins.kinds
        for site in config.sites
        if (frequency := kind.frequency(site)) is not None
    }
    if config.alerts.digest is not None and config.sites:
        entries[DIGEST_ENTRY] = {
            "task": DIGEST_TASK,
            "schedule": LaterJsSchedule(config.alerts.digest),
        }
    return entries


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
            kind = entry.kwargs.get("kind") or PLUGINS.default_kind.name
            try:
                PeriodMarks(runtime.resources().redis).mark(kind, site, entry.schedule, tick)
            except redis.RedisError as exc:
                # The tick goes out all the same; a beat starting in this period would
                # send its startup check, with this tick's id, which runs once.
                log.warning("could not mark %s's check of %s: %s", site, instant_text(tick), exc)
            return self.leader.send(
                site, check_id(site, tick), instant_text(tick), kind, entry, producer
            )
        if entry.task == DIGEST_TASK and isinstance(entry.schedule, LaterJsSchedule):
            # The tick names the digest: a second beat's send of the same tick is refused
            # by its claim.
            tick = due_tick(entry.schedule, entry.last_run_at, datetime.now(UTC))
            entry.kwargs = {"tick": instant_text(tick)}
        return super().apply_async(entry, producer, advance, **kwargs)

    def close(self) -> None:
        self.leader.step_down()
        super().close()


@beat_init.connect
def check_persistence(**_: Any) -> None:
    check_broker_persistence(runtime.config(), runtime.resources().redis, "beat")


@beat_init.connect
def check_at_startup(sender: Any = None, **_: Any) -> None:
    """Butler checks once when it starts; so do we, once per period of the site's schedule
    whatever the number of beats and restarts. Only the leading beat does: a standby sends
    none, neither now nor when it takes over."""
    leader = sender.scheduler.leader
    if not leader.leads():
        return
    started = datetime.now(UTC)
    marks = PeriodMarks(runtime.resources().redis)
    config = runtime.config()
    for kind in config.plugins.kinds:
        for site in config.sites:
            frequency = kind.frequency(site)
            if frequency is None:  # this kind does not check this site
                continue
            schedule = LaterJsSchedule(frequency)
            # The server license's lines read as they always have (operators grep them).
            label = "" if kind is config.plugins.default_kind else f"{kind.name} "
            start = period_start(schedule, started)
            if start is None:  # never fired yet: this start is the first check
                start = started.replace(microsecond=0)
            try:
                first = marks.take(kind.name, site.name, schedule, start)
            except redis.RedisError as exc:
                log.warning("could not read %s's checks (%s): checking at once", site.name, exc)
                first = True
            if not first:
                log.info(
                    "startup %scheck of %s skipped: this period (since %s) is checked",
                    label,
                    site.name,
                    instant_text(start),
                )
                continue
            log.info("startup %scheck of %s: %s", label, site.name, check_id(site.name, start))
            leader.send(site.name, check_id(site.name, start), instant_text(start), kind.name)
