"""One MQTT publish the broker refuses cannot jam the connection for the others.

Before (issue 22, item 4): a topic with NUL was accepted at load; Mosquitto dropped the
connection at the publish, and paho re-sent the queued message on every reconnect: 100
reconnects a minute, and every later publish, to valid topics too, failed until the worker
restarted. Topics are checked at load now (test_wire_names) and again before sending; and a
message whose publish fails is taken out of paho's queue, whatever the reason, so the
declared retry (a dead letter in the end) decides, never paho's reconnect.

The machine's Mosquitto, a real publisher and a real subscriber.
"""

from __future__ import annotations

import time

import pytest

from licmon.senders.errors import PermanentDeliveryError, TransientDeliveryError
from licmon.senders.mqtt import MqttPublisher
from tests.mqtt_private_broker import Subscriber
from tests.test_sender_mqtt import base_topic, mqtt_settings


@pytest.fixture
def publisher(mqtt_broker: tuple[str, int]) -> MqttPublisher:
    host, port = mqtt_broker
    made = MqttPublisher(mqtt_settings(host=host, port=port, timeout=5))
    yield made  # type: ignore[misc]
    made.close()


@pytest.mark.parametrize("topic", ["t/a\x00b", "t/+", "t/#", "t/" + "é" * 40000, "t/\x1b[2J"])
def test_a_forbidden_topic_is_refused_before_sending(publisher: MqttPublisher, topic: str) -> None:
    publisher.publish(f"{base_topic()}/ok", "x", qos=1, retain=False)
    with pytest.raises(PermanentDeliveryError, match="refused before sending") as refused:
        publisher.publish(topic, "x", qos=1, retain=False)
    assert "\x00" not in str(refused.value) and "\x1b" not in str(refused.value)
    # Nothing reached the broker: the connection is the one it was.
    publisher.publish(f"{base_topic()}/ok", "x", qos=1, retain=False)
    assert publisher.connect_count == 1


def test_a_publish_the_broker_drops_the_connection_for_is_not_sent_again(
    publisher: MqttPublisher, mqtt_broker: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if a topic got past the check (a broker with stricter rules than MQTT's): the
    check is switched off, so Mosquitto sees the NUL and drops the connection."""
    import licmon.senders.mqtt

    host, port = mqtt_broker
    topic = base_topic()
    subscriber = Subscriber(host, port, f"{topic}/#")
    try:
        publisher.publish(f"{topic}/before", "1", qos=1, retain=False)
        monkeypatch.setattr(licmon.senders.mqtt, "mqtt_topic_problem", lambda topic: None)
        started = time.monotonic()
        with pytest.raises(TransientDeliveryError, match="dropped the connection"):
            publisher.publish(f"{topic}/a\x00b", "bad", qos=1, retain=False)
        assert time.monotonic() - started < 3  # at the drop, not at the 5 s deadline
        # The others still go through, on a new connection that stays up.
        for number in range(5):
            publisher.publish(f"{topic}/after", str(number), qos=1, retain=False)
        time.sleep(3)  # paho's reconnects (1 s back-off) would show here
        publisher.publish(f"{topic}/after", "5", qos=1, retain=False)
        received = [subscriber.next() for _ in range(7)]
    finally:
        subscriber.close()
    assert [m.payload for m in received] == ["1", "0", "1", "2", "3", "4", "5"]
    assert publisher.connect_count == 2, publisher.connect_count
    assert not publisher._client._out_messages  # nothing left for paho to re-send
