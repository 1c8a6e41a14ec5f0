"""MqttPublisher against the machine's Mosquitto and a private one (credentials, TLS, outage)."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from licmon.resources import close_process_resources, process_resources
from licmon.senders.errors import PermanentDeliveryError, TransientDeliveryError
from licmon.senders.mqtt import MqttPublisher, MqttSettings, MqttTls
from tests.conftest import service_missing
from tests.mqtt_private_broker import (
    PASSWORD,
    USERNAME,
    PrivateBroker,
    Subscriber,
    mosquitto_available,
    start_private_broker,
)
from tests.services import free_port

STATUS = json.dumps({"licenseExpired": False, "expiryDateStr": "2026-12-28", "daysUntilExpiry": 30})
ALERT = "Qlik Sense server license is about to expire in 30 days, on 2026-12-28"


def mqtt_settings(**options: Any) -> MqttSettings:
    """Settings with the config schema's defaults, as `licmon.destinations.mqtt` builds them."""
    defaults: dict[str, Any] = {
        "port": 1883,
        "status_topic": "qliksense/qliksense_server_license",
        "alert_topic": "qliksense/qliksense_server_license_expire",
        "send_recurring": True,
        "send_alert": True,
        "username": None,
        "password": None,
        "tls": None,
        "qos": 1,
        "retain_status": False,
        "site_subtopic": False,
        "keepalive": 60,
        "timeout": 10.0,
    }
    return MqttSettings(**(defaults | options))


def base_topic() -> str:
    return f"licmon-test/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def publishers() -> Iterator[list[MqttPublisher]]:
    """Publishers a test makes; all closed afterwards."""
    made: list[MqttPublisher] = []
    yield made
    for publisher in made:
        publisher.close()


def make(publishers: list[MqttPublisher], settings: MqttSettings) -> MqttPublisher:
    publisher = MqttPublisher(settings)
    publishers.append(publisher)
    return publisher


# --- the machine's Mosquitto (anonymous, plain) -------------------------------------------------


def test_status_and_alert_arrive_with_their_qos(
    mqtt_broker: tuple[str, int], publishers: list[MqttPublisher]
) -> None:
    host, port = mqtt_broker
    topic = base_topic()
    subscriber = Subscriber(host, port, f"{topic}/#")
    try:
        publisher = make(publishers, mqtt_settings(host=host, port=port, timeout=5))
        publisher.publish(f"{topic}/status", STATUS, qos=1, retain=False)
        publisher.publish(f"{topic}/alert", ALERT, qos=0, retain=False)
        publisher.publish(f"{topic}/q2", "two", qos=2, retain=False)
        got = sorted((subscriber.next(), subscriber.next(), subscriber.next()), key=str)
    finally:
        subscriber.close()
    by_topic = {m.topic: m for m in got}
    assert json.loads(by_topic[f"{topic}/status"].payload) == json.loads(STATUS)
    assert (by_topic[f"{topic}/status"].qos, by_topic[f"{topic}/status"].retain) == (1, False)
    assert by_topic[f"{topic}/alert"].payload == ALERT
    assert by_topic[f"{topic}/alert"].qos == 0
    assert by_topic[f"{topic}/q2"].qos == 2


def test_retained_status_reaches_a_later_subscriber(
    mqtt_broker: tuple[str, int], publishers: list[MqttPublisher]
) -> None:
    host, port = mqtt_broker
    topic = f"{base_topic()}/status"
    publisher = make(publishers, mqtt_settings(host=host, port=port, timeout=5))
    publisher.publish(topic, STATUS, qos=1, retain=True)
    subscriber = Subscriber(host, port, topic)
    try:
        message = subscriber.next()
    finally:
        subscriber.close()
        publisher.publish(topic, "", qos=1, retain=True)  # clear the retained message
    assert (message.payload, message.qos, message.retain) == (STATUS, 1, True)


def test_one_connection_for_many_publishes(
    mqtt_broker: tuple[str, int], publishers: list[MqttPublisher]
) -> None:
    host, port = mqtt_broker
    topic = base_topic()
    subscriber = Subscriber(host, port, f"{topic}/#")
    publisher = make(publishers, mqtt_settings(host=host, port=port, timeout=5))
    try:
        publisher.publish(f"{topic}/0", "0", qos=1, retain=False)
        local_address = publisher._client.socket().getsockname()  # type: ignore[union-attr]
        for n in range(1, 20):
            publisher.publish(f"{topic}/{n}", str(n), qos=1, retain=False)
        assert sorted(int(subscriber.next().payload) for _ in range(20)) == list(range(20))
    finally:
        subscriber.close()
    assert publisher.connect_count == 1
    assert publisher._client.socket().getsockname() == local_address  # type: ignore[union-attr]


def test_invalid_topic_is_permanent(
    mqtt_broker: tuple[str, int], publishers: list[MqttPublisher]
) -> None:
    host, port = mqtt_broker
    publisher = make(publishers, mqtt_settings(host=host, port=port, timeout=5))
    with pytest.raises(PermanentDeliveryError, match="licmon-test/#"):
        publisher.publish("licmon-test/#", "x", qos=1, retain=False)


def publisher_of(settings: MqttSettings) -> MqttPublisher:
    """This process's publisher for `settings`, as the MQTT destination keeps it."""
    resources = process_resources("redis://127.0.0.1:1/0")  # Redis is not used here
    return resources.get(("mqtt", settings), lambda: MqttPublisher(settings))


def test_process_resources_keep_one_publisher_per_settings(mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    settings = mqtt_settings(host=host, port=port, timeout=5)
    try:
        first = publisher_of(settings)
        assert publisher_of(mqtt_settings(host=host, port=port, timeout=5)) is first
        other = publisher_of(mqtt_settings(host=host, port=port, timeout=6))
        assert other is not first
        results: list[MqttPublisher] = []
        same = mqtt_settings(host=host, port=port, timeout=7)
        threads = [
            threading.Thread(target=lambda: results.append(publisher_of(same))) for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({id(p) for p in results}) == 1
        first.publish(f"{base_topic()}/x", "x", qos=1, retain=False)
    finally:
        close_process_resources()
    assert first.closed and other.closed and results[0].closed
    with pytest.raises(PermanentDeliveryError, match="closed"):
        first.publish("licmon-test/closed", "x", qos=1, retain=False)
    again = publisher_of(settings)
    try:
        assert again is not first
        again.publish(f"{base_topic()}/y", "y", qos=1, retain=False)
    finally:
        close_process_resources()


def test_forked_child_gets_its_own_connection(mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    topic = base_topic()
    settings = mqtt_settings(host=host, port=port, timeout=5)
    subscriber = Subscriber(host, port, f"{topic}/#")
    try:
        parent = publisher_of(settings)
        parent.publish(f"{topic}/parent", "before fork", qos=1, retain=False)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: report through the pipe, never return into pytest
            outcome = b"?"
            try:
                child = publisher_of(settings)
                child.publish(f"{topic}/child", "from child", qos=1, retain=False)
                outcome = b"ok" if child is not parent and child.connect_count == 1 else b"same"
                close_process_resources()
            except BaseException as exc:
                outcome = repr(exc).encode()[:500]
            finally:
                os.write(write_end, outcome)
                os._exit(0)
        os.close(write_end)
        _, status = os.waitpid(pid, 0)
        outcome = os.read(read_end, 1000)
        os.close(read_end)
        assert outcome == b"ok" and status == 0
        # The parent's connection was not disturbed by the child.
        parent.publish(f"{topic}/parent", "after fork", qos=1, retain=False)
        assert parent.connect_count == 1
        payloads = sorted(subscriber.next().payload for _ in range(3))
        assert payloads == ["after fork", "before fork", "from child"]
    finally:
        subscriber.close()
        close_process_resources()


# --- a private Mosquitto: credentials, TLS, outages ----------------------------------------------


@pytest.fixture(scope="module")
def broker(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateBroker]:
    if not mosquitto_available():
        service_missing(pytestconfig, "mosquitto and mosquitto_passwd (Debian package 'mosquitto')")
    private = start_private_broker(tmp_path_factory.mktemp("mosquitto"))
    yield private
    private.stop()


def authed(port: int, host: str = "127.0.0.1", **kwargs: object) -> MqttSettings:
    options: dict[str, object] = {
        "host": host,
        "port": port,
        "username": USERNAME,
        "password": SecretStr(PASSWORD),
        "timeout": 3.0,
    }
    options.update(kwargs)
    return mqtt_settings(**options)  # type: ignore[arg-type]


def roundtrip(broker: PrivateBroker, publisher: MqttPublisher) -> None:
    topic = f"{base_topic()}/status"
    subscriber = Subscriber(
        "127.0.0.1", broker.plain_port, topic, username=USERNAME, password=PASSWORD
    )
    try:
        publisher.publish(topic, STATUS, qos=1, retain=False)
        assert subscriber.next().payload == STATUS
    finally:
        subscriber.close()


def test_good_credentials_deliver(broker: PrivateBroker, publishers: list[MqttPublisher]) -> None:
    roundtrip(broker, make(publishers, authed(broker.plain_port)))


@pytest.mark.parametrize(
    ("username", "password"), [(USERNAME, "wrong-pa55"), ("nobody", "x"), (None, None)]
)
def test_refused_credentials_are_permanent(
    broker: PrivateBroker,
    publishers: list[MqttPublisher],
    username: str | None,
    password: str | None,
) -> None:
    settings = authed(
        broker.plain_port,
        username=username,
        password=SecretStr(password) if password else None,
        timeout=5.0,
    )
    publisher = make(publishers, settings)
    started = time.monotonic()
    with pytest.raises(PermanentDeliveryError) as info:
        publisher.publish("licmon-test/refused", STATUS, qos=1, retain=False)
    assert time.monotonic() - started < 4  # the CONNACK decides, not the timeout
    text = str(info.value)
    assert "broker refused the connection" in text
    assert "Not authorized" in text or "Bad user name or password" in text
    assert "wrong-pa55" not in text and PASSWORD not in text
    assert info.value.target == f"127.0.0.1:{broker.plain_port}"


def test_tls_with_the_right_ca_delivers(
    broker: PrivateBroker, publishers: list[MqttPublisher]
) -> None:
    settings = authed(broker.tls_port, host="localhost", tls=MqttTls(ca_file=broker.pki.ca_file))
    roundtrip(broker, make(publishers, settings))


def test_tls_with_a_wrong_ca_fails_clearly(
    broker: PrivateBroker, publishers: list[MqttPublisher]
) -> None:
    tls = MqttTls(ca_file=broker.pki.other_ca_file)
    publisher = make(publishers, authed(broker.tls_port, host="localhost", tls=tls))
    with pytest.raises(PermanentDeliveryError) as info:
        publisher.publish("licmon-test/tls", STATUS, qos=1, retain=False)
    assert "TLS certificate verification failed" in str(info.value)


def test_tls_host_name_check_and_the_insecure_switch(
    broker: PrivateBroker, publishers: list[MqttPublisher]
) -> None:
    # The broker's certificate names "localhost" only.
    strict = make(publishers, authed(broker.tls_port, tls=MqttTls(ca_file=broker.pki.ca_file)))
    with pytest.raises(PermanentDeliveryError, match="mismatch"):
        strict.publish("licmon-test/tls", STATUS, qos=1, retain=False)

    relaxed = MqttTls(ca_file=broker.pki.ca_file, insecure=True)
    roundtrip(broker, make(publishers, authed(broker.tls_port, tls=relaxed)))

    # `insecure` skips the host name only: an unknown CA is still refused.
    wrong_ca = MqttTls(ca_file=broker.pki.other_ca_file, insecure=True)
    publisher = make(publishers, authed(broker.tls_port, tls=wrong_ca))
    with pytest.raises(PermanentDeliveryError, match="certificate verification failed"):
        publisher.publish("licmon-test/tls", STATUS, qos=1, retain=False)


def test_unreadable_ca_file_is_permanent(tmp_path: Path) -> None:
    tls = MqttTls(ca_file=tmp_path / "missing.pem")
    with pytest.raises(PermanentDeliveryError, match="TLS settings unusable"):
        MqttPublisher(mqtt_settings(host="127.0.0.1", port=free_port(), tls=tls))


def test_broker_down_is_transient_and_the_publisher_recovers(
    broker: PrivateBroker, publishers: list[MqttPublisher]
) -> None:
    publisher = make(publishers, authed(broker.plain_port, timeout=1.0))
    roundtrip(broker, publisher)
    broker.stop()
    try:
        started = time.monotonic()
        with pytest.raises(TransientDeliveryError) as info:
            publisher.publish("licmon-test/down", STATUS, qos=1, retain=False)
        assert time.monotonic() - started < 1.5
        assert "not connected within 1 s" in str(info.value)
    finally:
        broker.start()
    deadline = time.monotonic() + 20
    while True:
        try:
            roundtrip(broker, publisher)
            break
        except TransientDeliveryError:
            if time.monotonic() > deadline:
                raise
    assert publisher.connect_count == 2


def test_unreachable_broker_from_the_start_is_transient(
    publishers: list[MqttPublisher],
) -> None:
    publisher = make(publishers, mqtt_settings(host="127.0.0.1", port=free_port(), timeout=1.0))
    started = time.monotonic()
    with pytest.raises(TransientDeliveryError, match="connection refused"):
        publisher.publish("licmon-test/none", STATUS, qos=1, retain=False)
    assert time.monotonic() - started < 1.5
