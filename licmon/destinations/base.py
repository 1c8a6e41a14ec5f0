"""What a destination is: which targets a status goes to, and how one target receives it.

A destination joins the pure payload builders to one sender. It raises only the senders'
`DeliveryError` family, whose `transient` flag decides between retrying and giving up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import redis

from licmon.config.model import MonitorConfig, Site
from licmon.core.status import LicenseStatus


@dataclass(frozen=True)
class Delivery:
    """One status of one site, for one check (`check_id`, scheduled at `tick`)."""

    site: Site
    status: LicenseStatus
    check_id: str
    tick: datetime


class Destination(Protocol):
    # The Celery task is `deliver.<name>` and its queue has the same name.
    name: str

    def targets(self, config: MonitorConfig, status: LicenseStatus) -> list[str]:
        """Names of the targets this status goes to; names never carry secrets."""
        ...

    def deliver(
        self, config: MonitorConfig, target: str, delivery: Delivery, redis_client: redis.Redis
    ) -> str:
        """Deliver to one target; returns what was done, for the log. Raises DeliveryError."""
        ...
