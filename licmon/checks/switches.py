"""Destination switches for a kind Butler has no `destination:` section for: each follows
the server license's, with an MQTT section of the kind's own to override them.

- MQTT: `<own path>.{enable, sendRecurring, sendAlert, topic}`, each left out following the
  server license's MQTT switches; the status topic is the server license topic's sibling
  (`.../<leaf>`) unless set. On by default is safe for a Butler user: the status goes to a
  new topic nothing listens to yet.
- Webhooks: the server license's alert webhooks only (`sendAlert`), never the status ones:
  their receivers expect Butler's `server license status` parameters.
- InfluxDB: as the kind says (the server license's database, or a Butler section).
- Apprise: its own per-URL switches, as for every kind.
"""

from __future__ import annotations

from typing import Any

from licmon.config.fields import MqttTopic, Switch
from licmon.config.sections import EnableSwitch, Section

SERVER_DESTINATIONS = "Butler.qlikSenseLicense.serverLicenseMonitor.destination"


class OwnMqtt(Section):
    """A kind's own MQTT section: each switch left out follows the server license's."""

    enable: Switch | None = None
    sendRecurring: EnableSwitch | None = None
    sendAlert: EnableSwitch | None = None
    topic: MqttTopic | None = None


class KindMqtt(Section):
    """The MQTT switches in effect for a kind, and its status topic."""

    enable: bool
    sendRecurring: EnableSwitch
    sendAlert: EnableSwitch
    statusTopic: str


class KindWebhook(Section):
    enable: bool
    sendRecurring: EnableSwitch
    sendAlert: EnableSwitch


def sibling_topic(server_topic: str, leaf: str) -> str:
    parent, slash, _ = server_topic.rstrip("/").rpartition("/")
    return f"{parent}{slash}{leaf}"


def following_server(
    document: Any, key: str, own: OwnMqtt, own_path: str, topic_leaf: str
) -> tuple[str, Any] | None:
    """(key path, section) of destination `key`'s switches for a kind that follows the
    server license's MQTT and alert webhooks; None for InfluxDB and anything else (the
    caller says where a kind's InfluxDB switch is)."""
    server = document.Butler.qlikSenseLicense.serverLicenseMonitor.destination
    if key == "mqtt":
        inherited = server.mqtt
        topic = own.topic or sibling_topic(
            document.Butler.mqttConfig.qlikSenseServerLicenseTopic, topic_leaf
        )
        section = KindMqtt(
            enable=inherited.enable if own.enable is None else own.enable,
            sendRecurring=own.sendRecurring or inherited.sendRecurring,
            sendAlert=own.sendAlert or inherited.sendAlert,
            statusTopic=topic,
        )
        return (f"{SERVER_DESTINATIONS}.mqtt" if own.enable is None else own_path), section
    if key == "webhook":
        hooks = server.webhook
        section = KindWebhook(
            enable=hooks.enable,
            sendRecurring=EnableSwitch(enable=False),
            sendAlert=hooks.sendAlert,
        )
        return f"{SERVER_DESTINATIONS}.webhook", section
    return None
