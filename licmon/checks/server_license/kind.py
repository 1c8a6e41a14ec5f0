"""The server license: `GET /qrs/license`, days until its end, Butler's payloads.

Butler keys: `Butler.qlikSenseLicense.serverLicenseMonitor.{enable, frequency, alert.
thresholdDays, destination.*}`. Ours: `licmon.sites[].{thresholdDays, frequency}` and
`licmon.sites[].serverLicense.{enable, frequency}`; every listed site is checked unless it
opts out (as since the first release).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import create_model

from licmon.checks.base import KindDefaults
from licmon.checks.qrs_source import qrs_client
from licmon.checks.server_license import views
from licmon.config.fields import LaterText, Switch, ThresholdDays
from licmon.config.schema import SiteKindSection
from licmon.config.sections import Section
from licmon.core import license_alerts, payloads
from licmon.core.alerts import Judge, Message
from licmon.core.digest import DigestRow
from licmon.core.license_alerts import LevelPolicy
from licmon.core.notices import InfluxPoint, Notice
from licmon.core.server_license import LicenseStatus, evaluate_license, failed_status
from licmon.core.templates import MessageTemplate
from licmon.views import NO_LIMITS, Limits

if TYPE_CHECKING:
    import redis
    from prometheus_client.core import Metric

    from licmon.checks.base import Connections, StateReader
    from licmon.config.build import Build
    from licmon.config.model import MonitorConfig, Site
    from licmon.state.fleet import SiteState
    from licmon.views import Report

# Where its monitor section is; destinations' feature switches sit under its `destination`.
MONITOR_PATH = "Butler.qlikSenseLicense.serverLicenseMonitor"


@dataclass(frozen=True)
class SiteLicense:
    """What it reads of a site for itself: Butler's `thresholdDays`, the site's or Butler's."""

    threshold_days: int


class Alert(Section):
    thresholdDays: ThresholdDays = 60


class Monitor(Section):
    """`Butler.qlikSenseLicense.serverLicenseMonitor`, less its `destination:` section."""

    enable: Switch = False
    frequency: LaterText = "every 24 hours"
    alert: Alert = Alert()


class ServerLicenseCheck(KindDefaults):
    name = "server_license"
    monitor_key = "serverLicenseMonitor"
    aliases = ("license",)
    label = payloads.LABEL
    check_measurement = payloads.CHECK_MEASUREMENT
    # The first word of its monitoring-plugin line (`LICENSE WARNING - ...`).
    plugin_word = "LICENSE"
    # Its own switch and schedule per site: on unless `enable: false` (a site watched for
    # its access licenses alone); its `frequency` wins over the site's `frequency`.
    site_sections: ClassVar[dict[str, type[Section]]] = {"serverLicense": SiteKindSection}
    # Its texts are among the common defaults (licmon/core/templates.py), from Butler's.
    not_checked = (
        "server license not checked (Butler.qlikSenseLicense.serverLicenseMonitor.enable, "
        "licmon.sites[].serverLicense.enable)"
    )

    def monitor_section(self, destinations: type[Section]) -> type[Section]:
        """Its Butler section, with every destination's feature switch under `destination`."""
        return create_model(
            "ServerLicenseMonitor", __base__=Monitor, destination=(destinations, destinations())
        )

    def entry_name(self, site: str) -> str:
        # Kept from the first release: beat's state file knows its entries by this name.
        return f"license check {site}"

    def frequency(self, site: Site) -> str | None:
        return site.schedule(self.name)

    def site_frequency(self, document: Any, entry: Any | None) -> str | None:
        monitor = document.Butler.qlikSenseLicense.serverLicenseMonitor
        if entry is None:
            return monitor.frequency if monitor.enable else None
        # Every listed site, whatever `enable` says (as since the first release), unless
        # the site opts out.
        own = entry.serverLicense
        if not own.enable:
            return None
        return str(own.frequency or entry.frequency or monitor.frequency)

    def site_settings(
        self, document: Any, entry: Any | None, build: Build, where: str
    ) -> SiteLicense:
        monitor = document.Butler.qlikSenseLicense.serverLicenseMonitor
        own = None if entry is None else entry.thresholdDays
        return SiteLicense(monitor.alert.thresholdDays if own is None else own)

    def threshold(self, site: Site) -> int:
        own = site.settings_of(self.name)
        return Alert().thresholdDays if own is None else own.threshold_days

    def feature(self, document: Any, key: str) -> tuple[str, Any] | None:
        destination = document.Butler.qlikSenseLicense.serverLicenseMonitor.destination
        section = getattr(destination, key, None)
        return None if section is None else (f"{MONITOR_PATH}.destination.{key}", section)

    def fetch(self, site: Site, connections: Connections) -> Mapping[str, Any]:
        return qrs_client(site, connections).get_license()

    def evaluate(
        self, site: Site, answer: Mapping[str, Any], checked_at: datetime, config: MonitorConfig
    ) -> LicenseStatus:
        return evaluate_license(
            site.name, answer, checked_at, self.threshold(site), config.date_order
        )

    def failed(self, site: Site, checked_at: datetime, reason: str) -> LicenseStatus:
        return failed_status(site.name, checked_at, self.threshold(site), reason)

    def from_json(self, data: Mapping[str, Any]) -> LicenseStatus:
        return LicenseStatus.from_json(data)

    def influx_points(
        self, status: LicenseStatus, tags: tuple[tuple[str, str], ...], tick: datetime
    ) -> list[InfluxPoint]:
        return [payloads.influx_point(status, tags, tick)]

    def status_document(self, status: LicenseStatus, check_id: str) -> dict[str, Any]:
        return payloads.status_document(status, check_id)

    def notices(self, status: LicenseStatus) -> list[Notice]:
        return [payloads.routine_notice(status)]

    def own_settings(self, document: Any) -> None:
        return None  # its threshold and levels are each site's (licmon/config/sites.py)

    def remember(self, client: Any, status: LicenseStatus, at: datetime) -> Mapping[str, Any]:
        return {}  # a license's alerts need nothing but its history

    def judge(
        self,
        site: Site,
        config: MonitorConfig,
        status: LicenseStatus,
        memory: Mapping[str, Any],
    ) -> Judge:
        policy = LevelPolicy(config.levels(site), config.alerts.repeat_expired_seconds)
        return functools.partial(license_alerts.judge, policy, status)

    def render(
        self, message: Message, templates: Mapping[str, MessageTemplate], check_id: str
    ) -> Notice:
        return payloads.alert_notice(message, templates, check_id)

    def summary(self, status: LicenseStatus) -> str:
        return f"{status.status.value}, {status.daysUntilExpiry} days left"

    def check_report(
        self,
        config: MonitorConfig,
        statuses: list[LicenseStatus],
        state: StateReader,
        limits: Limits = NO_LIMITS,
    ) -> Report:
        """-w/-c are days left: warning at or below -w (default: the site's thresholdDays),
        critical at or below -c (default: expired)."""
        return views.check_report(statuses, limits)

    def status_report(
        self,
        client: redis.Redis,
        config: MonitorConfig,
        sites: list[Site],
        now: datetime,
        limits: Limits = NO_LIMITS,
    ) -> Report:
        return views.status_report(client, config, self.name, sites, now, self.threshold, limits)

    def metrics(
        self,
        client: redis.Redis,
        config: MonitorConfig,
        states: Mapping[str, SiteState | None],
        now: datetime,
    ) -> Iterable[Metric]:
        return views.metrics(config, states, now)

    def digest_rows(
        self, config: MonitorConfig, states: Mapping[str, SiteState | None], today: date
    ) -> list[DigestRow]:
        return views.digest_rows(config, states, self.threshold, today)


SERVER_LICENSE = ServerLicenseCheck()
