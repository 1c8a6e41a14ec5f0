"""Each notice of a delivery reaches its target once, retries included
(licmon.destinations.base.deliver_each_once), against the machine's Mosquitto and Redis."""

from __future__ import annotations

import dataclasses
import queue
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from licmon.checks.server_license import SERVER_LICENSE
from licmon.config.model import Site
from licmon.core.alerts import CheckOutcome
from licmon.core.notices import Notice
from licmon.destinations import Delivery
from licmon.lifetimes import DONE_SECONDS
from licmon.plugins import PLUGINS
from licmon.resources import Resources
from licmon.senders.errors import TransientDeliveryError
from licmon.senders.mqtt import MqttPublisher
from tests.mqtt_private_broker import Subscriber
from tests.test_sender_mqtt import base_topic, mqtt_settings

TICK = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


class FailsOnThird:
    """A real publisher whose third publish fails once, as a broker going away would."""

    def __init__(self, real: MqttPublisher) -> None:
        self.real = real
        self.calls = 0

    def publish(self, topic: str, payload: str, *, qos: int, retain: bool) -> None:
        self.calls += 1
        if self.calls == 3:
            raise TransientDeliveryError("mqtt", "alert", "the broker went away (test)")
        self.real.publish(topic, payload, qos=qos, retain=retain)

    def close(self) -> None:
        self.real.close()


def alert(number: int) -> Notice:
    text = f"alert {number}"
    return Notice(alert=True, event=f"alert {number}", text=text, title=text, body=text, params={})


def site() -> Site:
    return Site(
        name="prod",
        host="127.0.0.1",
        port=4242,
        client_cert=Path("client.pem"),
        client_key=Path("client_key.pem"),
        root_ca=None,
        use_ssl=True,
        verify_hostname=True,
        reject_unauthorized=True,
        headers=(),
        tags=(),
        checks=(("server_license", "every 24 hours"),),
        connect_timeout=5,
        read_timeout=30,
    )


@pytest.fixture
def resources(redis_url: str) -> Iterator[Resources]:
    # The shared test Redis, never flushed: this test's keys carry a check id of its own.
    made = Resources(redis_url)
    yield made
    made.close()


def received(subscriber: Subscriber, wait: float = 1.0) -> list[str]:
    payloads: list[Any] = []
    while True:
        try:
            payloads.append(subscriber.next(timeout=wait).payload)
        except queue.Empty:
            return payloads


def test_a_retried_mqtt_delivery_publishes_only_the_alerts_not_yet_sent(
    mqtt_broker: tuple[str, int], resources: Resources
) -> None:
    host, port = mqtt_broker
    alerts_topic = base_topic()
    settings = mqtt_settings(host=host, port=port, alert_topic=alerts_topic, timeout=5)
    mqtt = PLUGINS.destination("mqtt")
    check_id = f"prod@{uuid.uuid4().hex}"
    delivery = Delivery(
        site=site(),
        kind=SERVER_LICENSE,
        status=None,
        notices=[alert(1), alert(2), alert(3)],
        check_id=check_id,
        tick=TICK,
        outcome=CheckOutcome(ok=True, checked_at=TICK),
    )
    publisher = resources.get(("mqtt", settings), lambda: FailsOnThird(MqttPublisher(settings)))
    subscriber = Subscriber(host, port, alerts_topic)
    try:
        with pytest.raises(TransientDeliveryError, match="went away"):
            mqtt.deliver(settings, "alert", delivery, resources)
        assert received(subscriber) == ["alert 1", "alert 2"]
        # The retry (Celery's, the same task arguments, a second start): only the third.
        again = dataclasses.replace(delivery, first_start=False)
        done = mqtt.deliver(settings, "alert", again, resources)
        assert received(subscriber) == ["alert 3"]
        assert publisher.calls == 4  # 2 published, 1 failed, 1 published on the retry
        assert done.startswith("'alert 1' sent before; 'alert 2' sent before; alert 'alert 3'")
        # Remembered no longer than a finished delivery's claim (licmon.lifetimes); the last
        # part is not remembered on its own: the task marks the delivery's claim done.
        first = f"licmon:sent:{check_id}:{SERVER_LICENSE.name}:mqtt:alert:alert 1"
        assert 0 < resources.redis.ttl(first) <= DONE_SECONDS
        third = f"licmon:sent:{check_id}:{SERVER_LICENSE.name}:mqtt:alert:alert 3"
        assert not resources.redis.exists(third)
    finally:
        subscriber.close()
        for key in resources.redis.scan_iter(f"licmon:sent:{check_id}:*"):
            resources.redis.delete(key)
