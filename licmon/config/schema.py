"""The YAML document as written: Butler's keys, plus our `licmon` section.

Attribute names are Butler's own camelCase keys so that a validation error's location is
the exact key path the administrator sees in the file. Keys we do not use are ignored, so a
full Butler production config loads unchanged. A YAML key left empty (`webhooks:`) means
"use the default", as it does for Butler.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from licmon.config.fields import (
    Attempts,
    Backoff,
    FilePath,
    HttpMethod,
    HttpUrl,
    InfluxVersion,
    LaterText,
    NonNegative,
    Port,
    QoS,
    QuickWindow,
    RetryCount,
    Seconds,
    SiteName,
    Switch,
    Text,
)


class Section(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class NameValue(Section):
    name: Text
    value: Text


class StaticList(Section):
    static: list[NameValue] = []


class EnableSwitch(Section):
    enable: Switch = True


# --- Butler.qlikSenseLicense.serverLicenseMonitor ---------------------------------------


class InfluxDestination(Section):
    enable: Switch = False
    tag: StaticList = StaticList()


class SwitchedDestination(Section):
    enable: Switch = False
    sendRecurring: EnableSwitch = EnableSwitch()
    sendAlert: EnableSwitch = EnableSwitch()


class Destinations(Section):
    influxDb: InfluxDestination = InfluxDestination()
    mqtt: SwitchedDestination = SwitchedDestination()
    webhook: SwitchedDestination = SwitchedDestination()


class Alert(Section):
    thresholdDays: NonNegative = 60


class ServerLicenseMonitor(Section):
    enable: Switch = False
    frequency: LaterText = "every 24 hours"
    alert: Alert = Alert()
    destination: Destinations = Destinations()


class QlikSenseLicense(Section):
    serverLicenseMonitor: ServerLicenseMonitor = ServerLicenseMonitor()


# --- Butler.configQRS and Butler.cert -----------------------------------------------------


class ConfigQRS(Section):
    host: Text | None = None
    port: Port = 4242
    useSSL: Switch = True
    rejectUnauthorized: Switch = True
    headers: StaticList = StaticList()


class Certificates(Section):
    clientCert: FilePath | None = None
    clientCertKey: FilePath | None = None
    clientCertCA: FilePath | None = None


# --- Butler.influxDb -------------------------------------------------------------------------


class InfluxAuth(Section):
    enable: Switch = False
    username: Text = ""
    password: SecretStr = SecretStr("")


class RetentionPolicy(Section):
    name: Text = ""
    duration: Text = ""


class InfluxV1(Section):
    auth: InfluxAuth | None = None
    dbName: Text | None = None
    retentionPolicy: RetentionPolicy | None = None


class InfluxV2(Section):
    org: Text = ""
    bucket: Text = ""
    token: SecretStr = SecretStr("")


class InfluxV3(Section):
    database: Text = ""
    token: SecretStr = SecretStr("")
    writeTimeout: NonNegative | None = None  # milliseconds, as Butler


class InfluxDb(Section):
    enable: Switch = False
    hostIP: Text | None = None
    hostPort: Port = 8086
    version: InfluxVersion = 1
    v1Config: InfluxV1 = InfluxV1()
    v2Config: InfluxV2 = InfluxV2()
    v3Config: InfluxV3 = InfluxV3()
    # Butler's legacy flat 1.x keys, used when v1Config leaves them out.
    auth: InfluxAuth = InfluxAuth()
    dbName: Text = "butler"
    retentionPolicy: RetentionPolicy = RetentionPolicy()
    tag: StaticList = StaticList()


# --- Butler.mqttConfig -------------------------------------------------------------------------


class MqttConfig(Section):
    enable: Switch = False
    brokerHost: Text | None = None
    brokerPort: Port = 1883
    qlikSenseServerLicenseTopic: Text | None = None
    qlikSenseServerLicenseExpireTopic: Text | None = None


# --- Butler.webhookNotification ---------------------------------------------------------------


class WebhookCert(Section):
    enable: Switch = False
    rejectUnauthorized: Switch = True
    certCA: FilePath | None = None


class Webhook(Section):
    description: Text = ""
    # May be left out when LICMON_{STATUS,ALERT}_WEBHOOK_URL_<N> supplies it.
    webhookURL: HttpUrl | None = None
    httpMethod: HttpMethod = "POST"
    cert: WebhookCert = WebhookCert()


class WebhookGroup(Section):
    rateLimit: NonNegative = 300
    webhooks: list[Webhook] = []


class WebhookNotification(Section):
    enable: Switch = False
    qlikSenseServerLicenseMonitor: WebhookGroup = WebhookGroup()
    qlikSenseServerLicenseExpiryAlert: WebhookGroup = WebhookGroup()


class ButlerSection(Section):
    qlikSenseLicense: QlikSenseLicense = QlikSenseLicense()
    configQRS: ConfigQRS = ConfigQRS()
    cert: Certificates = Certificates()
    influxDb: InfluxDb = InfluxDb()
    mqttConfig: MqttConfig = MqttConfig()
    webhookNotification: WebhookNotification = WebhookNotification()


# --- licmon: our own section, beside Butler's so Butler can still read the same file ----------


class SiteCertificates(Section):
    clientCert: FilePath
    clientCertKey: FilePath
    clientCertCA: FilePath | None = None


class SiteEntry(Section):
    name: SiteName
    host: Text
    port: Port = 4242
    useSSL: Switch = True
    enable: Switch = True
    cert: SiteCertificates
    verifyHostname: Switch = True
    rejectUnauthorized: Switch = True
    headers: list[NameValue] = []
    tags: list[NameValue] = []
    thresholdDays: NonNegative | None = None
    frequency: LaterText | None = None


class MqttTlsSection(Section):
    enable: Switch = False
    caFile: FilePath | None = None
    certFile: FilePath | None = None
    keyFile: FilePath | None = None
    insecure: Switch = False


class MqttExtras(Section):
    username: Text | None = None
    password: SecretStr | None = None
    tls: MqttTlsSection = MqttTlsSection()
    qos: QoS = 1
    retainStatus: Switch = False
    siteSubtopic: Switch | None = None  # default: on when there is more than one site


class BrokerSection(Section):
    url: SecretStr | None = None
    resultBackend: SecretStr | None = None


class Timeouts(Section):
    qrsConnect: Seconds = 5.0
    qrsRead: Seconds = 30.0
    webhook: Seconds = 10.0
    influxDb: Seconds = 10.0
    mqtt: Seconds = 10.0


class Retries(Section):
    quickAttempts: Attempts = 3
    quickWindowSeconds: QuickWindow = 15.0
    retries: RetryCount = 5
    backoffSeconds: Backoff = 30.0
    backoffMaxSeconds: Backoff = 600.0


class LicmonSection(Section):
    sites: list[SiteEntry] | None = None
    # Qlik's server certificate often names the machine, not the name clients use.
    verifyHostname: Switch = True
    dateOrder: Literal["month-first", "day-first"] = "month-first"
    mqtt: MqttExtras = MqttExtras()
    broker: BrokerSection = BrokerSection()
    timeouts: Timeouts = Timeouts()
    retries: Retries = Retries()


class Document(Section):
    Butler: ButlerSection = Field(default_factory=ButlerSection)
    licmon: LicmonSection = Field(default_factory=LicmonSection)
