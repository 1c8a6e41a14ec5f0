"""Access licenses: `GET /qrs/license/accesstypeoverview`, seats and tokens left, Butler's
`qlik_sense_license` points.

Butler keys: `Butler.qlikSenseLicense.licenseMonitor.{enable, frequency (every 6 hours),
destination.influxDb.{enable, tag.static[]}}`. Ours: `licmon.sites[].accessLicense.{enable,
frequency}`, `licmon.accessLicense.mqtt` (below) and `licmon.accessAlerts.<type>`
(`minAvailable`, `minAvailablePercent`, `forecastDays`).

Where each destination's switch is for this kind (`feature`):
- InfluxDB: Butler's `licenseMonitor.destination.influxDb`, with its own static tags.
- MQTT: `licmon.accessLicense.mqtt`; its `enable` defaults to the server license's MQTT
  switches (enable, sendRecurring, sendAlert). On by default is safe for a Butler user: the
  status goes to a new topic (`.../qliksense_access_license`) that nothing listens to yet,
  and the alert topic hears of access licenses only once `licmon.accessAlerts` sets a
  minimum, which nobody has before upgrading.
- Webhooks: the server license's alert webhooks only (`sendAlert`), never the status ones:
  their receivers expect Butler's `server license status` parameters.
- Apprise: its own per-URL switches, as for every kind.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import create_model

from licmon.checks import switches
from licmon.checks.access_license import history as access_history
from licmon.checks.access_license import views
from licmon.checks.base import KindDefaults
from licmon.checks.qrs_source import qrs_client
from licmon.checks.switches import OwnMqtt
from licmon.config.fields import LaterText, NonNegative, Percent, Switch
from licmon.config.schema import SiteKindSection
from licmon.config.sections import Section
from licmon.core import access_alerts, access_payloads
from licmon.core.access_license import (
    COUNTED_TYPES,
    AccessStatus,
    Minimum,
    evaluate_access,
    failed_access,
)
from licmon.core.alerts import Judge, Message
from licmon.core.digest import DigestRow
from licmon.core.failure_notices import failure_notice
from licmon.core.notices import InfluxPoint, Notice
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

MONITOR_PATH = "Butler.qlikSenseLicense.licenseMonitor"
# The MQTT status topic: the server license topic's sibling, unless set.
TOPIC_LEAF = "qliksense_access_license"


class Monitor(Section):
    """`Butler.qlikSenseLicense.licenseMonitor`, less its `destination:` section."""

    enable: Switch = False
    frequency: LaterText = "every 6 hours"


class AccessLicenseSection(Section):
    """`licmon.accessLicense`."""

    mqtt: OwnMqtt = OwnMqtt()


class AccessMinimum(Section):
    """`licmon.accessAlerts.<type>`."""

    minAvailable: NonNegative | None = None
    minAvailablePercent: Percent | None = None
    forecastDays: NonNegative | None = None


class AccessAlerts(Section):
    """`licmon.accessAlerts`: one entry per counted type."""

    professional: AccessMinimum | None = None
    analyzer: AccessMinimum | None = None
    tokens_available: AccessMinimum | None = None


def minimums(document: Any) -> dict[str, Minimum]:
    """The minimums set in `licmon.accessAlerts`, by type."""
    alerts = document.licmon.accessAlerts
    found = {}
    for name in COUNTED_TYPES:
        entry = getattr(alerts, name)
        if entry is not None:
            found[name] = Minimum(entry.minAvailable, entry.minAvailablePercent, entry.forecastDays)
    return found


def sibling_topic(server_topic: str) -> str:
    return switches.sibling_topic(server_topic, TOPIC_LEAF)


class AccessLicenseCheck(KindDefaults):
    name = "access_license"
    monitor_key = "licenseMonitor"
    aliases = ("access",)
    label = "access license"
    # The first word of its monitoring-plugin line (`ACCESS WARNING - ...`).
    plugin_word = "ACCESS"
    check_measurement = "qlik_sense_access_license_check"
    licmon_sections: ClassVar[dict[str, type[Section]]] = {
        "accessLicense": AccessLicenseSection,
        "accessAlerts": AccessAlerts,
    }
    # Its own switch and schedule per site (when `licenseMonitor.enable` is on).
    site_sections: ClassVar[dict[str, type[Section]]] = {"accessLicense": SiteKindSection}
    # Its texts are among the common defaults (licmon/core/templates.py), from Butler's.
    not_checked = (
        "access licenses not checked (Butler.qlikSenseLicense.licenseMonitor.enable, "
        "licmon.sites[].accessLicense.enable)"
    )

    def monitor_section(self, destinations: type[Section]) -> type[Section]:
        """Butler's section: its `destination:` holds InfluxDB's switch alone."""
        influx = destinations.model_fields["influxDb"].annotation
        assert isinstance(influx, type)
        only_influx = create_model(
            "AccessDestinations", __base__=Section, influxDb=(influx, influx())
        )
        return create_model(
            "AccessLicenseMonitor", __base__=Monitor, destination=(only_influx, only_influx())
        )

    def entry_name(self, site: str) -> str:
        return f"access license check {site}"

    def frequency(self, site: Site) -> str | None:
        return site.schedule(self.name)

    def site_frequency(self, document: Any, entry: Any | None) -> str | None:
        monitor = document.Butler.qlikSenseLicense.licenseMonitor
        if not monitor.enable:
            return None
        if entry is None:
            return str(monitor.frequency)
        own = entry.accessLicense
        if not own.enable:
            return None
        return str(own.frequency or monitor.frequency)

    def site_settings(self, document: Any, entry: Any | None, build: Build, where: str) -> None:
        return None  # its minimums are the whole configuration's (`own_settings`)

    def feature(self, document: Any, key: str) -> tuple[str, Any] | None:
        if key == "influxDb":
            section = document.Butler.qlikSenseLicense.licenseMonitor.destination.influxDb
            return f"{MONITOR_PATH}.destination.influxDb", section
        own = document.licmon.accessLicense.mqtt
        return switches.following_server(
            document, key, own, "licmon.accessLicense.mqtt", TOPIC_LEAF
        )

    def fetch(self, site: Site, connections: Connections) -> Mapping[str, Any]:
        return qrs_client(site, connections).get_access_overview()

    def evaluate(
        self, site: Site, answer: Mapping[str, Any], checked_at: datetime, config: MonitorConfig
    ) -> AccessStatus:
        return evaluate_access(site.name, answer, checked_at)

    def failed(self, site: Site, checked_at: datetime, reason: str) -> AccessStatus:
        return failed_access(site.name, checked_at, reason)

    def from_json(self, data: Mapping[str, Any]) -> AccessStatus:
        return AccessStatus.from_json(data)

    def influx_points(
        self, status: AccessStatus, tags: tuple[tuple[str, str], ...], tick: datetime
    ) -> list[InfluxPoint]:
        return access_payloads.influx_points(status, tags, tick)

    def status_document(self, status: AccessStatus, check_id: str) -> dict[str, Any]:
        return access_payloads.status_document(status, check_id)

    def notices(self, status: AccessStatus) -> list[Notice]:
        # No routine notice: Butler sends none for access licenses, and chat is for alerts.
        # Alerts (low, recovered, exhausts soon) need what a target was told before: they
        # come from licmon.core.access_alerts through the alert policy, not from one status.
        return []

    def own_settings(self, document: Any) -> dict[str, Minimum]:
        return minimums(document)

    def remember(self, client: Any, status: AccessStatus, at: datetime) -> Mapping[str, Any]:
        """Today's reading joins the site's history; the forecast is read from it."""
        access_history.record(client, status.site, status, at)
        return {"forecasts": access_history.forecasts(client, status.site)}

    def judge(
        self,
        site: Site,
        config: MonitorConfig,
        status: AccessStatus,
        memory: Mapping[str, Any],
    ) -> Judge:
        return functools.partial(
            access_alerts.judge, status, minimums_of(config), memory.get("forecasts") or {}
        )

    def render(
        self, message: Message, templates: Mapping[str, MessageTemplate], check_id: str
    ) -> Notice:
        common = failure_notice(self.label, message, templates, check_id)
        return common if common is not None else access_alerts.notice(message, templates)

    def summary(self, status: AccessStatus) -> str:
        if status.error is not None:
            return f"unreadable: {status.error}"
        counted = [
            f"{name} {counts[0]:g}/{counts[1]:g}"
            for name in COUNTED_TYPES
            if (counts := status.available(name)) is not None
        ]
        return ", ".join(counted) or f"{len(status.licenses)} types, none counted"

    def check_report(
        self,
        config: MonitorConfig,
        statuses: list[AccessStatus],
        state: StateReader,
        limits: Limits = NO_LIMITS,
    ) -> Report:
        """-w/-c are available seats or tokens, for every counted type: warning at or below
        -w (default: `licmon.accessAlerts`' minimums), critical at or below -c (none)."""
        return views.check_report(statuses, minimums_of(config), state, limits)

    def status_report(
        self,
        client: redis.Redis,
        config: MonitorConfig,
        sites: list[Site],
        now: datetime,
        limits: Limits = NO_LIMITS,
    ) -> Report:
        return views.status_report(client, self.name, sites, minimums_of(config), now, limits)

    def metrics(
        self,
        client: redis.Redis,
        config: MonitorConfig,
        states: Mapping[str, SiteState | None],
        now: datetime,
    ) -> Iterable[Metric]:
        return views.metrics(client, config, states)

    def digest_rows(
        self, config: MonitorConfig, states: Mapping[str, SiteState | None], today: date
    ) -> list[DigestRow]:
        return []  # seats have no date to count down to; their alerts say when they run low


ACCESS_LICENSE = AccessLicenseCheck()


def minimums_of(config: MonitorConfig) -> Mapping[str, Minimum]:
    """The minimums `licmon.accessAlerts` sets, as the configuration read them."""
    return config.kind_settings.get(ACCESS_LICENSE.name) or {}
