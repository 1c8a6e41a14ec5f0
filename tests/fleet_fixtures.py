"""Fixtures of the fleet's end-to-end tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import service_missing
from tests.fleet_support import RedisServer


@pytest.fixture(scope="module")
def own_redis(pytestconfig: pytest.Config) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        service_missing(pytestconfig, "redis-server (a Redis of the test's own)")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
