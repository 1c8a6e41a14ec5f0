"""Celery beat schedule for later.js text (``every 24 hours``), firing as Butler's timer does.

Butler runs ``later.setInterval(check, later.parse.text(frequency))``. That timer fires at the
first occurrence at least one second away, then re-arms from the moment it fired. Beat keeps
``last_run_at`` for us instead, so a tick is due exactly when the first fire time after
``last_run_at`` has come: the timer's rule, evaluated from the previous run. Because beat
persists ``last_run_at``, a restart neither repeats a tick nor loses one (a tick missed while
beat was down runs once, on start).

Everything is UTC, whatever the Celery app's timezone: later.js runs in UTC in Butler.
This module imports neither the project's Celery app nor its settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.schedules import BaseSchedule, schedstate

from licmon.laterjs import (
    LaterSchedule,
    LaterScheduleError,
    latest_fire_time,
    next_fire_time,
    parse_text,
    validate,
)

log = logging.getLogger("licmon.beat")

# With no fire time left (e.g. "in 2025" after 2025), how long beat may sleep before asking
# again. Beat's own max loop interval usually wakes it sooner.
IDLE_CHECK = timedelta(days=1)
# What remaining_estimate reports for a schedule that never fires again: far, but still
# addable to a datetime without overflow.
NEVER = timedelta(days=365 * 100)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC (Celery's ``naive_as_utc``)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class LaterJsSchedule(BaseSchedule):
    """A beat schedule from later.js text. Raises ``LaterParseError`` for invalid text and
    ``LaterScheduleError`` for text later.js parses but cannot run, at construction."""

    def __init__(
        self,
        text: str,
        nowfun: Callable[[], datetime] | None = None,
        app: Any = None,
    ) -> None:
        self.text = text
        self.later: LaterSchedule = parse_text(text)
        validate(self.later)
        # Beat asks about the same last_run_at until the entry runs: remember the last answer.
        self._fire_cache: tuple[datetime, datetime | None] | None = None
        super().__init__(nowfun=nowfun, app=app)

    def now(self) -> datetime:
        # Not app.now(): that would follow the app's timezone setting.
        return as_utc(self.nowfun()) if self.nowfun else datetime.now(UTC)

    def next_fire(self, last_run_at: datetime) -> datetime | None:
        """When the timer armed at ``last_run_at`` fires (None: never again)."""
        armed = as_utc(last_run_at)
        cached = self._fire_cache
        if cached is not None and cached[0] == armed:
            return cached[1]
        fire = self._fire_after(armed)
        self._fire_cache = (armed, fire)
        return fire

    def latest_fire(self, last_run_at: datetime, now: datetime) -> datetime | None:
        """The newest fire time after ``last_run_at`` not after ``now`` (None: none yet)."""
        try:
            return latest_fire_time(self.later, as_utc(last_run_at), as_utc(now))
        except LaterScheduleError as exc:
            log.error("schedule %r: no tick found since %s: %s", self.text, last_run_at, exc)
            return None

    def _fire_after(self, moment: datetime) -> datetime | None:
        # Validation ran the engine once; a schedule that needs more than a call's budget at
        # some other date must not stop beat (an exception here ends its loop): it sleeps.
        try:
            return next_fire_time(self.later, moment)
        except LaterScheduleError as exc:
            log.error("schedule %r: no fire time after %s: %s", self.text, moment, exc)
            return None

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        fire = self.next_fire(last_run_at)
        if fire is None:
            return NEVER
        return fire - self.now()

    def is_due(self, last_run_at: datetime) -> schedstate:
        """``(due, seconds until beat should look again)``."""
        now = self.now()
        fire = self.next_fire(last_run_at)
        if fire is None:
            return schedstate(is_due=False, next=IDLE_CHECK.total_seconds())
        if fire > now:
            return schedstate(is_due=False, next=(fire - now).total_seconds())
        # Beat is about to run it and set last_run_at to about now; the tick after that:
        following = self._fire_after(now)
        wait = IDLE_CHECK if following is None else max(following - now, timedelta(0))
        return schedstate(is_due=True, next=wait.total_seconds())

    def __repr__(self) -> str:
        return f"<later.js: {self.text}>"

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LaterJsSchedule):
            return self.text == other.text
        return NotImplemented

    def __hash__(self) -> int:
        return hash((LaterJsSchedule, self.text))

    def __reduce__(self) -> tuple[type[LaterJsSchedule], tuple[Any, ...]]:
        # Beat's shelve keeps the text only; parsing again on load is cheap and keeps old
        # state files readable across engine changes.
        return self.__class__, (self.text, self.nowfun)
