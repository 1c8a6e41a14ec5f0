"""MQTT publishing over one persistent connection.

paho's network thread (`loop_start`) keeps the connection and reconnects on its own; a
publish waits, up to `settings.timeout`, for the connection and then for the broker's
acknowledgement (QoS >= 1). Who keeps a publisher, and for how long, is the caller's
business (`licmon.resources`: one per worker process).
"""

from __future__ import annotations

import logging
import os
import secrets
import ssl
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from licmon.core.text import mqtt_topic_problem, printable
from licmon.senders.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from licmon.senders.settings import MqttSettings, MqttTls

__all__ = ["MqttPublisher", "MqttSettings", "MqttTls"]

log = logging.getLogger(__name__)

DESTINATION = "mqtt"
# CONNACK refusals that only a configuration change can cure (MQTT 5 codes; paho maps the
# 3.1.1 return codes 1, 2, 4 and 5 onto them).
_PERMANENT_REFUSALS = frozenset(
    {
        0x84,  # unsupported protocol version
        0x85,  # client identifier not valid
        0x86,  # bad user name or password
        0x87,  # not authorized
        0x8A,  # banned
        0x8C,  # bad authentication method
    }
)
# Reconnect back-off: short enough that a restarted broker is found again within seconds.
_RECONNECT_MIN_DELAY = 1
_RECONNECT_MAX_DELAY = 8


def _client_id() -> str:
    # Unique per process and instance: two clients with one id would keep kicking each other.
    return f"licmon-{os.getpid()}-{secrets.token_hex(4)}"


def _tls_context(tls: MqttTls) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file is not None:
        context.load_cert_chain(
            str(tls.cert_file), str(tls.key_file) if tls.key_file is not None else None
        )
    if tls.insecure:
        # Only the host-name check goes; the chain is still verified against ca_file.
        context.check_hostname = False
    return context


def _describe_connect_failure(exc: BaseException | None) -> tuple[bool, str]:
    """(permanent, reason) for a TCP/TLS connection attempt that raised `exc`."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True, f"TLS certificate verification failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return False, f"TLS error: {exc.reason or exc.__class__.__name__}"
    if isinstance(exc, ConnectionRefusedError):
        return False, "connection refused"
    if isinstance(exc, TimeoutError):
        return False, "connection timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return False, exc.strerror.lower()
    if exc is not None:
        return False, f"connection failed ({exc.__class__.__name__})"
    return False, "connection failed"


class MqttPublisher:
    """One broker connection, kept open and reconnected by paho's network thread."""

    def __init__(self, settings: MqttSettings, *, client_id: str | None = None) -> None:
        self._settings = settings
        self.target = f"{settings.host}:{settings.port}"
        self._state = threading.Condition()
        self._connected = False
        self._closed = False
        # Why the last connection attempt failed; cleared by a successful CONNACK.
        self._failure: str | None = None
        self._failure_permanent = False
        self.connect_count = 0  # successful CONNACKs, to show the connection is reused
        self._disconnects = 0  # connections lost: a publish in flight then fails at once

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or _client_id(),
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if settings.username:
            password = settings.password.get_secret_value() if settings.password else None
            client.username_pw_set(settings.username, password)
        if settings.tls is not None:
            try:
                client.tls_set_context(_tls_context(settings.tls))
            except (OSError, ValueError) as exc:
                raise PermanentDeliveryError(
                    DESTINATION, self.target, f"TLS settings unusable: {exc}"
                ) from None
        client.reconnect_delay_set(_RECONNECT_MIN_DELAY, _RECONNECT_MAX_DELAY)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        self._client = client
        client.connect_async(settings.host, settings.port, keepalive=settings.keepalive)
        client.loop_start()

    # -- callbacks (paho's network thread) -------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        with self._state:
            if reason.is_failure:
                failure = f"broker refused the connection: {reason}"
                if failure != self._failure:  # not again on every reconnect attempt
                    log.warning("MQTT %s: %s", self.target, failure)
                self._connected = False
                self._failure = failure
                self._failure_permanent = reason.value in _PERMANENT_REFUSALS
            else:
                self._connected = True
                self._failure = None
                self.connect_count += 1
                log.info("MQTT %s: connected", self.target)
            self._state.notify_all()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this from inside its `except OSError` around the connection attempt
        # and passes no exception; the one being handled is the reason.
        permanent, reason = _describe_connect_failure(sys.exc_info()[1])
        with self._state:
            self._connected = False
            self._failure, self._failure_permanent = reason, permanent
            self._state.notify_all()
        log.debug("MQTT %s: %s", self.target, reason)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        with self._state:
            was_connected, self._connected = self._connected, False
            self._disconnects += 1
            self._state.notify_all()
        if was_connected and not self._closed:
            log.warning("MQTT %s: connection lost (%s); reconnecting", self.target, reason)

    # -- API ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def closed(self) -> bool:
        return self._closed

    def _error(self, error_type: type[DeliveryError], detail: str) -> DeliveryError:
        return error_type(DESTINATION, self.target, detail)  # type: ignore[call-arg]

    def _wait_connected(self, deadline: float) -> None:
        with self._state:
            while not self._connected:
                if self._failure is not None and self._failure_permanent:
                    raise self._error(PermanentDeliveryError, self._failure)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    why = f": {self._failure}" if self._failure else ""
                    raise self._error(
                        TransientDeliveryError,
                        f"not connected within {self._settings.timeout:g} s{why}",
                    )
                self._state.wait(remaining)

    def publish(self, topic: str, payload: str, *, qos: int, retain: bool) -> None:
        """Publish once; for QoS >= 1, return only after the broker acknowledged it.

        A message that fails here is taken back out of paho's queue: paho would send it
        again after every reconnect, and a message the broker refuses by dropping the
        connection (a topic it forbids) would then drop every later connection too,
        failing every other publish. The caller's declared retry sends it again instead
        (at least once, as before), and a refusal ends in a dead letter."""
        if self._closed:
            raise self._error(PermanentDeliveryError, "publisher is closed")
        if problem := mqtt_topic_problem(topic):
            # Mosquitto would drop the connection: never sent (validated at load too).
            raise self._error(
                PermanentDeliveryError,
                f"topic {printable(topic, 200)!r} refused before sending: {problem}",
            )
        timeout = self._settings.timeout
        deadline = time.monotonic() + timeout
        self._wait_connected(deadline)
        with self._state:
            lost_before = self._disconnects
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        except ValueError as exc:  # a bad QoS, a payload too large
            raise self._error(
                PermanentDeliveryError, f"{exc} (topic {printable(topic, 200)!r})"
            ) from None
        try:
            self._await(info, qos, deadline, lost_before)
        except DeliveryError:
            self._forget(info.mid)
            raise

    def _await(
        self, info: mqtt.MQTTMessageInfo, qos: int, deadline: float, lost_before: int
    ) -> None:
        timeout = self._settings.timeout
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            raise self._error(TransientDeliveryError, "connection lost while publishing")
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise self._error(TransientDeliveryError, mqtt.error_string(info.rc))
        # paho's own wait returns at the acknowledgement; in short slices, so that a lost
        # connection ends the wait at once instead of at the deadline.
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                info.wait_for_publish(timeout=min(remaining, 0.05))
            except (RuntimeError, ValueError) as exc:
                raise self._error(TransientDeliveryError, str(exc)) from None
            if info.is_published():
                return
            with self._state:
                lost = self._disconnects != lost_before
            if lost:
                # The broker dropped the connection with this message in flight: perhaps
                # for its content. Not re-sent by paho; the declared retry decides.
                raise self._error(
                    TransientDeliveryError, "the broker dropped the connection during the publish"
                )
        what = "acknowledgement" if qos else "send"
        raise self._error(TransientDeliveryError, f"no {what} within {timeout:g} s")

    def _forget(self, mid: int) -> None:
        """Take message `mid` out of paho's outgoing queue (paho has no public call for it;
        paho-mqtt is pinned in constraints.txt, and tests/test_sender_mqtt.py checks this
        against a real broker)."""
        client = self._client
        mutex = getattr(client, "_out_message_mutex", None)
        messages = getattr(client, "_out_messages", None)
        if mutex is None or messages is None:
            log.debug("MQTT %s: cannot withdraw message %d from paho's queue", self.target, mid)
            return
        with mutex:
            message = messages.pop(mid, None)
            in_flight = message is not None and message.qos > 0
            if in_flight and message.state != mqtt.mqtt_ms_queued:
                client._inflight_messages = max(client._inflight_messages - 1, 0)

    def close(self) -> None:
        """Disconnect cleanly and stop the network thread."""
        if self._closed:
            return
        self._closed = True
        self._client.disconnect()
        self._client.loop_stop()
        with self._state:
            self._connected = False
            self._state.notify_all()
