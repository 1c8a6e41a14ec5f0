"""What each sender needs to know, as plain values: built by the destinations from the
config, read by the senders.

Kept apart from the senders so that whatever reads a config (beat, `licmon config
validate`) does not import requests, paho or influxdb-client (beat: about 7 MB less).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr


@dataclass(frozen=True)
class InfluxSettings:
    """Where and how points are written; `version` picks the protocol."""

    version: int
    url: str
    timeout: float
    # Global static tags merged with the feature's own; the feature's win on the same name.
    tags: tuple[tuple[str, str], ...] = ()
    # 1.x
    database: str = ""
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
    """One broker and how to publish to it (the defaults are the config schema's)."""

    host: str
    port: int
    status_topic: str
    alert_topic: str
    send_recurring: bool
    send_alert: bool
    username: str | None
    password: SecretStr | None
    tls: MqttTls | None
    qos: int
    retain_status: bool
    # Multi-site deployments need to tell sites apart on the topic itself.
    site_subtopic: bool
    keepalive: int
    timeout: float


@dataclass(frozen=True)
class WebhookTarget:
    """One outgoing webhook. `key` names it in task arguments; the URL never leaves config."""

    key: str  # e.g. "alert-1": the group and the 1-based position in Butler's list
    kind: str  # "status" or "alert"
    description: str
    url: SecretStr
    method: str  # GET, POST or PUT
    rate_limit_seconds: int
    ca_file: Path | None
    reject_unauthorized: bool
    timeout: float
