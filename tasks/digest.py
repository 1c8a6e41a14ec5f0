"""`alerts.digest`: once per tick of `licmon.alerts.digest`, one message to every alert
target listing everything at or below a level, sorted by days left: each check kind gives
its lines (`CheckKind.digest_rows`: a license, a certificate).

Beat sends `alerts.digest` with its tick (only the leading beat; the claim refuses a second
one for the same tick). It reads each site's last successful check from the fleet state
(no QRS call) and fans out one `alerts.digest_to` per alert target, on that destination's
queue, with the same claims, retries and dead letters as a delivery.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, date, datetime
from typing import Any

from celery import Task

from licmon.config.reliability import PUBLISH_RETRY
from licmon.core.alerts import CheckOutcome, Message
from licmon.core.digest import DigestRow, digest_notice, digest_of
from licmon.destinations.base import Delivery
from licmon.senders.errors import PermanentDeliveryError
from tasks.base import LicmonTask, quickly
from worker import runtime
from worker.app import app
from worker.settings import DIGEST_DELIVERY_TASK, DIGEST_TASK, delivery_queue

log = logging.getLogger("licmon.tasks")
# What stands for "every site" where a destination names a site: the MQTT subtopic, the
# webhook's X-Licmon-Site header. No site can be named so (names start with a letter or digit).
EVERY_SITE = "_digest"


class DigestTask(LicmonTask):
    abstract = True

    def claim_name(self, arguments: dict[str, Any]) -> str:
        return f"digest:{arguments.get('tick')}"

    def describe(self, arguments: dict[str, Any]) -> dict[str, str]:
        return {
            "site": EVERY_SITE,
            "destination": "digest",
            "target": "",
            "check_id": f"digest@{arguments.get('tick')}",
        }


class DigestDeliveryTask(LicmonTask):
    abstract = True
    ignore_result = True

    def delivers_to(self) -> str | None:
        return str((self.request.kwargs or {}).get("destination") or "") or None

    def claim_name(self, arguments: dict[str, Any]) -> str:
        return f"digest:{arguments['tick']}:{arguments['destination']}:{arguments['target']}"

    def describe(self, arguments: dict[str, Any]) -> dict[str, str]:
        return {
            "site": EVERY_SITE,
            "destination": str(arguments.get("destination", "")),
            "target": str(arguments.get("target", "")),
            "check_id": f"digest@{arguments.get('tick')}",
        }


def rows(today: date) -> list[DigestRow]:
    """Every kind's lines, from each site's last successful check of that kind."""
    config = runtime.config()
    found = []
    for kind in config.plugins.kinds:
        sites = config.sites_of(kind.name)
        if sites:
            states = runtime.fleet().read(kind.name, [site.name for site in sites])
            found += kind.digest_rows(config, states, today)
    return found


@app.task(name=DIGEST_TASK, bind=True, base=DigestTask)
def send_digest(self: Task, tick: str | None = None) -> dict[str, Any]:
    config = runtime.config()
    moment = datetime.now(UTC)
    tick = tick or moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    message = digest_of(rows(moment.date()))
    if message is None:
        log.info("digest %s: no site at or below a level; nothing to send", tick)
        return {"tick": tick, "sites": 0, "deliveries": []}
    sent = []
    with app.producer_or_acquire() as producer:
        for each in config.plugins.destinations:
            settings = config.settings(each.name)
            if settings is None:
                continue
            for target in each.alert_targets(settings):
                result = send_digest_to.apply_async(
                    kwargs={
                        "destination": each.name,
                        "target": target,
                        "tick": tick,
                        "message": message.to_json(),
                    },
                    queue=delivery_queue(each.name),
                    producer=producer,
                    retry=True,
                    retry_policy=PUBLISH_RETRY,
                    kwargsrepr=repr({"destination": each.name, "target": target, "tick": tick}),
                )
                sent.append({"destination": each.name, "target": target, "taskId": result.id})
    log.info(
        "digest %s: %d site(s); delivering to %s",
        tick,
        len(message.fields["lines"]),
        ", ".join(f"{d['destination']}/{d['target']}" for d in sent) or "nothing",
    )
    return {"tick": tick, "sites": len(message.fields["lines"]), "deliveries": sent}


@app.task(name=DIGEST_DELIVERY_TASK, bind=True, base=DigestDeliveryTask)
def send_digest_to(
    self: Task,
    destination: str,
    target: str,
    tick: str,
    message: dict[str, Any],
    replay_of: str | None = None,
) -> str:
    config = runtime.config()
    chosen = config.plugins.destination(destination)
    settings = config.settings(destination)
    if settings is None or target not in chosen.alert_targets(settings):
        raise PermanentDeliveryError(destination, target, "not configured in this worker")
    moment = datetime.fromisoformat(tick.replace("Z", "+00:00"))
    notice = digest_notice(Message.from_json(message), config.alerts.templates)
    # The digest speaks for every site: a site-shaped stand-in carries its name.
    every_site = dataclasses.replace(config.sites[0], name=EVERY_SITE, tags=(), zone=None)
    delivery = Delivery(
        site=every_site,
        kind=config.plugins.default_kind,
        status=None,
        notices=[notice],
        check_id=f"digest@{tick}",
        tick=moment,
        outcome=CheckOutcome(ok=True, checked_at=moment),
    )
    resources = runtime.resources()
    done = quickly(lambda: chosen.deliver(settings, target, delivery, resources), config.retry)
    return f"{done} (digest {tick})"
