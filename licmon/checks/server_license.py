"""The server license: `GET /qrs/license`, days until its end, Butler's payloads."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import create_model

from licmon.config.build import MONITOR_PATH
from licmon.config.fields import LaterText, Switch, ThresholdDays
from licmon.config.sections import Section
from licmon.core import license_alerts, payloads
from licmon.core.alerts import Judge, Message
from licmon.core.license_alerts import LevelPolicy
from licmon.core.notices import InfluxPoint, Notice
from licmon.core.server_license import LicenseStatus, evaluate_license, failed_status
from licmon.core.templates import MessageTemplate

if TYPE_CHECKING:
    from licmon.config.model import MonitorConfig, Site
    from licmon.qrs.client import QrsClient


class Alert(Section):
    thresholdDays: ThresholdDays = 60


class Monitor(Section):
    """`Butler.qlikSenseLicense.serverLicenseMonitor`, less its `destination:` section."""

    enable: Switch = False
    frequency: LaterText = "every 24 hours"
    alert: Alert = Alert()


class ServerLicenseCheck:
    name = "server_license"
    monitor_key = "serverLicenseMonitor"
    label = payloads.LABEL
    check_measurement = payloads.CHECK_MEASUREMENT
    licmon_sections: ClassVar[dict[str, type[Section]]] = {}

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

    def feature(self, document: Any, key: str) -> tuple[str, Any] | None:
        destination = document.Butler.qlikSenseLicense.serverLicenseMonitor.destination
        section = getattr(destination, key, None)
        return None if section is None else (f"{MONITOR_PATH}.destination.{key}", section)

    def fetch(self, client: QrsClient) -> Mapping[str, Any]:
        return client.get_license()

    def evaluate(
        self, site: Site, answer: Mapping[str, Any], checked_at: datetime, config: MonitorConfig
    ) -> LicenseStatus:
        return evaluate_license(
            site.name, answer, checked_at, site.threshold_days, config.date_order
        )

    def failed(self, site: Site, checked_at: datetime, reason: str) -> LicenseStatus:
        return failed_status(site.name, checked_at, site.threshold_days, reason)

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


SERVER_LICENSE = ServerLicenseCheck()
