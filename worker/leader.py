"""One leading beat: any number of beats run, the one holding the lease schedules.

`LicenseScheduler` (worker/beat.py) asks `Leader` on every tick. The leader renews its lease
every third of `licmon.beat.leaseSeconds` and schedules; a standby asks as often and
schedules nothing, sends no startup check, and keeps no schedule of its own: when it takes
over, it adopts the last tick every entry was sent at, from Redis (`licmon:beat:ticks`),
so it neither repeats a tick nor loses one. Ticks missed during the handover run once,
stamped with the newest (`due_tick`), as after a beat restart.

Every tick is fenced in Redis (`PendingChecks.offer`): sent only while this beat's token
holds the lease and only if it is newer than the entry's last recorded tick. A beat that
lost its lease without noticing (frozen, cut off from Redis) therefore sends nothing twice.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import datetime
from typing import Any

import redis
from celery.beat import ScheduleEntry, Scheduler

from licmon.plugins import PLUGINS
from licmon.state.lease import Lease, Role
from worker import dispatch, runtime
from worker.dispatch import Dispatch, QueueScan, Sent

log = logging.getLogger("licmon.beat")
# A burst of due entries is offered against one read of each queue per second.
SCAN_SECONDS = 1.0


class Leader:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        seconds = runtime.config().beat.lease_seconds
        self.lease = Lease(runtime.resources().redis, seconds)
        self.token = uuid.uuid4().hex
        self.host, self.pid = socket.gethostname(), os.getpid()
        # Renew (or, standing by, ask) three times per lease: a renewal may fail once
        # without losing it, and a standby notices a dead leader within 4/3 of a lease.
        self.every = seconds / 3
        self.leading = False
        self.adopted = False
        self._next_hold = 0.0
        self._announced = False
        self.scan = QueueScan(runtime.resources().redis, SCAN_SECONDS)

    def leads(self) -> bool:
        """Hold the lease (renew it at most every third of it); True while leading."""
        now = time.monotonic()
        if now < self._next_hold:
            return self.leading
        self._next_hold = now + self.every
        was_leading = self.leading
        try:
            role = self.lease.hold(self.token, self.host, self.pid)
        except redis.RedisError as exc:
            # The lease may expire meanwhile and another beat lead: stop until Redis answers.
            log.warning("beat: cannot reach Redis for the lease (%s); scheduling nothing", exc)
            self._stand_by()
            return False
        self.leading = role is not Role.STANDBY
        if role is Role.ACQUIRED:
            log.info(
                "beat: leading (host %s, pid %d, lease %g s)",
                self.host,
                self.pid,
                self.lease.seconds,
            )
            self.adopted = False
        elif was_leading and not self.leading:
            log.warning("beat: the lease went to another beat; standing by")
            self._stand_by()
        elif not self.leading and not self._announced:
            log.info("beat: standing by; another beat holds the lease")
        self._announced = True
        return self.leading

    def standby_wait(self) -> float | None:
        """None when this beat leads (and has adopted the shared schedule); else how long
        to wait before asking again."""
        if not self.leads():
            return self.every
        if not self.adopted:
            try:
                self.adopt()
            except redis.RedisError as exc:
                log.warning("beat: cannot read the shared schedule (%s); trying again", exc)
                self._stand_by()
                return self.every
        return None

    def adopt(self) -> None:
        """Take over the schedule: every entry's last tick from Redis, and every waiting
        check whose message was lost sent again."""
        pending = runtime.pending()
        last = pending.last_ticks()
        schedule = self.scheduler.schedule
        for name, entry in schedule.items():
            if name in last:
                entry.last_run_at = datetime.fromisoformat(last[name].replace("Z", "+00:00"))
        pending.forget_entries(schedule)
        config = runtime.config()
        for kind in config.plugins.kinds:
            for site in config.sites:
                dispatch.recover(self.scheduler.app, kind.name, site.name, self.scan)
        # Celery's heap holds each entry's next run; rebuild it from the adopted ticks.
        self.scheduler.populate_heap()
        self.adopted = True
        log.info("beat: adopted the shared schedule (%d entries with a last tick)", len(last))

    def send(
        self,
        site: str,
        check_id: str,
        tick: str,
        kind: str = PLUGINS.default_kind.name,
        entry: ScheduleEntry | None = None,
        producer: Any = None,
    ) -> Dispatch:
        """Send a tick of `entry` (or the startup check, without one), fenced by the lease."""
        try:
            sent = dispatch.send_check(
                self.scheduler.app,
                kind,
                site,
                check_id,
                tick,
                lease=(self.lease.key, self.token),
                entry=None if entry is None else entry.name,
                scan=self.scan,
                producer=producer,
            )
        except Exception:
            # Recorded but maybe not published (broker or Redis down): adopt again at the
            # next tick, which reloads the last ticks and sends any lost waiting check.
            self.adopted = False
            raise
        if sent.sent is Sent.NOT_LEADER:
            self._stand_by()
        return sent

    def step_down(self) -> None:
        """At shutdown: give the lease up so that a standby takes over at its next ask."""
        if not self.leading:
            return
        try:
            self.lease.release(self.token)
            log.info("beat: lease released")
        except redis.RedisError as exc:
            log.warning("beat: could not release the lease (%s); it expires by itself", exc)
        self.leading = False

    def _stand_by(self) -> None:
        self.leading = False
        self.adopted = False
