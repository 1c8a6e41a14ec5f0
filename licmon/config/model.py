"""The validated, normalised configuration every other module reads.

Built once by `licmon.config.loader` from a Butler file (one site) or our multi-site form.
Secrets are `SecretStr` so that a repr, a log line or a task argument never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr


class DateOrder(StrEnum):
    """How to read an ambiguous numeric date such as 03/04/2025."""

    MONTH_FIRST = "month-first"  # .NET en-US, Qlik's default server culture
    DAY_FIRST = "day-first"


@dataclass(frozen=True)
class Site:
    """One Qlik Sense site: where its QRS is and how it is judged."""

    name: str
    host: str
    port: int
    client_cert: Path
    client_key: Path
    root_ca: Path | None
    use_ssl: bool = True
    verify_hostname: bool = True
    reject_unauthorized: bool = True
    headers: tuple[tuple[str, str], ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    threshold_days: int = 60
    frequency: str = "every 24 hours"
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


@dataclass(frozen=True)
class InfluxSettings:
    """Where and how license points are written; `version` picks the protocol."""

    version: int
    url: str
    # Global static tags merged with the feature's own; the feature's win on the same name.
    tags: tuple[tuple[str, str], ...] = ()
    timeout: float = 10.0
    # 1.x
    database: str = "butler"
    retention_policy: str | None = None
    retention_duration: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    # 2.x (org + bucket) and 3.x (database as bucket)
    org: str | None = None
    bucket: str | None = None
    token: SecretStr | None = None


@dataclass(frozen=True)
class MqttTls:
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    # Skips the broker's host-name check only; the chain is still verified against ca_file.
    insecure: bool = False


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int = 1883
    status_topic: str = "qliksense/qliksense_server_license"
    alert_topic: str = "qliksense/qliksense_server_license_expire"
    send_recurring: bool = True
    send_alert: bool = True
    username: str | None = None
    password: SecretStr | None = None
    tls: MqttTls | None = None
    qos: int = 1
    retain_status: bool = False
    # Multi-site deployments need to tell sites apart on the topic itself.
    site_subtopic: bool = False
    keepalive: int = 60
    timeout: float = 10.0


@dataclass(frozen=True)
class WebhookTarget:
    """One outgoing webhook. `key` names it in task arguments; the URL never leaves config."""

    key: str  # e.g. "alert-1": the group and the 1-based position in Butler's list
    kind: str  # "status" or "alert"
    description: str
    url: SecretStr
    method: str  # GET, POST or PUT
    rate_limit_seconds: int = 300
    ca_file: Path | None = None
    reject_unauthorized: bool = True
    timeout: float = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a delivery (or a QRS fetch) tries before it is dead-lettered.

    First a few quick attempts inside the task (tenacity), for blips; then Celery retries
    with growing countdowns, which free the worker while a destination is down.
    """

    quick_attempts: int = 3
    quick_window_seconds: float = 15.0
    retries: int = 5
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 600.0


@dataclass(frozen=True)
class MonitorConfig:
    """Everything a check and its deliveries need. Destinations are None when switched off."""

    sites: tuple[Site, ...]
    influx: InfluxSettings | None = None
    mqtt: MqttSettings | None = None
    webhooks: tuple[WebhookTarget, ...] = ()
    date_order: DateOrder = DateOrder.MONTH_FIRST
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    broker_url: SecretStr = field(default_factory=lambda: SecretStr("redis://127.0.0.1:6379/0"))
    result_backend: SecretStr = field(default_factory=lambda: SecretStr("redis://127.0.0.1:6379/1"))
    source: Path | None = None
    # Settings that are valid but probably not what was meant (a destination switched on
    # whose connection is switched off): shown by `licmon config validate` and logged.
    warnings: tuple[str, ...] = ()

    def site(self, name: str) -> Site:
        for site in self.sites:
            if site.name == name:
                return site
        raise KeyError(f"no site named {name!r} in {self.source or 'the configuration'}")

    def webhook(self, key: str) -> WebhookTarget:
        for target in self.webhooks:
            if target.key == key:
                return target
        raise KeyError(f"no webhook {key!r} in {self.source or 'the configuration'}")
