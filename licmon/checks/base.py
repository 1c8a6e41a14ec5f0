"""What a check kind is. One module (or package) owns everything about one kind of check:

- its data source (`fetch`: a QRS call, TLS handshakes, a file; it raises the
  `licmon.core.source.SourceError` family), its pure evaluation (`evaluate`, `failed`) and
  its status type (`from_json` reads back what `status.to_json()` wrote into a task argument);
- its configuration: its Butler section (`monitor_key` under `Butler.qlikSenseLicense`, if
  any), sections under `licmon` (`licmon_sections`) and under each `licmon.sites[]` entry
  (`site_sections`), which sites it checks and when (`site_frequency`), what it reads of a
  site for itself (`site_settings`), where each destination's feature switch is (`feature`);
- what it says to each destination: InfluxDB points, the status document, notices, alerts;
- its edges: `licmon check --kind` (`check_report`), `licmon status --kind`
  (`status_report`), the exporter's metric families (`metrics`), its digest lines
  (`digest_rows`), and what to say when it checks no site (`not_checked`).

The pipeline (beat, fetch, fan-out, claims, retries, dead letters), the CLI, the exporter
and the digest only move a kind's status around and print what it returns; they never read
one of its fields. `licmon.plugins` lists the kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from licmon.core.alerts import Judge, Message
from licmon.core.digest import DigestRow
from licmon.core.notices import InfluxPoint, Notice
from licmon.core.templates import MessageTemplate

if TYPE_CHECKING:
    import redis
    from prometheus_client.core import Metric

    from licmon.config.build import Build
    from licmon.config.env import EnvOverlay
    from licmon.config.model import MonitorConfig, Site
    from licmon.state.fleet import SiteState
    from licmon.views import Limits, Report

T = TypeVar("T")


class Connections(Protocol):
    """What a data source may keep between checks in one process (licmon.resources)."""

    def recent(self, key: Hashable, factory: Callable[[], T], keep: int) -> T: ...


# What a kind's `check_report` may ask of the state in Redis (None: it cannot be read).
StateReader = Callable[[Callable[["redis.Redis"], T]], "T | None"]


class Status(Protocol):
    site: str

    def to_json(self) -> dict[str, Any]: ...


class CheckKind(Protocol):
    # Stable: in task arguments, beat entry names and Redis keys.
    name: str
    # `Butler.qlikSenseLicense.<monitor_key>`: its switch, schedule and destinations; None
    # for a kind Butler does not have.
    monitor_key: str | None
    # Other names `--kind` takes for it (`--access`, kept from the first release, is the
    # kind whose alias is "access").
    aliases: tuple[str, ...]
    # What people call it in messages ("server license": "... check failing for <site>").
    label: str
    # The InfluxDB measurement of every check of this kind, failed or not.
    check_measurement: str
    # Its sections under `licmon`, beside the destinations': key -> a pydantic model
    # (defaulted), or (type, default) for anything else (a list of its own sites).
    licmon_sections: Mapping[str, Any]
    # Its sections under each `licmon.sites[]` entry (key -> pydantic model, defaulted).
    site_sections: Mapping[str, type[Any]]
    # Default texts of its own messages (names under `licmon.alerts.templates`) and the
    # fields they may use, beside the common ones (licmon/core/templates.py).
    templates: Mapping[str, MessageTemplate]
    template_fields: Mapping[str, str]
    # Why no site is checked by it: the switches that decide it (`licmon check --kind`).
    not_checked: str
    # The first word of its monitoring-plugin line, one word in capitals (`LICENSE OK - ...`).
    plugin_word: str

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

    def env_secrets(self, overlay: EnvOverlay) -> None:
        """Lay the environment's secrets for this kind over the document (its API keys)."""
        ...

    def own_sites(self, document: Any, build: Build, taken: set[str]) -> tuple[Site, ...]:
        """While loading: the sites only this kind checks, from its own sections (Qlik Cloud
        tenants), beside `licmon.sites[]`; a name in `taken` is reported as used twice."""
        ...

    def site_settings(self, document: Any, entry: Any | None, build: Build, where: str) -> Any:
        """While loading: what this kind reads for itself of a site it checks (`entry` None:
        Butler's site; `where` its key path, for problems reported through `build`); kept
        in `Site.own`, hashable; None when nothing."""
        ...

    def feature(self, document: Any, key: str) -> tuple[str, Any] | None:
        """(key path, section) of destination switch `key` for this kind (a section with
        `enable` and the destination's other switches); None: the destination is off."""
        ...

    def fetch(self, site: Site, connections: Connections) -> Any:
        """Read the site's data (what `evaluate` judges); raises SourceError. May keep a
        connection in `connections` for the next check."""
        ...

    def evaluate(
        self, site: Site, answer: Any, checked_at: datetime, config: MonitorConfig
    ) -> Status: ...

    def failed(self, site: Site, checked_at: datetime, reason: str) -> Status:
        """The status of a check that could not read its source at all."""
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

    def check_report(
        self, config: MonitorConfig, statuses: list[Any], state: StateReader, limits: Limits
    ) -> Report:
        """`licmon check --kind <name>`: its JSON, its table, its exit code, its plugin
        summary and perfdata for `statuses` (one per site it checks, just read); `state`
        reads Redis if it needs to; `limits`: -w/-c, in the kind's own unit."""
        ...

    def status_report(
        self,
        client: redis.Redis,
        config: MonitorConfig,
        sites: list[Site],
        now: datetime,
        limits: Limits,
    ) -> Report:
        """`licmon status --kind <name>`: `sites` (those it checks) as the workers last saw
        them, from Redis alone."""
        ...

    def metrics(
        self,
        client: redis.Redis,
        config: MonitorConfig,
        states: Mapping[str, SiteState | None],
        now: datetime,
    ) -> Iterable[Metric]:
        """Its exporter metric families for the sites it checks (`states` by site name)."""
        ...

    def digest_rows(
        self, config: MonitorConfig, states: Mapping[str, SiteState | None], today: date
    ) -> list[DigestRow]:
        """Its lines in the digest: what is at or below a level today (none: nothing)."""
        ...


class KindDefaults:
    """What most kinds do about the optional parts of `CheckKind`: no secrets of their own,
    no sites but the listed ones, no templates or sections of their own."""

    aliases: tuple[str, ...] = ()
    templates: Mapping[str, MessageTemplate] = {}
    template_fields: Mapping[str, str] = {}
    licmon_sections: Mapping[str, type[Any]] = {}
    site_sections: Mapping[str, type[Any]] = {}

    @property
    def plugin_word(self) -> str:
        """Its name in capitals, without separators (`NODECOUNT`), unless it says another."""
        return "".join(char for char in getattr(self, "name", "CHECK").upper() if char.isalnum())

    def env_secrets(self, overlay: EnvOverlay) -> None:
        return None

    def own_sites(self, document: Any, build: Build, taken: set[str]) -> tuple[Site, ...]:
        return ()
