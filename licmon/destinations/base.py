"""What a destination is. One module owns everything about it:

- its YAML sections (`schema`): the Butler connection section(s), the feature switch under a
  check kind's `destination:` section, its own `licmon` section and timeout, with defaults;
- `env_secrets`: which environment variables replace which of its keys;
- `settings`: its sections read into one settings value (None when it is switched off);
- `status_targets` and `alert_targets`: which of its targets get every check's routine
  status, and which get alerts (names, never secrets); `records_failed_checks`: whether a
  failed check is delivered to its status targets too (InfluxDB records every check);
- `parts` and `send_one`: what one target is sent of one check, part by part (a notice, or
  the check's status document), and sending one part through its sender; `deliver` is
  `deliver_each_once` over them, which sends each part of a delivery to a target once.

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
from licmon.lifetimes import DONE_SECONDS

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
    # False when this delivery started before (a Celery retry, or a redelivery after its
    # worker died): only then may some of its parts have been sent already.
    first_start: bool = True


@dataclass(frozen=True)
class Part:
    """One thing a delivery sends to its target: a notice, or (notice None) the check's own
    document (MQTT's status, InfluxDB's points)."""

    # Unique within the delivery: the notice's event, or what the document is.
    identity: str
    notice: Notice | None = None
    # False: sending it twice is harmless (InfluxDB overwrites a point with the same
    # measurement, tags and timestamp), so it costs no Redis to remember.
    remember: bool = True


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

    def parts(self, settings: Any, target: str, delivery: Delivery) -> Sequence[Part]:
        """What `target` is sent of `delivery`, in order."""
        ...

    def send_one(
        self, settings: Any, target: str, delivery: Delivery, part: Part, resources: Resources
    ) -> str:
        """Send one part; returns what was done, for the log. Raises DeliveryError."""
        ...

    def deliver(self, settings: Any, target: str, delivery: Delivery, resources: Resources) -> str:
        """Deliver to one target (`deliver_each_once`); returns what was done, for the log."""
        ...


def sent_key(destination: str, target: str, delivery: Delivery, part: Part) -> str:
    return (
        f"licmon:sent:{delivery.check_id}:{delivery.kind.name}:{destination}:{target}:"
        f"{part.identity}"
    )


def deliver_each_once(
    destination: Destination,
    settings: Any,
    target: str,
    delivery: Delivery,
    resources: Resources,
    *,
    remember_seconds: int = DONE_SECONDS,
) -> str:
    """Send each part of `delivery` to `target`, skipping the ones sent before.

    A delivery may carry several notices (a status and alerts; three alerts for MQTT). When
    a later one fails, the task is retried, and without this the retry would send the ones
    before it again. So each part confirmed by its sender is remembered in the state store
    (for as long as a finished delivery's claim refuses duplicates) and a retry, or a
    redelivery after the worker died between the send and the acknowledgement, skips it.
    A send that fails before it is marked (the worker killed in between) is sent again:
    at least once, never lost.

    What this costs in Redis is paid only where it can matter: a part is remembered only
    when another part follows it (the last part's record is the delivery's claim, marked
    done when the task ends), and looked up only when the delivery started before
    (`first_start` false: on a first start nothing can have been sent)."""
    done = []
    parts = list(destination.parts(settings, target, delivery))
    for index, part in enumerate(parts):
        key = sent_key(destination.name, target, delivery, part)
        if part.remember and not delivery.first_start and resources.redis.exists(key):
            done.append(f"{part.identity!r} sent before")
            continue
        done.append(destination.send_one(settings, target, delivery, part, resources))
        if part.remember and index < len(parts) - 1:
            resources.redis.set(key, 1, ex=remember_seconds)
    return "; ".join(done) or "nothing to send"
