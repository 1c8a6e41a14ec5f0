"""What a destination is. One module owns everything about it:

- its YAML sections (`schema`): the Butler connection section(s), the feature switch under a
  check kind's `destination:` section, its own `licmon` section and timeout, with defaults;
- `env_secrets`: which environment variables replace which of its keys;
- `settings`: its sections read into one settings value (None when it is switched off);
- `status_targets` and `alert_targets`: which of its targets get every check's routine
  status, and which get alerts (names, never secrets); `records_failed_checks`: whether a
  failed check is delivered to its status targets too (InfluxDB records every check);
- `deliver`: one target receives one check, through its sender.

It raises only the senders' `DeliveryError` family, whose `transient` flag decides between
retrying and giving up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from licmon.core.alerts import CheckOutcome
from licmon.core.notices import Notice

if TYPE_CHECKING:
    from licmon.checks.base import CheckKind
    from licmon.config.build import Build
    from licmon.config.env import EnvOverlay
    from licmon.config.model import Site
    from licmon.resources import Resources


@dataclass(frozen=True)
class DestinationSchema:
    """Where a destination's keys live in the YAML document, as pydantic section models."""

    # Sections under `Butler` (e.g. {"influxDb": InfluxDb}).
    butler: Mapping[str, type] = field(default_factory=dict)
    # The switch under `Butler.qlikSenseLicense.<monitor>.destination` (e.g. ("mqtt", Switch)).
    feature: tuple[str, type] | None = None
    # Sections under `licmon` (e.g. {"apprise": AppriseSection}).
    licmon: Mapping[str, type] = field(default_factory=dict)
    # Its key under `licmon.timeouts` and the default in seconds.
    timeout: tuple[str, float] | None = None


@dataclass(frozen=True)
class Delivery:
    """One check of one site, for one target: the status, how the check went, and what
    this target is told (the routine status and the alerts decided for it)."""

    site: Site
    kind: CheckKind
    status: Any  # the kind's status type
    notices: Sequence[Notice]
    check_id: str
    tick: datetime
    outcome: CheckOutcome


class Destination(Protocol):
    # The Celery task is `deliver.<name>` and its queue has the same name.
    name: str
    schema: DestinationSchema

    def env_secrets(self, overlay: EnvOverlay) -> None:
        """Lay the environment's secrets for this destination over the document."""
        ...

    def settings(self, document: Any, build: Build) -> Any | None:
        """This destination's settings from the validated document; None when switched off."""
        ...

    # A failed check is delivered to the status targets too (they record every check).
    records_failed_checks: bool

    def status_targets(self, settings: Any) -> list[str]:
        """Targets that receive every successful check's routine status."""
        ...

    def alert_targets(self, settings: Any) -> list[str]:
        """Targets that receive alerts; each keeps its own alert history."""
        ...

    def deliver(self, settings: Any, target: str, delivery: Delivery, resources: Resources) -> str:
        """Deliver to one target; returns what was done, for the log. Raises DeliveryError."""
        ...
