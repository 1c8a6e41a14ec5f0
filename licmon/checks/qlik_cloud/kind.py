"""Qlik Cloud tenants: a subscription's end and its allotments, read with an API key.

Configuration (ours alone: Butler watches no tenant):
  licmon.cloudTenants[]: {name, url (https://<tenant>.<region>.qlikcloud.com or a custom
    domain; https only), apiKey (secret; or LICMON_CLOUD_API_KEY_<N>, N from 1), frequency
    ("every 24 hours"), zone (as for sites), caFile (a proxy's CA, optional), timeout (30 s:
    for the connection and as much for the answer)}
  licmon.cloudAlerts: {thresholdsDays ([60, 30, 14, 7, 1]), allotments.<professional |
    analyzer | analyzer_time>.{minAvailable, minAvailablePercent}}
  licmon.cloudMqtt: {enable, sendRecurring, sendAlert, topic}: each left out follows the
    server license's MQTT switches; the status topic defaults to the server license topic's
    sibling `.../qlik_cloud_license`.
A tenant is a site to the pipeline (beat, zones, fleet view, claims): its name is unique
among sites and tenants. Destinations: InfluxDB through the server license's switch
(`qlik_cloud_license`, `qlik_cloud_allotment`), MQTT as above, the server license's alert
webhooks, Apprise's own switches.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

from licmon.checks import switches
from licmon.checks.base import KindDefaults
from licmon.checks.qlik_cloud import policy, views
from licmon.checks.qlik_cloud.status import (
    ALLOTMENTS,
    CloudStatus,
    Minimum,
    Policy,
    evaluate,
    failed,
)
from licmon.checks.switches import OwnMqtt
from licmon.config.fields import (
    FilePath,
    LaterText,
    NonNegative,
    Percent,
    Seconds,
    Secret,
    SiteName,
    ThresholdLevels,
    check_host,
)
from licmon.config.fleet import ZoneName
from licmon.config.model import Site
from licmon.config.sections import Section
from licmon.core.alerts import Judge, Message
from licmon.core.digest import DigestRow
from licmon.core.notices import InfluxPoint, Notice
from licmon.core.templates import MessageTemplate
from licmon.views import NO_LIMITS, Limits

if TYPE_CHECKING:
    import redis
    from prometheus_client.core import Metric

    from licmon.checks.base import Connections, StateReader
    from licmon.config.build import Build
    from licmon.config.env import EnvOverlay
    from licmon.config.model import MonitorConfig
    from licmon.state.fleet import SiteState
    from licmon.views import Report

NAME = "qlik_cloud"
DEFAULT_LEVELS = (60, 30, 14, 7, 1)
ENV_PREFIX = "LICMON_CLOUD_API_KEY_"
TOPIC_LEAF = "qlik_cloud_license"
# Tenants' clients a process keeps (each holds at most one idle HTTPS connection).
CLIENTS_KEPT = 32


def _https(value: Any) -> str:
    """A tenant's base URL: https, a host, nothing a key could hide in (no user, no query)."""
    text = value.strip().rstrip("/") if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
        host, _ = parts.hostname, parts.port
    except ValueError:
        host = None
    if (
        len(text) > 2000
        or parts.scheme != "https"
        or not host
        or check_host(host)
        or parts.username
        or parts.password
        or parts.query
        or parts.fragment
        or any(ord(char) < 33 for char in text)
    ):
        raise PydanticCustomError(
            "https_url",
            "expected an https:// URL of the tenant, e.g. https://acme.eu.qlikcloud.com "
            "(no user, query or fragment)",
        )
    return text


HttpsUrl = Annotated[str, BeforeValidator(_https)]


@dataclass(frozen=True)
class Tenant:
    """What the kind keeps of a tenant's entry (hashable: it rides in `Site.own`)."""

    url: str
    api_key: SecretStr
    ca_file: Path | None


class TenantEntry(Section):
    """`licmon.cloudTenants[]`."""

    name: SiteName
    url: HttpsUrl
    apiKey: Secret | None = None
    frequency: LaterText = "every 24 hours"
    zone: ZoneName | None = None
    caFile: FilePath | None = None
    timeout: Seconds = 30.0


class AllotmentMinimum(Section):
    minAvailable: NonNegative | None = None
    minAvailablePercent: Percent | None = None


class Allotments(Section):
    professional: AllotmentMinimum | None = None
    analyzer: AllotmentMinimum | None = None
    analyzer_time: AllotmentMinimum | None = None


class CloudAlerts(Section):
    """`licmon.cloudAlerts`."""

    thresholdsDays: ThresholdLevels = Field(default_factory=lambda: list(DEFAULT_LEVELS))
    allotments: Allotments = Allotments()


class QlikCloudCheck(KindDefaults):
    name = NAME
    aliases = ("cloud", "qlik-cloud")
    monitor_key = None
    label = policy.LABEL
    # The first word of its monitoring-plugin line (`CLOUD OK - ...`).
    plugin_word = "CLOUD"
    check_measurement = "qlik_cloud_license_check"
    licmon_sections: ClassVar[dict[str, Any]] = {
        "cloudTenants": (list[TenantEntry] | None, None),
        "cloudAlerts": CloudAlerts,
        "cloudMqtt": OwnMqtt,
    }
    templates: ClassVar[dict[str, MessageTemplate]] = policy.TEMPLATES
    template_fields: ClassVar[dict[str, str]] = policy.TEMPLATE_FIELDS
    not_checked = "no Qlik Cloud tenant is configured (licmon.cloudTenants)"

    # --- configuration -----------------------------------------------------------------

    def monitor_section(self, destinations: type[Section]) -> type[Section]:
        raise NotImplementedError("Butler has no Qlik Cloud monitor")

    def env_secrets(self, overlay: EnvOverlay) -> None:
        overlay.put_each(ENV_PREFIX, ("licmon", "cloudTenants"), "apiKey")

    def own_sites(self, document: Any, build: Build, taken: set[str]) -> tuple[Site, ...]:
        """Every tenant, as a site only this kind checks."""
        sites = []
        for index, entry in enumerate(document.licmon.cloudTenants or ()):
            where = f"licmon.cloudTenants[{index}]"
            if entry.name in taken:
                build.problem(f"{where}.name", f"{entry.name!r} is already a site or tenant name")
                continue
            taken = taken | {entry.name}
            if entry.apiKey is None:
                build.problem(f"{where}.apiKey", f"required (or set {ENV_PREFIX}{index + 1})")
                continue
            ca_file = build.ca_file(f"{where}.caFile", entry.caFile, "CA")
            parts = urlsplit(entry.url)
            sites.append(
                Site(
                    name=entry.name,
                    host=str(parts.hostname),
                    port=parts.port or 443,
                    client_cert=None,
                    client_key=None,
                    root_ca=ca_file,
                    use_ssl=True,
                    verify_hostname=True,
                    reject_unauthorized=True,
                    headers=(),
                    tags=(),
                    connect_timeout=entry.timeout,
                    read_timeout=entry.timeout,
                    zone=entry.zone,
                    checks=((self.name, str(entry.frequency)),),
                    own=((self.name, Tenant(entry.url, entry.apiKey, ca_file)),),
                )
            )
        return tuple(sites)

    def entry_name(self, site: str) -> str:
        return f"qlik cloud check {site}"

    def frequency(self, site: Site) -> str | None:
        return site.schedule(self.name)

    def site_frequency(self, document: Any, entry: Any | None) -> str | None:
        return None  # its tenants are its own sites (`own_sites`), never a QRS site

    def site_settings(self, document: Any, entry: Any | None, build: Build, where: str) -> None:
        return None

    def own_settings(self, document: Any) -> Policy:
        alerts = document.licmon.cloudAlerts
        minimums = {}
        for name in ALLOTMENTS:
            given = getattr(alerts.allotments, name)
            if given is not None:
                minimums[name] = Minimum(given.minAvailable, given.minAvailablePercent)
        levels = tuple(sorted(set(alerts.thresholdsDays), reverse=True))
        return Policy(levels, minimums)

    def policy(self, config: MonitorConfig) -> Policy:
        return config.kind_settings.get(self.name) or Policy()

    def feature(self, document: Any, key: str) -> tuple[str, Any] | None:
        if key == "influxDb":
            section = document.Butler.qlikSenseLicense.serverLicenseMonitor.destination.influxDb
            return f"{switches.SERVER_DESTINATIONS}.influxDb", section
        own = document.licmon.cloudMqtt
        return switches.following_server(document, key, own, "licmon.cloudMqtt", TOPIC_LEAF)

    # --- the check ---------------------------------------------------------------------

    def fetch(self, site: Site, connections: Connections) -> dict[str, Any]:
        # Imported by the first check: requests is a worker's, never beat's (which imports
        # every kind for its schedules).
        from licmon.checks.qlik_cloud.source import CloudClient

        tenant: Tenant = site.settings_of(self.name)
        client = connections.recent(
            (self.name, site.name, tenant),
            lambda: CloudClient(site.name, tenant, site.read_timeout),
            keep=CLIENTS_KEPT,
        )
        return client.overview()

    def evaluate(
        self, site: Site, answer: Any, checked_at: datetime, config: MonitorConfig
    ) -> CloudStatus:
        return evaluate(site.name, answer, checked_at, self.policy(config))

    def failed(self, site: Site, checked_at: datetime, reason: str) -> CloudStatus:
        return failed(site.name, checked_at, max(DEFAULT_LEVELS), reason)

    def from_json(self, data: Mapping[str, Any]) -> CloudStatus:
        return CloudStatus.from_json(data)

    # --- what it says ------------------------------------------------------------------

    def influx_points(
        self, status: CloudStatus, tags: tuple[tuple[str, str], ...], tick: datetime
    ) -> list[InfluxPoint]:
        license_tags = dict(tags) | {
            "tenant": status.tenant,
            "product": status.product or "",
            "trial": str(status.trial).lower(),
        }
        fields: dict[str, bool | float | str] = {"license_status": status.licenseStatus or ""}
        if status.daysUntilExpiry is not None:
            fields["days_until_expiry"] = float(status.daysUntilExpiry)
        if status.expiryDate is not None:
            fields["expiry_date"] = status.expiryDate
        points = [InfluxPoint("qlik_cloud_license", license_tags, fields, tick)]
        for allotment in status.allotments:
            values: dict[str, bool | float | str] = {
                "units": allotment.units,
                "units_used": allotment.unitsUsed,
                "available": allotment.available,
            }
            if allotment.overage is not None:
                values["overage"] = allotment.overage
            allotment_tags = dict(tags) | {"tenant": status.tenant, "allotment": allotment.name}
            points.append(InfluxPoint("qlik_cloud_allotment", allotment_tags, values, tick))
        return points

    def status_document(self, status: CloudStatus, check_id: str) -> dict[str, Any]:
        return views.document(status) | {"checkId": check_id}

    def notices(self, status: CloudStatus) -> list[Notice]:
        return []  # no routine notice: people hear of a tenant by its alerts

    def remember(self, client: Any, status: CloudStatus, at: datetime) -> Mapping[str, Any]:
        return {}

    def judge(
        self, site: Site, config: MonitorConfig, status: CloudStatus, memory: Mapping[str, Any]
    ) -> Judge:
        return functools.partial(
            policy.judge, self.policy(config).levels, config.alerts.repeat_expired_seconds, status
        )

    def render(
        self, message: Message, templates: Mapping[str, MessageTemplate], check_id: str
    ) -> Notice:
        return policy.notice(message, templates, check_id)

    def summary(self, status: CloudStatus) -> str:
        if status.error is not None:
            return f"unreadable: {status.error}"
        low = f", low: {', '.join(status.low)}" if status.low else ""
        return f"{status.status}, {status.licenseStatus}, ends {status.expiryDate or 'never'}{low}"

    # --- its edges ---------------------------------------------------------------------

    def check_report(
        self,
        config: MonitorConfig,
        statuses: list[CloudStatus],
        state: StateReader,
        limits: Limits = NO_LIMITS,
    ) -> Report:
        """-w/-c are days left of the subscription: warning at or below -w (default: the
        highest level), critical at or below -c (default: ended, or not `Ok`)."""
        return views.check_report(statuses, limits)

    def status_report(
        self,
        client: redis.Redis,
        config: MonitorConfig,
        sites: list[Site],
        now: datetime,
        limits: Limits = NO_LIMITS,
    ) -> Report:
        highest = max(self.policy(config).levels, default=0)
        return views.status_report(client, config, self.name, sites, now, highest, limits)

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
        return views.digest_rows(config, states, max(self.policy(config).levels), today)


QLIK_CLOUD = QlikCloudCheck()
