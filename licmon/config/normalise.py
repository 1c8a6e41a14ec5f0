"""From the document as written to the `MonitorConfig` the service runs on.

This is where Butler's shape (one site, legacy keys, switches in two places) becomes ours,
where secrets from the environment take precedence over the file, and where the checks that
need more than one key at a time happen (files exist, enabled means configured).

Secret environment variables:
  LICMON_INFLUXDB_USERNAME, LICMON_INFLUXDB_PASSWORD   InfluxDB 1.x credentials
  LICMON_INFLUXDB_TOKEN                                InfluxDB 2.x/3.x token
  LICMON_MQTT_USERNAME, LICMON_MQTT_PASSWORD           MQTT broker credentials
  LICMON_STATUS_WEBHOOK_URL_<N>                        URL of the N-th (1-based) webhook of
                                                       qlikSenseServerLicenseMonitor
  LICMON_ALERT_WEBHOOK_URL_<N>                         same for qlikSenseServerLicenseExpiryAlert
  LICMON_BROKER_URL, LICMON_RESULT_BACKEND             Celery broker and result backend
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr, TypeAdapter, ValidationError

from licmon.config.errors import Problem
from licmon.config.fields import HttpUrl
from licmon.config.model import (
    DateOrder,
    InfluxSettings,
    MonitorConfig,
    MqttSettings,
    MqttTls,
    RetryPolicy,
    Site,
    WebhookTarget,
)
from licmon.config.schema import Document, NameValue, WebhookGroup

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_RESULT_BACKEND = "redis://127.0.0.1:6379/1"
DEFAULT_STATUS_TOPIC = "qliksense/qliksense_server_license"
DEFAULT_ALERT_TOPIC = "qliksense/qliksense_server_license_expire"

_MONITOR = "Butler.qlikSenseLicense.serverLicenseMonitor"
_URL = TypeAdapter(HttpUrl)


@dataclass
class _Collector:
    """Problems and warnings found while normalising, and the file paths checked so far."""

    base_dir: Path
    env: Mapping[str, str]
    webhook_timeout: float
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def readable_file(self, path: str, value: Path | None, what: str) -> Path | None:
        if value is None:
            return None
        resolved = value if value.is_absolute() else self.base_dir / value
        if not resolved.is_file():
            self.problem(path, f"{what} file {str(resolved)!r} does not exist")
        elif not os.access(resolved, os.R_OK):
            self.problem(path, f"{what} file {str(resolved)!r} is not readable")
        return resolved

    def secret(self, variable: str, from_file: SecretStr | None) -> SecretStr | None:
        value = self.env.get(variable)
        if value:
            return SecretStr(value)
        if from_file is not None and from_file.get_secret_value():
            return from_file
        return None


def _pairs(items: Iterable[NameValue]) -> tuple[tuple[str, str], ...]:
    return tuple((item.name, item.value) for item in items)


def _merge_tags(*layers: Iterable[NameValue]) -> tuple[tuple[str, str], ...]:
    """Later layers win on the same tag name, as Butler's feature tags win over global ones."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(_pairs(layer))
    return tuple(merged.items())


def _sites(document: Document, collect: _Collector) -> tuple[Site, ...]:
    butler, ours = document.Butler, document.licmon
    monitor = butler.qlikSenseLicense.serverLicenseMonitor
    timeouts = ours.timeouts
    if ours.sites is not None:
        sites = []
        for index, entry in enumerate(ours.sites):
            if not entry.enable:
                continue
            where = f"licmon.sites[{index}].cert"
            client_cert = collect.readable_file(
                f"{where}.clientCert", entry.cert.clientCert, "client certificate"
            )
            client_key = collect.readable_file(
                f"{where}.clientCertKey", entry.cert.clientCertKey, "client key"
            )
            sites.append(
                Site(
                    name=entry.name,
                    host=entry.host,
                    port=entry.port,
                    client_cert=client_cert or entry.cert.clientCert,
                    client_key=client_key or entry.cert.clientCertKey,
                    root_ca=collect.readable_file(
                        f"{where}.clientCertCA", entry.cert.clientCertCA, "root CA"
                    ),
                    use_ssl=entry.useSSL,
                    verify_hostname=entry.verifyHostname,
                    reject_unauthorized=entry.rejectUnauthorized,
                    headers=_pairs(entry.headers),
                    tags=_pairs(entry.tags),
                    threshold_days=(
                        monitor.alert.thresholdDays
                        if entry.thresholdDays is None
                        else entry.thresholdDays
                    ),
                    frequency=entry.frequency or monitor.frequency,
                    connect_timeout=timeouts.qrsConnect,
                    read_timeout=timeouts.qrsRead,
                )
            )
        names = [site.name for site in sites]
        for name in sorted({name for name in names if names.count(name) > 1}):
            collect.problem("licmon.sites", f"site name {name!r} is used more than once")
        return tuple(sites)

    if not monitor.enable:
        return ()
    qrs, cert = butler.configQRS, butler.cert
    if not qrs.host:
        collect.problem("Butler.configQRS.host", "required when the license monitor is enabled")
    for key in ("clientCert", "clientCertKey"):
        if getattr(cert, key) is None:
            collect.problem(f"Butler.cert.{key}", "required when the license monitor is enabled")
    client_cert = collect.readable_file(
        "Butler.cert.clientCert", cert.clientCert, "client certificate"
    )
    client_key = collect.readable_file(
        "Butler.cert.clientCertKey", cert.clientCertKey, "client key"
    )
    root_ca = collect.readable_file("Butler.cert.clientCertCA", cert.clientCertCA, "root CA")
    if not qrs.host or client_cert is None or client_key is None:
        return ()
    return (
        Site(
            name=qrs.host,
            host=qrs.host,
            port=qrs.port,
            client_cert=client_cert,
            client_key=client_key,
            root_ca=root_ca,
            use_ssl=qrs.useSSL,
            verify_hostname=ours.verifyHostname,
            reject_unauthorized=qrs.rejectUnauthorized,
            headers=_pairs(qrs.headers.static),
            threshold_days=monitor.alert.thresholdDays,
            frequency=monitor.frequency,
            connect_timeout=timeouts.qrsConnect,
            read_timeout=timeouts.qrsRead,
        ),
    )


def _influx(document: Document, collect: _Collector) -> InfluxSettings | None:
    destination = document.Butler.qlikSenseLicense.serverLicenseMonitor.destination.influxDb
    influx = document.Butler.influxDb
    if not destination.enable:
        return None
    if not influx.enable:
        collect.warnings.append(
            f"{_MONITOR}.destination.influxDb.enable is true but Butler.influxDb.enable is "
            "false: nothing is written to InfluxDB"
        )
        return None
    if not influx.hostIP:
        # Go on: the version's own settings may be missing too, and all is reported at once.
        collect.problem("Butler.influxDb.hostIP", "required when InfluxDB is enabled")
    common = {
        "version": influx.version,
        "url": f"http://{influx.hostIP}:{influx.hostPort}",
        "tags": _merge_tags(influx.tag.static, destination.tag.static),
        "timeout": document.licmon.timeouts.influxDb,
    }
    if influx.version == 1:
        v1 = influx.v1Config
        auth = v1.auth or influx.auth
        policy = v1.retentionPolicy or influx.retentionPolicy
        username = collect.env.get("LICMON_INFLUXDB_USERNAME") or (
            auth.username if auth.enable else None
        )
        password = collect.secret(
            "LICMON_INFLUXDB_PASSWORD", auth.password if auth.enable else None
        )
        return InfluxSettings(
            **common,
            database=v1.dbName or influx.dbName,
            retention_policy=policy.name or None,
            retention_duration=policy.duration or None,
            username=username or None,
            password=password,
        )
    section = f"v{influx.version}Config"
    if influx.version == 2:
        v2 = influx.v2Config
        token = collect.secret("LICMON_INFLUXDB_TOKEN", v2.token)
        _require_influx(collect, section, {"org": v2.org, "bucket": v2.bucket, "token": token})
        return InfluxSettings(**common, org=v2.org, bucket=v2.bucket, token=token)
    v3 = influx.v3Config
    token = collect.secret("LICMON_INFLUXDB_TOKEN", v3.token)
    _require_influx(collect, section, {"database": v3.database, "token": token})
    if v3.writeTimeout:
        common["timeout"] = v3.writeTimeout / 1000
    return InfluxSettings(**common, org="", bucket=v3.database, token=token)


def _require_influx(collect: _Collector, section: str, values: dict[str, object]) -> None:
    version = section[1]
    for key, value in values.items():
        if not value:
            hint = " (or set LICMON_INFLUXDB_TOKEN)" if key == "token" else ""
            collect.problem(
                f"Butler.influxDb.{section}.{key}", f"required for InfluxDB {version}.x{hint}"
            )


def _mqtt(document: Document, collect: _Collector, site_count: int) -> MqttSettings | None:
    destination = document.Butler.qlikSenseLicense.serverLicenseMonitor.destination.mqtt
    broker, extras = document.Butler.mqttConfig, document.licmon.mqtt
    if not destination.enable:
        return None
    if not broker.enable:
        collect.warnings.append(
            f"{_MONITOR}.destination.mqtt.enable is true but Butler.mqttConfig.enable is "
            "false: nothing is sent to MQTT"
        )
        return None
    if not broker.brokerHost:
        collect.problem("Butler.mqttConfig.brokerHost", "required when MQTT is enabled")
        return None
    tls = None
    if extras.tls.enable:
        where = "licmon.mqtt.tls"
        tls = MqttTls(
            ca_file=collect.readable_file(f"{where}.caFile", extras.tls.caFile, "CA"),
            cert_file=collect.readable_file(
                f"{where}.certFile", extras.tls.certFile, "certificate"
            ),
            key_file=collect.readable_file(f"{where}.keyFile", extras.tls.keyFile, "key"),
            insecure=extras.tls.insecure,
        )
    return MqttSettings(
        host=broker.brokerHost,
        port=broker.brokerPort,
        status_topic=broker.qlikSenseServerLicenseTopic or DEFAULT_STATUS_TOPIC,
        alert_topic=broker.qlikSenseServerLicenseExpireTopic or DEFAULT_ALERT_TOPIC,
        send_recurring=destination.sendRecurring.enable,
        send_alert=destination.sendAlert.enable,
        username=collect.env.get("LICMON_MQTT_USERNAME") or extras.username,
        password=collect.secret("LICMON_MQTT_PASSWORD", extras.password),
        tls=tls,
        qos=extras.qos,
        retain_status=extras.retainStatus,
        site_subtopic=site_count > 1 if extras.siteSubtopic is None else extras.siteSubtopic,
        timeout=document.licmon.timeouts.mqtt,
    )


def _webhook_group(
    group: WebhookGroup, kind: str, path: str, collect: _Collector
) -> list[WebhookTarget]:
    targets = []
    for index, hook in enumerate(group.webhooks):
        number = index + 1
        variable = f"LICMON_{kind.upper()}_WEBHOOK_URL_{number}"
        where = f"{path}.webhooks[{index}]"
        url = hook.webhookURL
        if collect.env.get(variable):
            try:
                url = _URL.validate_python(collect.env[variable])
            except ValidationError:
                collect.problem(variable, "expected an http:// or https:// URL with a host name")
                continue
        if not url:
            collect.problem(f"{where}.webhookURL", f"required (or set {variable})")
            continue
        ca_file = None
        if hook.cert.enable:
            ca_file = collect.readable_file(f"{where}.cert.certCA", hook.cert.certCA, "CA")
        targets.append(
            WebhookTarget(
                key=f"{kind}-{number}",
                kind=kind,
                description=hook.description,
                url=SecretStr(url),
                method=hook.httpMethod,
                rate_limit_seconds=group.rateLimit,
                ca_file=ca_file,
                reject_unauthorized=hook.cert.rejectUnauthorized if hook.cert.enable else True,
                timeout=collect.webhook_timeout,
            )
        )
    return targets


def _webhooks(document: Document, collect: _Collector) -> tuple[WebhookTarget, ...]:
    destination = document.Butler.qlikSenseLicense.serverLicenseMonitor.destination.webhook
    notification = document.Butler.webhookNotification
    if not destination.enable:
        return ()
    if not notification.enable:
        collect.warnings.append(
            f"{_MONITOR}.destination.webhook.enable is true but "
            "Butler.webhookNotification.enable is false: no webhook is called"
        )
        return ()
    targets: list[WebhookTarget] = []
    if destination.sendRecurring.enable:
        targets += _webhook_group(
            notification.qlikSenseServerLicenseMonitor,
            "status",
            "Butler.webhookNotification.qlikSenseServerLicenseMonitor",
            collect,
        )
    if destination.sendAlert.enable:
        targets += _webhook_group(
            notification.qlikSenseServerLicenseExpiryAlert,
            "alert",
            "Butler.webhookNotification.qlikSenseServerLicenseExpiryAlert",
            collect,
        )
    return tuple(targets)


def build_monitor_config(
    document: Document, base_dir: Path, env: Mapping[str, str], source: Path | None
) -> tuple[MonitorConfig, list[Problem]]:
    collect = _Collector(
        base_dir=base_dir, env=env, webhook_timeout=document.licmon.timeouts.webhook
    )
    sites = _sites(document, collect)
    broker = document.licmon.broker
    retries = document.licmon.retries
    config = MonitorConfig(
        sites=sites,
        influx=_influx(document, collect),
        mqtt=_mqtt(document, collect, len(sites)),
        webhooks=_webhooks(document, collect),
        date_order=DateOrder(document.licmon.dateOrder),
        retry=RetryPolicy(
            quick_attempts=retries.quickAttempts,
            quick_window_seconds=retries.quickWindowSeconds,
            retries=retries.retries,
            backoff_seconds=retries.backoffSeconds,
            backoff_max_seconds=retries.backoffMaxSeconds,
        ),
        broker_url=collect.secret("LICMON_BROKER_URL", broker.url) or SecretStr(DEFAULT_BROKER_URL),
        result_backend=collect.secret("LICMON_RESULT_BACKEND", broker.resultBackend)
        or SecretStr(DEFAULT_RESULT_BACKEND),
        source=source,
        warnings=tuple(collect.warnings),
    )
    return config, collect.problems
