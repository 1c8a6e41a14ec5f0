"""MQTT: Butler's status JSON and alert text, honouring sendRecurring and sendAlert.

Butler keys: `Butler.mqttConfig` (broker, topics) and the feature switch
`...destination.mqtt.{enable, sendRecurring, sendAlert}`; ours: `licmon.mqtt` (credentials,
TLS, QoS, retained status, per-site subtopics).
"""

from __future__ import annotations

import json
from typing import Any

from licmon.config.build import Build
from licmon.config.env import EnvOverlay
from licmon.config.fields import CleanText, FilePath, MqttTopic, Port, QoS, Secret, Switch, Text
from licmon.config.sections import EnableSwitch, Section
from licmon.destinations.base import Delivery, DestinationSchema, Part, deliver_each_once
from licmon.resources import Resources
from licmon.senders.settings import MqttSettings, MqttTls

STATUS, ALERT = "status", "alert"


class MqttConfig(Section):
    """`Butler.mqttConfig`."""

    enable: Switch = False
    brokerHost: Text | None = None
    brokerPort: Port = 1883
    qlikSenseServerLicenseTopic: MqttTopic = "qliksense/qliksense_server_license"
    qlikSenseServerLicenseExpireTopic: MqttTopic = "qliksense/qliksense_server_license_expire"


class MqttFeature(Section):
    """`...destination.mqtt` of a monitor."""

    enable: Switch = False
    sendRecurring: EnableSwitch = EnableSwitch()
    sendAlert: EnableSwitch = EnableSwitch()


class MqttTlsSection(Section):
    enable: Switch = False
    caFile: FilePath | None = None
    certFile: FilePath | None = None
    keyFile: FilePath | None = None
    insecure: Switch = False


class MqttExtras(Section):
    """`licmon.mqtt`."""

    username: CleanText | None = None
    password: Secret | None = None
    tls: MqttTlsSection = MqttTlsSection()
    qos: QoS = 1
    retainStatus: Switch = False
    siteSubtopic: Switch | None = None  # default: on when there is more than one site
    keepalive: Port = 60


class MqttDestination:
    name = "mqtt"
    schema = DestinationSchema(
        butler={"mqttConfig": MqttConfig},
        feature=("mqtt", MqttFeature),
        licmon={"mqtt": MqttExtras},
        timeout=("mqtt", 10.0),
    )

    def env_secrets(self, overlay: EnvOverlay) -> None:
        overlay.put("LICMON_MQTT_USERNAME", "licmon", "mqtt", "username")
        overlay.put("LICMON_MQTT_PASSWORD", "licmon", "mqtt", "password")

    def settings(self, document: Any, build: Build) -> MqttSettings | None:
        broker, extras = document.Butler.mqttConfig, document.licmon.mqtt
        feature = build.switched_on(
            "mqtt", "Butler.mqttConfig", broker.enable, "nothing is sent to MQTT"
        )
        if feature is None:
            return None
        if not broker.brokerHost:
            build.problem("Butler.mqttConfig.brokerHost", "required when MQTT is enabled")
            return None
        if not build.host("Butler.mqttConfig.brokerHost", broker.brokerHost):
            return None
        tls = None
        if extras.tls.enable:
            where = "licmon.mqtt.tls"
            cert_file, key_file = build.certificate_pair(
                f"{where}.certFile",
                extras.tls.certFile,
                f"{where}.keyFile",
                extras.tls.keyFile,
                "MQTT client",
            )
            tls = MqttTls(
                ca_file=build.ca_file(f"{where}.caFile", extras.tls.caFile, "CA"),
                cert_file=cert_file,
                key_file=key_file,
                insecure=extras.tls.insecure,
            )
        subtopic = extras.siteSubtopic
        return MqttSettings(
            host=broker.brokerHost,
            port=broker.brokerPort,
            # A check kind may have a status topic of its own (access licenses do).
            status_topic=getattr(feature, "statusTopic", None)
            or broker.qlikSenseServerLicenseTopic,
            alert_topic=broker.qlikSenseServerLicenseExpireTopic,
            send_recurring=feature.sendRecurring.enable,
            send_alert=feature.sendAlert.enable,
            username=extras.username,
            password=extras.password,
            tls=tls,
            qos=extras.qos,
            retain_status=extras.retainStatus,
            site_subtopic=build.site_count > 1 if subtopic is None else subtopic,
            keepalive=extras.keepalive,
            timeout=build.timeout("mqtt"),
        )

    records_failed_checks = False

    def status_targets(self, settings: MqttSettings) -> list[str]:
        return [STATUS] if settings.send_recurring else []

    def alert_targets(self, settings: MqttSettings) -> list[str]:
        return [ALERT] if settings.send_alert else []

    def parts(self, settings: MqttSettings, target: str, delivery: Delivery) -> list[Part]:
        if target == STATUS:
            return [Part("status document")]
        # Butler's plain text; one message per alert the check raised.
        return [Part(notice.event, notice) for notice in delivery.notices if notice.alert]

    def send_one(
        self,
        settings: MqttSettings,
        target: str,
        delivery: Delivery,
        part: Part,
        resources: Resources,
    ) -> str:
        from licmon.senders.mqtt import MqttPublisher

        publisher = resources.get(("mqtt", settings), lambda: MqttPublisher(settings))
        where = topic(settings, target, delivery.site.name)
        if part.notice is None:
            document = delivery.kind.status_document(delivery.status, delivery.check_id)
            payload = json.dumps(document, separators=(",", ":"))
            publisher.publish(where, payload, qos=settings.qos, retain=settings.retain_status)
        else:
            publisher.publish(where, part.notice.text, qos=settings.qos, retain=False)
        return f"{target} {part.identity!r} on {where}"

    def deliver(
        self, settings: MqttSettings, target: str, delivery: Delivery, resources: Resources
    ) -> str:
        return deliver_each_once(self, settings, target, delivery, resources)


def topic(settings: MqttSettings, target: str, site: str) -> str:
    base = settings.status_topic if target == STATUS else settings.alert_topic
    return f"{base}/{site}" if settings.site_subtopic else base
