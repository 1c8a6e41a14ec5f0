"""The YAML document's schema: the shared sections, and the root assembled from every check
kind and destination.

A destination brings its own sections (`Destination.schema`) and a check kind its monitor
section; `document_model()` puts them where Butler has them. Keys we do not use are ignored,
so a full Butler production config loads unchanged.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import Field, SecretStr, create_model

from licmon.config.alerts import alerts_section
from licmon.config.fields import (
    Attempts,
    Backoff,
    FilePath,
    Host,
    LaterText,
    Port,
    QuickWindow,
    RetryCount,
    Seconds,
    Secret,
    ServiceUrl,
    SiteName,
    Switch,
    Text,
    ThresholdDays,
    ThresholdLevels,
    VisibilityTimeout,
)
from licmon.config.fleet import BeatSection, ZoneName
from licmon.config.sections import Header, HeaderList, NameValue, Section
from licmon.qrs.defaults import DEFAULT_CONNECT_TIMEOUT, DEFAULT_PORT, DEFAULT_READ_TIMEOUT
from licmon.registry import Registry

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_RESULT_BACKEND = "redis://127.0.0.1:6379/1"

# --- Butler.configQRS and Butler.cert -----------------------------------------------------


class ConfigQRS(Section):
    # Checked as a host name only when the license monitor uses it (licmon.config.sites):
    # a Butler file may carry a template placeholder for a feature it does not use.
    host: Text | None = None
    port: Port = DEFAULT_PORT
    useSSL: Switch = True
    rejectUnauthorized: Switch = True
    headers: HeaderList = HeaderList()


class Certificates(Section):
    clientCert: FilePath | None = None
    clientCertKey: FilePath | None = None
    clientCertCA: FilePath | None = None


# --- licmon: our own section, beside Butler's so Butler can still read the same file ----------


class SiteCertificates(Section):
    clientCert: FilePath
    clientCertKey: FilePath
    clientCertCA: FilePath | None = None


class SiteKindSection(Section):
    """A site's own switch and schedule for one check kind; the schedule defaults to the
    kind's Butler `frequency`."""

    enable: Switch = True
    frequency: LaterText | None = None


class SiteEntry(Section):
    name: SiteName
    host: Host
    port: Port = DEFAULT_PORT
    useSSL: Switch = True
    enable: Switch = True
    cert: SiteCertificates
    verifyHostname: Switch = True
    rejectUnauthorized: Switch = True
    headers: list[Header] = Field(default_factory=list)
    tags: list[NameValue] = Field(default_factory=list)
    # Butler's threshold and schedule for this site (the default kind reads them); Butler's
    # own when left out.
    thresholdDays: ThresholdDays | None = None
    frequency: LaterText | None = None
    # This site's levels of the level policy; licmon.alerts.thresholdsDays when left out.
    thresholdsDays: ThresholdLevels | None = None
    # Checked by the workers of this zone only (queue `license.fetch.<zone>`); none: central.
    zone: ZoneName | None = None
    # Each check kind adds its own sections here (`CheckKind.site_sections`).


class BrokerTlsSection(Section):
    """`licmon.broker.tls`: for `rediss://` (and Sentinel over TLS). The broker's
    certificate is always verified: against `caFile`, or the system's CAs without it."""

    caFile: FilePath | None = None
    certFile: FilePath | None = None
    keyFile: FilePath | None = None


class BrokerSentinelSection(Section):
    """`licmon.broker.sentinel`: for `sentinel://host:26379;sentinel://...` URLs. The data
    nodes' password stays in the URL, as kombu reads it; this one is the sentinels' own."""

    masterName: Text | None = None
    password: Secret | None = None


class BrokerSection(Section):
    url: ServiceUrl = SecretStr(DEFAULT_BROKER_URL)
    resultBackend: ServiceUrl = SecretStr(DEFAULT_RESULT_BACKEND)
    # Task events feed Flower; each delivery costs a few Redis commands more with them.
    taskEvents: Switch = True
    # Redis hands a message nobody acknowledged to another worker after this long: how soon
    # the work of a lost worker is redone. It must exceed the longest retry countdown plus
    # the hard time limit (checked in licmon/config/reliability.py).
    visibilityTimeoutSeconds: VisibilityTimeout = 600.0
    # Refuse to start, instead of warning, when the broker's Redis persists nothing.
    requirePersistence: Switch = False
    tls: BrokerTlsSection = BrokerTlsSection()
    sentinel: BrokerSentinelSection = BrokerSentinelSection()


class Retries(Section):
    quickAttempts: Attempts = 3
    quickWindowSeconds: QuickWindow = 15.0
    retries: RetryCount = 5
    backoffSeconds: Backoff = 30.0
    # Below the broker's visibility timeout (600 s) less the hard time limit: see
    # licmon/config/reliability.py.
    backoffMaxSeconds: Backoff = 300.0


class LicmonBase(Section):
    """`licmon`, less the sections destinations bring."""

    sites: list[SiteEntry] | None = None
    # Qlik's server certificate often names the machine, not the name clients use.
    verifyHostname: Switch = True
    dateOrder: Literal["month-first", "day-first"] = "month-first"
    broker: BrokerSection = BrokerSection()
    retries: Retries = Retries()
    beat: BeatSection = BeatSection()


def _section(name: str, base: type[Section], fields: dict[str, Any]) -> type[Section]:
    """A section model with one field per entry of `fields`: a section model (defaulted to
    its defaults) or, for anything else (a list of a kind's tenants), (type, default)."""
    definitions: dict[str, Any] = {
        key: given if isinstance(given, tuple) else (given, given())
        for key, given in fields.items()
    }
    return create_model(name, __base__=base, **definitions)


@functools.cache
def document_model(plugins: Registry) -> type[Section]:
    """The root model: Butler's sections and ours, from every check kind and destination."""
    kinds = plugins.kinds
    schemas = [destination.schema for destination in plugins.destinations]
    features = _section(
        "Destinations", Section, {s.feature[0]: s.feature[1] for s in schemas if s.feature}
    )
    license_section = _section(
        "QlikSenseLicense",
        Section,
        {
            kind.monitor_key: kind.monitor_section(features)
            for kind in kinds
            if kind.monitor_key is not None
        },
    )
    site_entry = _section(
        "SiteEntry",
        SiteEntry,
        {key: model for kind in kinds for key, model in kind.site_sections.items()},
    )
    timeouts: dict[str, Any] = {
        "qrsConnect": (Seconds, DEFAULT_CONNECT_TIMEOUT),
        "qrsRead": (Seconds, DEFAULT_READ_TIMEOUT),
    }
    timeouts |= {s.timeout[0]: (Seconds, s.timeout[1]) for s in schemas if s.timeout}
    timeout_section = create_model("Timeouts", __base__=Section, **timeouts)
    # In Butler's order, so that problems are listed as they appear in its files.
    butler = _section(
        "ButlerSection",
        Section,
        {"qlikSenseLicense": license_section, "configQRS": ConfigQRS, "cert": Certificates}
        | {key: model for s in schemas for key, model in s.butler.items()},
    )
    licmon = _section(
        "LicmonSection",
        LicmonBase,
        {"timeouts": timeout_section, "alerts": alerts_section(plugins.templates())}
        | {key: model for s in schemas for key, model in s.licmon.items()}
        | {key: model for kind in kinds for key, model in kind.licmon_sections.items()},
    )
    # The sites' entries, with every kind's sections in them.
    licmon = create_model("Licmon", __base__=licmon, sites=(list[site_entry] | None, None))
    return create_model(
        "Document",
        __base__=Section,
        Butler=(butler, Field(default_factory=butler)),
        licmon=(licmon, Field(default_factory=licmon)),
    )
