"""Fixtures of the end-to-end pipeline tests: certificates, receiver, MQTT log, broker, and
the stack made of them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from licmon.simulator import QlikCerts, ensure_qlik_certs
from tests.http_receiver import HttpReceiver, run_receiver
from tests.mqtt_private_broker import Subscriber
from tests.pipeline_support import BROKER_URL, RESULT_BACKEND, MessageLog, Stack
from tests.services import InfluxServer


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return ensure_qlik_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    yield from run_receiver()


@pytest.fixture(scope="module")
def topics(mqtt_broker: tuple[str, int]) -> Iterator[tuple[str, MessageLog]]:
    prefix = f"licmon-e2e-{uuid.uuid4().hex[:8]}"
    subscriber = Subscriber(*mqtt_broker, f"{prefix}/#")
    yield prefix, MessageLog(subscriber)
    subscriber.close()


@pytest.fixture(scope="module")
def broker(redis_url: str) -> redis.Redis:
    state = redis.Redis.from_url(BROKER_URL)
    state.flushdb()
    redis.Redis.from_url(RESULT_BACKEND).flushdb()
    return state


@pytest.fixture(scope="module")
def stack(
    certs: QlikCerts,
    receiver: HttpReceiver,
    topics: tuple[str, MessageLog],
    influx_server: InfluxServer,
    broker: redis.Redis,  # flushed before the first deployment of the module
) -> Stack:
    return Stack(certs, receiver, *topics, influx_server)
