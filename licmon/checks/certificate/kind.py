"""Certificate expiry: the certificates a Qlik Sense site cannot live without, read by TLS
handshakes and from the client certificate file, judged against day levels.

What is checked, for a site with `licmon.sites[].certificates.enable: true`: the chain the
QRS port presents (the site's `host:port`, with the site's client certificate presented, as
the QRS asks for one), the chain of every extra endpoint listed (`endpoints`, e.g. the
proxy's `qlik.example.com:443`), and the client certificate file the site uses
(`cert.clientCert`). Butler has no such check: its keys are ours alone.

Configuration:
  licmon.sites[].certificates: {enable (false), frequency ("every 24 hours"), endpoints: []}
  licmon.certificateAlerts.thresholdsDays: the levels, default [30, 14, 7, 1]
  licmon.certificateMqtt: {enable, sendRecurring, sendAlert, topic}: each left out follows
    the server license's MQTT switches; the status topic defaults to the server license
    topic's sibling `.../qliksense_certificate`.
Destinations: InfluxDB through the server license's switch (measurement
`qlik_sense_certificate`, one point per certificate), MQTT as above, the server license's
alert webhooks, Apprise's own switches.

A check whose handshake or file cannot be read (refused, timeout, not TLS, unreadable) fails
as a whole, naming what failed; its retries and "check failing" follow the common policy. A
certificate that does not verify (expired, self-signed, another host's) is read all the same.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from licmon.checks import switches
from licmon.checks.base import KindDefaults
from licmon.checks.certificate import policy, views
from licmon.checks.certificate.reading import (
    CertificateInfo,
    CertificateReadError,
    read_endpoint,
    read_pem_file,
)
from licmon.checks.certificate.status import CertificateStatus, evaluate, failed
from licmon.checks.switches import OwnMqtt
from licmon.config.fields import LaterText, Switch, ThresholdLevels, check_host
from licmon.config.sections import Section
from licmon.core.alerts import Judge, Message
from licmon.core.digest import DigestRow
from licmon.core.notices import InfluxPoint, Notice
from licmon.core.source import SourceError
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

DEFAULT_LEVELS = (30, 14, 7, 1)
TOPIC_LEAF = "qliksense_certificate"
MEASUREMENT = "qlik_sense_certificate"


def _endpoint(value: Any) -> str:
    """`host:port` (IPv6 as `[::1]:443`)."""
    text = value.strip() if isinstance(value, str) else ""
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536 or check_host(host):
        raise PydanticCustomError(
            "endpoint", "expected host:port, e.g. qlik.example.com:443 ([::1]:443 for IPv6)"
        )
    return text


Endpoint = Annotated[str, BeforeValidator(_endpoint)]


class SiteCertificates(Section):
    """`licmon.sites[].certificates`."""

    enable: Switch = False
    frequency: LaterText = "every 24 hours"
    endpoints: list[Endpoint] = Field(default_factory=list, max_length=32)


class CertificateAlerts(Section):
    """`licmon.certificateAlerts`."""

    thresholdsDays: ThresholdLevels = Field(default_factory=lambda: list(DEFAULT_LEVELS))


@dataclass(frozen=True)
class SiteEndpoints:
    """What it reads of a site: the handshakes to make and the client file to read."""

    # (label, host, port, present the site's client certificate)
    handshakes: tuple[tuple[str, str, int, bool], ...]
    # (label, path): `client:<path as configured>`
    client_file: tuple[str, Path] | None


def _split(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


def _joined(host: str, port: int) -> str:
    """`host:port`, an IPv6 address in brackets (as `endpoints` are written)."""
    bare = host.strip("[]")
    return f"[{bare}]:{port}" if ":" in bare else f"{bare}:{port}"


class CertificateCheck(KindDefaults):
    name = "certificate"
    aliases = ("certificates", "cert")
    monitor_key = None
    label = policy.LABEL
    # The first word of its monitoring-plugin line (`CERTIFICATE OK - ...`).
    plugin_word = "CERTIFICATE"
    check_measurement = "qlik_sense_certificate_check"
    licmon_sections: ClassVar[dict[str, type[Section]]] = {
        "certificateAlerts": CertificateAlerts,
        "certificateMqtt": OwnMqtt,
    }
    site_sections: ClassVar[dict[str, type[Section]]] = {"certificates": SiteCertificates}
    templates: ClassVar[dict[str, MessageTemplate]] = policy.TEMPLATES
    template_fields: ClassVar[dict[str, str]] = policy.TEMPLATE_FIELDS
    not_checked = "certificates not checked (licmon.sites[].certificates.enable)"

    # --- configuration -----------------------------------------------------------------

    def monitor_section(self, destinations: type[Section]) -> type[Section]:
        raise NotImplementedError("Butler has no certificate monitor")

    def entry_name(self, site: str) -> str:
        return f"certificate check {site}"

    def frequency(self, site: Site) -> str | None:
        return site.schedule(self.name)

    def site_frequency(self, document: Any, entry: Any | None) -> str | None:
        if entry is None or not entry.certificates.enable:
            return None  # Butler's one site: Butler has no such check
        return str(entry.certificates.frequency)

    def site_settings(
        self, document: Any, entry: Any | None, build: Build, where: str
    ) -> SiteEndpoints:
        assert entry is not None  # only listed sites are checked (site_frequency)
        handshakes = (
            []
            if not entry.useSSL
            else [(_joined(entry.host, entry.port), entry.host.strip("[]"), entry.port, True)]
        )
        for endpoint in dict.fromkeys(entry.certificates.endpoints):
            host, port = _split(endpoint)
            if (host, port) != (entry.host.strip("[]"), entry.port):
                handshakes.append((endpoint, host, port, False))
        client = entry.cert.clientCert
        return SiteEndpoints(
            handshakes=tuple(handshakes),
            client_file=(f"client:{client}", build.base_dir / client),
        )

    def own_settings(self, document: Any) -> tuple[int, ...]:
        return tuple(sorted(set(document.licmon.certificateAlerts.thresholdsDays), reverse=True))

    def levels(self, config: MonitorConfig) -> tuple[int, ...]:
        return config.kind_settings.get(self.name) or DEFAULT_LEVELS

    def feature(self, document: Any, key: str) -> tuple[str, Any] | None:
        if key == "influxDb":
            section = document.Butler.qlikSenseLicense.serverLicenseMonitor.destination.influxDb
            return f"{switches.SERVER_DESTINATIONS}.influxDb", section
        own = document.licmon.certificateMqtt
        return switches.following_server(document, key, own, "licmon.certificateMqtt", TOPIC_LEAF)

    # --- the check ---------------------------------------------------------------------

    def fetch(
        self, site: Site, connections: Connections
    ) -> list[tuple[str, list[CertificateInfo]]]:
        """Every handshake at once (each bounded by the site's connect + read timeout), and
        the client file; the whole read fails when one of them does, naming each."""
        endpoints: SiteEndpoints | None = site.settings_of(self.name)
        if endpoints is None:
            raise CertificateReadError("no_certificate", site.name, "no certificate to check")
        timeout = site.connect_timeout + site.read_timeout

        def handshake(label: str, host: str, port: int, present: bool) -> Any:
            try:
                return label, read_endpoint(
                    host,
                    port,
                    timeout=timeout,
                    client_cert=site.client_cert if present else None,
                    client_key=site.client_key if present else None,
                )
            except SourceError as exc:
                return label, exc

        jobs = list(endpoints.handshakes)
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(jobs)))) as pool:
            read = list(pool.map(lambda job: handshake(*job), jobs))
        if endpoints.client_file is not None:
            label, path = endpoints.client_file
            try:
                read.append((label, read_pem_file(path, label="client certificate file")))
            except SourceError as exc:
                read.append((label, exc))
        problems = [error for _, error in read if isinstance(error, SourceError)]
        if problems:
            raise _all_of(site.name, problems)
        return read

    def evaluate(
        self, site: Site, answer: Any, checked_at: datetime, config: MonitorConfig
    ) -> CertificateStatus:
        return evaluate(site.name, answer, checked_at, self.levels(config))

    def failed(self, site: Site, checked_at: datetime, reason: str) -> CertificateStatus:
        return failed(site.name, checked_at, max(DEFAULT_LEVELS), reason)

    def from_json(self, data: Mapping[str, Any]) -> CertificateStatus:
        return CertificateStatus.from_json(data)

    # --- what it says ------------------------------------------------------------------

    def influx_points(
        self, status: CertificateStatus, tags: tuple[tuple[str, str], ...], tick: datetime
    ) -> list[InfluxPoint]:
        points = []
        for c in status.certificates:
            point_tags = dict(tags) | {
                "site": status.site,
                "endpoint": c.endpoint,
                "subject": c.subject,
            }
            fields: dict[str, bool | float | str] = {
                "days_until_expiry": float(c.daysUntilExpiry),
                "not_after": c.notAfter,
                "expired": c.expired,
            }
            points.append(InfluxPoint(MEASUREMENT, point_tags, fields, tick))
        return points

    def status_document(self, status: CertificateStatus, check_id: str) -> dict[str, Any]:
        return status.to_json() | {"checkId": check_id}

    def notices(self, status: CertificateStatus) -> list[Notice]:
        return []  # no routine notice: chat and webhooks hear of certificates by alerts

    def remember(self, client: Any, status: CertificateStatus, at: datetime) -> Mapping[str, Any]:
        return {}

    def judge(
        self,
        site: Site,
        config: MonitorConfig,
        status: CertificateStatus,
        memory: Mapping[str, Any],
    ) -> Judge:
        return functools.partial(
            policy.judge, self.levels(config), config.alerts.repeat_expired_seconds, status
        )

    def render(
        self, message: Message, templates: Mapping[str, MessageTemplate], check_id: str
    ) -> Notice:
        return policy.notice(message, templates, check_id)

    def summary(self, status: CertificateStatus) -> str:
        earliest = status.earliest()
        if status.error is not None or earliest is None:
            return f"unreadable: {status.error}"
        return (
            f"{status.status}, {len(status.certificates)} certificates, earliest "
            f"{earliest.subject} ({earliest.endpoint}) in {earliest.daysUntilExpiry} days"
        )

    # --- its edges ---------------------------------------------------------------------

    def check_report(
        self,
        config: MonitorConfig,
        statuses: list[CertificateStatus],
        state: StateReader,
        limits: Limits = NO_LIMITS,
    ) -> Report:
        """-w/-c are days left of a site's earliest certificate: warning at or below -w
        (default: the highest level), critical at or below -c (default: ended)."""
        return views.check_report(statuses, limits)

    def status_report(
        self,
        client: redis.Redis,
        config: MonitorConfig,
        sites: list[Site],
        now: datetime,
        limits: Limits = NO_LIMITS,
    ) -> Report:
        highest = max(self.levels(config))
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
        return views.digest_rows(config, states, max(self.levels(config)), today)


def _all_of(site: str, problems: list[SourceError]) -> SourceError:
    """One error for every read that failed, of the kind of the first that needs a person
    (transient only when each of them is)."""
    if len(problems) == 1:
        return problems[0]
    lead = next((problem for problem in problems if not problem.transient), problems[0])
    detail = "; ".join(str(problem) for problem in problems)
    return CertificateReadError(lead.kind, f"site {site!r}", detail)


CERTIFICATE = CertificateCheck()
