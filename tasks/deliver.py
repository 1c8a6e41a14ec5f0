"""`deliver.<destination>`: one check to one target. One task family per destination, each
on its own queue, registered from `licmon.plugins.DESTINATIONS`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import Task

from licmon.core.alerts import CheckOutcome, Message
from licmon.destinations.base import Delivery, Destination
from licmon.plugins import DESTINATIONS
from licmon.senders.errors import PermanentDeliveryError
from tasks.base import LicmonTask, quickly
from worker import runtime
from worker.app import app
from worker.settings import delivery_task


class DeliveryTask(LicmonTask):
    abstract = True
    # Nobody reads a delivery's result; its failures are still stored (settings.py).
    ignore_result = True
    destination: Destination

    def delivers_to(self) -> str | None:
        return self.destination.name

    def claim_name(self, arguments: dict[str, Any]) -> str:
        kind = arguments.get("kind") or runtime.config().plugins.default_kind.name
        return (
            f"delivery:{arguments['check_id']}:{kind}:{self.destination.name}:{arguments['target']}"
        )

    def describe(self, arguments: dict[str, Any]) -> dict[str, str]:
        return {
            "site": str(arguments.get("site", "")),
            "destination": self.destination.name,
            "target": str(arguments.get("target", "")),
            "check_id": str(arguments.get("check_id", "")),
        }


def deliver(
    destination: Destination,
    site: str,
    target: str,
    status: dict[str, Any],
    check_id: str,
    tick: str,
    kind: str | None,
    outcome: dict[str, Any] | None,
    alerts: list[dict[str, Any]] | None,
    first_start: bool = True,
) -> str:
    config = runtime.config()
    settings = config.settings(destination.name, kind)
    if settings is None:
        raise PermanentDeliveryError(destination.name, target, "not configured in this worker")
    check = config.plugins.kind(kind)
    judged = check.from_json(status)
    where = config.site(site)
    moment = datetime.fromisoformat(tick)
    # Queued by a release without alert decisions: a successful check, judged as Butler does.
    result = (
        CheckOutcome(ok=True, checked_at=moment)
        if outcome is None
        else CheckOutcome.from_json(outcome)
    )
    if alerts is None:
        # Nothing remembered, no history: the alerts of this status alone (Butler's).
        decided = check.judge(where, config, judged, {})({})[0] if result.ok else []
    else:
        decided = [Message.from_json(each) for each in alerts]
    notices = []
    if result.ok and target in destination.status_targets(settings):
        notices += check.notices(judged)
    if target in destination.alert_targets(settings):
        notices += [check.render(each, config.alerts.templates, check_id) for each in decided]
    delivery = Delivery(
        site=where,
        kind=check,
        status=judged,
        notices=notices,
        check_id=check_id,
        tick=moment,
        outcome=result,
        first_start=first_start,
    )
    resources = runtime.resources()
    done = quickly(lambda: destination.deliver(settings, target, delivery, resources), config.retry)
    # Celery logs what a task returns ("succeeded in ...: <this>"): no log line of our own.
    return f"{done} (site {site}, check {check_id})"


def _register(destination: Destination) -> Task:
    @app.task(
        name=delivery_task(destination.name),
        bind=True,
        base=DeliveryTask,
        destination=destination,
    )
    def deliver_to(
        self: Task,
        site: str,
        target: str,
        status: dict[str, Any],
        check_id: str,
        tick: str,
        kind: str | None = None,
        replay_of: str | None = None,
        outcome: dict[str, Any] | None = None,
        alerts: list[dict[str, Any]] | None = None,
    ) -> str:
        # `replay_of`: the task id of the dead letter this replays (tasks/base.py).
        # `outcome` and `alerts`: how the check went and the alerts decided for this target.
        # Set by `LicmonTask.__call__` from the claim (absent when called as a function).
        first_start = getattr(self.request, "licmon_starts", 1) == 1
        return deliver(
            destination, site, target, status, check_id, tick, kind, outcome, alerts, first_start
        )

    return deliver_to


DELIVERY_TASKS: dict[str, Task] = {
    destination.name: _register(destination) for destination in DESTINATIONS
}
