"""Webhooks: one task per URL; Butler's rateLimit held in Redis per webhook and event."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import redis

from licmon.config.model import MonitorConfig
from licmon.core.payloads import webhook_event, webhook_headers, webhook_params
from licmon.core.status import LicenseStatus
from licmon.destinations.base import Delivery
from licmon.senders.ratelimit import RateLimiter, webhook_identity_of

if TYPE_CHECKING:
    import requests

_local = threading.local()


def _forget_sessions() -> None:
    # A prefork child must not reuse the parent's kept-alive sockets.
    global _local
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_sessions)


def _session() -> requests.Session:
    # requests.Session is not thread-safe: one per thread keeps keep-alive without sharing.
    if not hasattr(_local, "session"):
        import requests  # see influxdb.py: beat stays lean

        _local.session = requests.Session()
    return _local.session


class WebhookDestination:
    name = "webhook"

    def targets(self, config: MonitorConfig, status: LicenseStatus) -> list[str]:
        return [hook.key for hook in config.webhooks if hook.kind == "status" or status.needs_alert]

    def deliver(
        self, config: MonitorConfig, target: str, delivery: Delivery, redis_client: redis.Redis
    ) -> str:
        from licmon.senders.webhook import send_webhook  # see influxdb.py: beat stays lean

        hook = config.webhook(target)
        alert = hook.kind == "alert"
        event = webhook_event(delivery.status, alert)
        identity = webhook_identity_of(hook.url.get_secret_value())
        limiter = RateLimiter(redis_client)
        # Per site too: one webhook shared by many sites must still hear from each of them.
        window = f"{delivery.site.name}/{event}"
        if not limiter.acquire(identity, window, hook.rate_limit_seconds, owner=delivery.check_id):
            return f"skipped by rateLimit ({hook.rate_limit_seconds} s) for {event!r}"
        send_webhook(
            hook,
            webhook_params(delivery.status, alert),
            webhook_headers(delivery.status, delivery.check_id),
            session=_session(),
        )
        return f"{hook.method} {event!r}"
