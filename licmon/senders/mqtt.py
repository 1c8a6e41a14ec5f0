"""MQTT publishing over one persistent connection per worker process.

paho's network thread (`loop_start`) keeps the connection and reconnects on its own; a
publish waits, up to `settings.timeout`, for the connection and then for the broker's
acknowledgement (QoS >= 1). The per-process cache is dropped in a forked child: Celery's
prefork pool forks workers, and a paho client (its socket, its thread) must not be shared
across a fork.
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

from licmon.config.model import MqttSettings, MqttTls
from licmon.senders.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = ["MqttPublisher", "close_publishers", "get_publisher"]

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
        self._pid = os.getpid()
        self._state = threading.Condition()
        self._connected = False
        self._closed = False
        # Why the last connection attempt failed; cleared by a successful CONNACK.
        self._failure: str | None = None
        self._failure_permanent = False
        self.connect_count = 0  # successful CONNACKs, to show the connection is reused

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
        """Publish once; for QoS >= 1, return only after the broker acknowledged it."""
        if os.getpid() != self._pid:
            raise RuntimeError("MqttPublisher used across a fork; call get_publisher() again")
        if self._closed:
            raise self._error(PermanentDeliveryError, "publisher is closed")
        timeout = self._settings.timeout
        deadline = time.monotonic() + timeout
        self._wait_connected(deadline)
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        except ValueError as exc:  # a topic with wildcards, a bad QoS
            raise self._error(PermanentDeliveryError, f"{exc} (topic {topic!r})") from None
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            # The connection dropped between the check and the publish. paho keeps a QoS>0
            # message queued and sends it after reconnecting, so a retry may duplicate it:
            # that is QoS 1's at-least-once, not a loss.
            raise self._error(TransientDeliveryError, "connection lost while publishing")
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise self._error(TransientDeliveryError, mqtt.error_string(info.rc))
        try:
            info.wait_for_publish(timeout=max(deadline - time.monotonic(), 0.01))
            published = info.is_published()
        except (RuntimeError, ValueError) as exc:
            raise self._error(TransientDeliveryError, str(exc)) from None
        if not published:
            what = "acknowledgement" if qos else "send"
            raise self._error(TransientDeliveryError, f"no {what} within {timeout:g} s")

    def close(self) -> None:
        """Disconnect cleanly and stop the network thread."""
        if self._closed:
            return
        self._closed = True
        if os.getpid() != self._pid:
            return  # the parent's connection: not ours to end
        self._client.disconnect()
        self._client.loop_stop()
        with self._state:
            self._connected = False
            self._state.notify_all()


_publishers: dict[MqttSettings, MqttPublisher] = {}
_publishers_lock = threading.Lock()
# Publishers inherited from the parent over a fork. Kept referenced so their sockets are never
# touched (closed, or DISCONNECTed) from the child; they are inert without their thread.
_inherited: list[MqttPublisher] = []


def get_publisher(settings: MqttSettings) -> MqttPublisher:
    """This process's publisher for `settings`, created (and connecting) on first use."""
    with _publishers_lock:
        publisher = _publishers.get(settings)
        if publisher is None or publisher.closed:
            publisher = MqttPublisher(settings)
            _publishers[settings] = publisher
        return publisher


def close_publishers() -> None:
    """Disconnect every publisher of this process (tests do; no worker hook calls it, and a
    worker's connections end with its process)."""
    with _publishers_lock:
        publishers = list(_publishers.values())
        _publishers.clear()
    for publisher in publishers:
        try:
            publisher.close()
        except Exception:  # a broken connection must not stop the others from closing
            log.exception("MQTT %s: error while closing", publisher.target)


def _reset_after_fork_in_child() -> None:
    global _publishers_lock
    # The lock may have been held by another parent thread at the moment of the fork.
    _publishers_lock = threading.Lock()
    _inherited.extend(_publishers.values())
    _publishers.clear()


os.register_at_fork(after_in_child=_reset_after_fork_in_child)
