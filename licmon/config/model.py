"""The validated, normalised configuration every other module reads.

Built once by `licmon.config.loader`. What belongs to one destination is that destination's
own settings value, in `destinations` under its name; this module knows none of them.
Secrets are `SecretStr` so that a repr, a log line or a task argument never shows them.
Defaults live in the schema sections, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from licmon.core.dates import DateOrder
from licmon.core.templates import DEFAULTS as DEFAULT_TEMPLATES
from licmon.core.templates import MessageTemplate
from licmon.registry import Registry


@dataclass(frozen=True)
class Site:
    """One Qlik Sense site: where its QRS is and how it is judged."""

    name: str
    host: str
    port: int
    # The QRS client certificate; None for a site no QRS kind checks (a cloud tenant).
    client_cert: Path | None
    client_key: Path | None
    root_ca: Path | None
    use_ssl: bool
    verify_hostname: bool
    reject_unauthorized: bool
    headers: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...]
    connect_timeout: float
    read_timeout: float
    # Whose workers check it: `license.fetch.<zone>`; None: the central `license.fetch`.
    zone: str | None = None
    # The level policy's levels for this site (licmon.sites[].thresholdsDays), highest
    # first; None: licmon.alerts.thresholdsDays.
    thresholds_days: tuple[int, ...] | None = None
    # (check kind, later.js schedule) of every kind that checks this site.
    checks: tuple[tuple[str, str], ...] = ()
    # (check kind, what that kind read of this site's entry for itself: `CheckKind.
    # site_settings`), for the kinds that read something. Hashable, like the whole site.
    own: tuple[tuple[str, Any], ...] = ()

    def schedule(self, kind: str) -> str | None:
        """The schedule of `kind`'s check of this site; None when that kind does not check it."""
        return dict(self.checks).get(kind)

    def settings_of(self, kind: str) -> Any | None:
        """What `kind` read of this site's entry for itself (None: nothing)."""
        return dict(self.own).get(kind)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a delivery (or a QRS fetch) tries before it is dead-lettered.

    First a few quick attempts inside the task (tenacity), for blips; then Celery retries
    with growing countdowns, which free the worker while a destination is down.
    """

    quick_attempts: int
    quick_window_seconds: float
    retries: int
    backoff_seconds: float
    backoff_max_seconds: float


@dataclass(frozen=True)
class TimeLimits:
    """Celery's soft and hard time limits of every task, in whole seconds."""

    soft: int
    hard: int


@dataclass(frozen=True)
class BrokerTls:
    """`licmon.broker.tls`: the files a `rediss://` (or Sentinel over TLS) connection uses.
    The broker's certificate is always verified; None: the system's CA certificates."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True)
class BrokerSentinel:
    """`licmon.broker.sentinel`, for `sentinel://` URLs: which master to follow, and the
    sentinels' own password (the data nodes' is the URL's)."""

    master_name: str
    password: SecretStr | None = None


@dataclass(frozen=True)
class BrokerSettings:
    url: SecretStr
    result_backend: SecretStr
    # Task events feed Flower; off, each delivery costs a few Redis commands less.
    task_events: bool
    # Redis redelivers a message nobody acknowledged after this long (a lost worker's).
    visibility_timeout: float
    # Refuse to start when the broker's Redis persists nothing (instead of a warning).
    require_persistence: bool
    # Derived from the timeouts and the quick-retry window (licmon.config.reliability).
    time_limits: TimeLimits
    # TLS files when a URL is `rediss://` (or Sentinel with licmon.broker.tls); None: plain
    # text, or `rediss://` verified against the system's CAs.
    tls: BrokerTls | None = None
    # Set when a URL is `sentinel://`.
    sentinel: BrokerSentinel | None = None


@dataclass(frozen=True)
class BeatSettings:
    # How long the leading beat's lease lasts without a renewal (worker/leader.py).
    lease_seconds: float


@dataclass(frozen=True)
class AlertSettings:
    """`licmon.alerts` (licmon/config/alerts.py)."""

    # The level policy's levels, highest first; empty: Butler's policy.
    levels: tuple[int, ...] = ()
    repeat_expired_seconds: float = 24 * 3600.0
    # Failed checks in a row before "check failing" (a permanent failure: the first).
    check_failures: int = 3
    # later.js text of the digest's schedule; None: no digest.
    digest: str | None = None
    templates: Mapping[str, MessageTemplate] = field(
        default_factory=lambda: dict(DEFAULT_TEMPLATES)
    )


@dataclass(frozen=True)
class MonitorConfig:
    """Everything a check and its deliveries need."""

    sites: tuple[Site, ...]
    # Check kind -> destination name -> its settings for that kind's checks; a destination
    # switched off for a kind is absent, a kind no site uses has none.
    destinations: Mapping[str, Mapping[str, Any]]
    date_order: DateOrder
    retry: RetryPolicy
    broker: BrokerSettings
    beat: BeatSettings
    # The check kinds and destinations this configuration was read with (licmon.plugins).
    plugins: Registry
    alerts: AlertSettings = field(default_factory=AlertSettings)
    source: Path | None = None
    # Settings that are valid but probably not what was meant (a destination switched on
    # whose connection is switched off): shown by `licmon config validate` and logged.
    warnings: tuple[str, ...] = ()
    # What each check kind reads of the document for itself (`CheckKind.own_settings`:
    # the access licenses' minimums), by kind name; None where a kind reads nothing.
    kind_settings: Mapping[str, Any] = field(default_factory=dict)

    def site(self, name: str) -> Site:
        site = self._sites_by_name.get(name)
        if site is None:
            raise KeyError(f"no site named {name!r} in {self.source or 'the configuration'}")
        return site

    @cached_property
    def _sites_by_name(self) -> Mapping[str, Site]:
        # Every task looks its site up, several times: a scan of 500 sites cost 0.1 ms each.
        by_name: dict[str, Site] = {}
        for site in self.sites:
            by_name.setdefault(site.name, site)
        return by_name

    def settings(self, destination: str, kind: str | None = None) -> Any | None:
        """The settings of `destination` for `kind`'s checks (None: the default kind's), or
        None when it is switched off for that kind."""
        name = kind or self.plugins.default_kind.name
        return self.destinations.get(name, {}).get(destination)

    def levels(self, site: Site) -> tuple[int, ...]:
        """The level policy's levels for `site`; empty: Butler's policy."""
        return self.alerts.levels if site.thresholds_days is None else site.thresholds_days

    def sites_of(self, kind: str) -> list[Site]:
        """The sites `kind` checks, in the configuration's order."""
        return [site for site in self.sites if site.schedule(kind) is not None]
