"""What a check kind is. One module owns everything about one kind of check:

- its QRS call (`fetch`), its pure evaluation (`evaluate`, `failed`) and its status type
  (`from_json` reads back what `status.to_json()` wrote into a task argument);
- its Butler section (`monitor_key` under `Butler.qlikSenseLicense`), sections of its own
  under `licmon` (`licmon_sections`), which sites it checks and when (`site_frequency`), and
  where each destination's feature switch is for it (`feature`);
- what it says to each destination: InfluxDB points, the status document, notices.

The pipeline (beat, fetch, fan-out, claims, retries, dead letters) only moves a kind's
status around as JSON; it never reads a license field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from licmon.core.alerts import Judge, Message
from licmon.core.notices import InfluxPoint, Notice
from licmon.core.templates import MessageTemplate

if TYPE_CHECKING:
    import redis

    from licmon.config.model import MonitorConfig, Site
    from licmon.qrs.client import QrsClient


class Status(Protocol):
    site: str

    def to_json(self) -> dict[str, Any]: ...


class CheckKind(Protocol):
    # Stable: in task arguments, beat entry names and Redis keys.
    name: str
    # `Butler.qlikSenseLicense.<monitor_key>`: its switch, schedule and destinations.
    monitor_key: str
    # What people call it in messages ("server license": "... check failing for <site>").
    label: str
    # The InfluxDB measurement of every check of this kind, failed or not.
    check_measurement: str
    # Its sections under `licmon` (key -> pydantic model), beside the destinations'.
    licmon_sections: Mapping[str, type[Any]]

    def monitor_section(self, destinations: type[Any]) -> type[Any]:
        """Its Butler section (a pydantic model), with `destination: <destinations>` in it."""
        ...

    def entry_name(self, site: str) -> str:
        """The beat entry of this kind for `site`."""
        ...

    def frequency(self, site: Site) -> str | None:
        """The later.js schedule of this kind's check of `site`; None: it does not check it."""
        ...

    def site_frequency(self, document: Any, entry: Any | None) -> str | None:
        """While loading: the schedule of this kind for a `licmon.sites[]` entry, or for
        Butler's `configQRS` site (`entry` None); None when this kind does not check it."""
        ...

    def feature(self, document: Any, key: str) -> tuple[str, Any] | None:
        """(key path, section) of destination switch `key` for this kind (a section with
        `enable` and the destination's other switches); None: the destination is off."""
        ...

    def fetch(self, client: QrsClient) -> Mapping[str, Any]:
        """The QRS call; raises QrsError."""
        ...

    def evaluate(
        self, site: Site, answer: Mapping[str, Any], checked_at: datetime, config: MonitorConfig
    ) -> Status: ...

    def failed(self, site: Site, checked_at: datetime, reason: str) -> Status:
        """The status of a check that could not read the QRS at all."""
        ...

    def from_json(self, data: Mapping[str, Any]) -> Status: ...

    def influx_points(
        self, status: Any, tags: tuple[tuple[str, str], ...], tick: datetime
    ) -> list[InfluxPoint]: ...

    def status_document(self, status: Any, check_id: str) -> dict[str, Any]: ...

    def notices(self, status: Any) -> list[Notice]:
        """The routine notices of a successful check (alerts are decided by `judge`)."""
        ...

    def own_settings(self, document: Any) -> Any:
        """What this kind reads of the validated document for itself (the access minimums),
        kept in `MonitorConfig.kind_settings` under its name; None when nothing."""
        ...

    def remember(self, client: redis.Redis, status: Any, at: datetime) -> Mapping[str, Any]:
        """Keep what this kind needs across checks of a successful one (the access kind's
        daily readings) and return what `judge` needs of it (their forecast)."""
        ...

    def judge(
        self, site: Site, config: MonitorConfig, status: Any, memory: Mapping[str, Any]
    ) -> Judge:
        """This kind's alert policy for one status: a `licmon.core.alerts.Judge`."""
        ...

    def render(
        self, message: Message, templates: Mapping[str, MessageTemplate], check_id: str
    ) -> Notice:
        """One of this kind's alert messages (or a check failing/recovered) as a notice."""
        ...

    def summary(self, status: Any) -> str:
        """A few words for the log line of a check."""
        ...
