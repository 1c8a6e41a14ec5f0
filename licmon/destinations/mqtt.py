"""MQTT: Butler's status JSON and alert text, honouring sendRecurring and sendAlert."""

from __future__ import annotations

import redis

from licmon.config.model import MonitorConfig, MqttSettings
from licmon.core.payloads import alert_text, mqtt_status_json
from licmon.core.status import LicenseStatus
from licmon.destinations.base import Delivery

STATUS, ALERT = "status", "alert"


def topic(settings: MqttSettings, target: str, site: str) -> str:
    base = settings.status_topic if target == STATUS else settings.alert_topic
    return f"{base}/{site}" if settings.site_subtopic else base


class MqttDestination:
    name = "mqtt"

    def targets(self, config: MonitorConfig, status: LicenseStatus) -> list[str]:
        settings = config.mqtt
        if settings is None:
            return []
        targets = [STATUS] if settings.send_recurring else []
        if settings.send_alert and status.needs_alert:
            targets.append(ALERT)
        return targets

    def deliver(
        self, config: MonitorConfig, target: str, delivery: Delivery, redis_client: redis.Redis
    ) -> str:
        from licmon.senders.mqtt import get_publisher  # see influxdb.py: beat stays lean

        settings = config.mqtt
        assert settings is not None, "targets() offers MQTT only when configured"
        if target == STATUS:
            payload = mqtt_status_json(delivery.status, delivery.check_id)
            retain = settings.retain_status
        else:
            payload, retain = alert_text(delivery.status), False
        where = topic(settings, target, delivery.site.name)
        get_publisher(settings).publish(where, payload, qos=settings.qos, retain=retain)
        return f"{target} on {where}"
