"""`license.fetch`: read one site's license and fan the status out, one task per target.

Five layers, each failing in its own way:
1. fetch, under tenacity's quick attempts: the QRS call only;
2. judge: pure;
3. plan: every target of the check, and the alerts each alert target is due, decided once
   against its history (tasks/alerting.py);
4. publish the whole fan-out through one producer, outside the source's retry: a broker
   error is retried as a broker error (kombu's publish retry, then the task's declared
   retry carrying the status and outcome), never by fetching again;
5. complete the claim (`LicmonTask.__call__`).

A check that gives up (`on_failure`) is planned and published too: InfluxDB records it, and
the alert targets hear "check failing" when the policy says so.

Before the claim, a message on the wrong queue is forwarded to its site's zone (tasks/gate.py);
each check's outcome is kept for `licmon status` (licmon/state/fleet.py).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError

from licmon.checks.base import CheckKind
from licmon.config.model import MonitorConfig, Site
from licmon.config.reliability import PUBLISH_RETRY
from licmon.core.alerts import CheckOutcome
from tasks import counting, fleet, gate
from tasks.alerting import Planned, plan
from tasks.base import Done, LicmonTask, Retryable, quickly
from tasks.deliver import DELIVERY_TASKS
from worker import runtime
from worker.app import app
from worker.beat import check_id as make_check_id
from worker.beat import instant_text
from worker.settings import FETCH_TASK

log = logging.getLogger("licmon.tasks")
# The error kind of a check whose source answered with something its kind cannot read.
UNREADABLE = "unreadable_answer"


class FetchTask(LicmonTask):
    abstract = True

    def claim_name(self, arguments: dict[str, Any]) -> str:
        # A check sent by hand with a site alone is its own check.
        check = arguments.get("check_id") or f"task:{self.request.id}"
        kind = arguments.get("kind") or runtime.config().plugins.default_kind.name
        return f"check:{kind}:{check}"

    def describe(self, arguments: dict[str, Any]) -> dict[str, str]:
        site = str(arguments.get("site", ""))
        try:
            host = runtime.config().site(site).host
        except KeyError:
            host = ""
        return {
            "site": site,
            "destination": "qrs",
            "target": host,
            "check_id": str(arguments.get("check_id") or ""),
        }

    def before_claim(self, arguments: dict[str, Any]) -> dict[str, Any] | Done:
        return gate.prepare(self, arguments)

    def on_failure(
        self,
        exc: Exception,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        try:
            super().on_failure(exc, task_id, args, kwargs, einfo)
        finally:
            arguments = self.arguments(args, kwargs)
            self.check_failed(arguments, exc)
            counting.count_check_failure(arguments, exc)  # metrics

    def check_failed(self, arguments: dict[str, Any], exc: BaseException) -> None:
        """The check gave up: record it, and tell whom the policy says (check failing)."""
        config = runtime.config()
        try:
            site = config.site(str(arguments.get("site")))
            kind = config.plugins.kind(arguments.get("kind"))
        except KeyError:
            return  # not a configured site or kind: nobody to tell
        now = datetime.now(UTC)
        check_id = str(arguments.get("check_id") or make_check_id(site.name, now))
        reason = str(exc) or type(exc).__name__
        status = kind.failed(site, now, reason).to_json()
        error = fleet.error_kind(exc)
        started = getattr(self.request, "licmon_started", None)
        outcome = CheckOutcome(
            ok=False,
            checked_at=now,
            error_kind=error,
            reason=reason,
            permanent=fleet.is_permanent(exc) or fleet.is_permanent(exc.__cause__),
            consecutive_failures=fleet.failed(kind, site.name, status, check_id, error, reason),
            duration_ms=0.0 if started is None else (time.monotonic() - started) * 1000,
        )
        tick = str(arguments.get("tick") or instant_text(now))
        try:
            sent = publish(
                plan(kind, config, site, None, outcome, check_id),
                site.name,
                kind.name,
                status,
                outcome,
                check_id,
                tick,
            )
        except Exception as problem:  # on_failure must end; the next check tries again
            log.warning(
                "%s: the failed check of %s was not delivered: %s", check_id, site.name, problem
            )
            return
        log.info(
            "check of %s (%s) failed (%s); delivering to %s",
            site.name,
            check_id,
            error,
            ", ".join(f"{d['destination']}/{d['target']}" for d in sent) or "nothing",
        )


def read(kind: CheckKind, site: Site, config: MonitorConfig) -> Any:
    """Layers 1 and 2: the kind's source, read, and judged (a status with an `error` when
    what it read could not be judged)."""
    # The kind keeps what is worth keeping (a site's QRS client) in the process's resources.
    connections = runtime.resources()
    answer = quickly(lambda: kind.fetch(site, connections), config.retry)
    return kind.evaluate(site, answer, datetime.now(UTC), config)


def publish(
    deliveries: list[Planned],
    site: str,
    kind: str,
    status: dict[str, Any],
    outcome: CheckOutcome,
    check_id: str,
    tick: str,
) -> list[dict[str, str]]:
    """Layer 3: every delivery through one producer (one connection, one channel)."""
    sent = []
    with app.producer_or_acquire() as producer:
        for planned in deliveries:
            destination, target = planned.destination, planned.target
            result = DELIVERY_TASKS[destination].apply_async(
                kwargs={
                    "site": site,
                    "target": target,
                    "status": status,
                    "check_id": check_id,
                    "tick": tick,
                    "kind": kind,
                    "outcome": outcome.to_json(),
                    "alerts": planned.alerts,
                },
                producer=producer,
                retry=True,
                retry_policy=PUBLISH_RETRY,
                # What Flower shows; Celery would otherwise saferepr the whole status.
                kwargsrepr=repr({"site": site, "target": target, "check_id": check_id}),
            )
            sent.append({"destination": destination, "target": target, "taskId": result.id})
    return sent


@app.task(name=FETCH_TASK, bind=True, base=FetchTask)
def fetch_license(
    self: Task,
    site: str,
    check_id: str | None = None,
    tick: str | None = None,
    kind: str | None = None,
    status: dict[str, Any] | None = None,
    replay_of: str | None = None,
    outcome: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Beat sends `site`, `check_id`, `tick` and `kind`; by hand, `site` alone checks it now
    (for the default kind).

    `status` and `outcome` are set only by this task's own retry after a broker error: the
    check was read and judged already and is not read again. `replay_of` is the task id of
    the dead letter a replay re-sends (handled in tasks/base.py).
    """
    config = runtime.config()
    target_site = config.site(site)
    check = config.plugins.kind(kind)
    kind = check.name
    moment = datetime.now(UTC)
    tick = tick or instant_text(moment)
    check_id = check_id or make_check_id(site, moment)
    if status is None or outcome is None:
        self.request.licmon_started = started = time.monotonic()
        judged = read(check, target_site, config)
        status = judged.to_json()
        result = checked(check, site, status, check_id, moment, started)
    else:
        judged, result = check.from_json(status), CheckOutcome.from_json(outcome)
    deliveries = plan(check, config, target_site, judged, result, check_id, record=status)
    try:
        sent = publish(deliveries, site, kind, status, result, check_id, tick)
    except OperationalError as exc:
        log.warning(
            "checked %s (%s) but the broker refused the deliveries: %s", site, check_id, exc
        )
        # The declared retry (tasks/base.py, worker/settings.py) sends the task again with
        # the request's arguments: these carry what was read, so it is not read again.
        self.request.kwargs = {
            "site": site,
            "check_id": check_id,
            "tick": tick,
            "kind": kind,
            "status": status,
            "replay_of": replay_of,
            "outcome": result.to_json(),
        }
        self.request.args = ()
        raise Retryable(f"the broker refused the deliveries: {exc}") from exc
    log.info(
        "checked %s (%s): %s; delivering to %s",
        site,
        check_id,
        check.summary(judged),
        ", ".join(f"{d['destination']}/{d['target']}" for d in sent) or "nothing",
    )
    # The check id first: the worker's log line for the task shows the result cut to 1 kB.
    return {"checkId": check_id} | status | {"deliveries": sent}


def checked(
    kind: CheckKind,
    site: str,
    status: dict[str, Any],
    check_id: str,
    moment: datetime,
    started: float,
) -> CheckOutcome:
    """A check whose source answered: its outcome. An answer its kind cannot judge is a
    failed check, and a permanent one, recorded for the fleet view here."""
    duration_ms = (time.monotonic() - started) * 1000
    reason = status.get("error")
    if not reason:
        # Recorded for the fleet view by `plan`, in the same transaction as its alerts.
        return CheckOutcome(ok=True, checked_at=moment, duration_ms=duration_ms)
    counting.count_failure(site, UNREADABLE)  # metrics
    return CheckOutcome(
        ok=False,
        checked_at=moment,
        error_kind=UNREADABLE,
        reason=str(reason),
        permanent=True,
        consecutive_failures=fleet.failed(kind, site, status, check_id, UNREADABLE, str(reason)),
        duration_ms=duration_ms,
    )
