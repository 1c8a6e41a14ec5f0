"""Shared fixtures. Services are real; a missing one skips locally and fails under CI.

``--require-services`` (set by ``.ci/run`` through ``make test STRICT=1``, and implied by
``CI=true``) turns every "service missing" skip into a failure, so a CI run without Redis,
Mosquitto, InfluxDB or Node.js can never look green.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib

from tests import services
from tests.fast_tier import FastTierGuard, guard_enabled


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-services",
        action="store_true",
        default=os.environ.get("CI", "").lower() == "true"
        or os.environ.get("LICMON_REQUIRE_SERVICES") == "1",
        help="fail (instead of skip) a test whose service or tool is missing",
    )
    parser.addoption(
        "--fast-guard",
        action="store_true",
        default=os.environ.get("LICMON_FAST_GUARD") == "1",
        help="fail any test that opens a socket or starts a process (make test-fast)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # The `fast` tier's rules (tests/fast_tier.py); the runtime guard only with --fast-guard.
    config.pluginmanager.register(FastTierGuard(config), "licmon-fast-tier")


def service_missing(config: pytest.Config, what: str) -> None:
    """Skip, or fail under --require-services, because `what` cannot be reached."""
    message = f"{what} is not available"
    if config.getoption("--require-services"):
        pytest.fail(message + " (required: --require-services / CI=true)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url(pytestconfig: pytest.Config) -> str:
    client = redis_lib.Redis.from_url(services.REDIS_URL, socket_timeout=1)
    try:
        client.ping()
    except redis_lib.RedisError:
        service_missing(pytestconfig, f"Redis at {services.REDIS_URL}")
    return services.REDIS_URL


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def mqtt_broker(pytestconfig: pytest.Config) -> tuple[str, int]:
    if not services.port_open(services.MQTT_HOST, services.MQTT_PORT):
        service_missing(pytestconfig, f"Mosquitto at {services.MQTT_HOST}:{services.MQTT_PORT}")
    return services.MQTT_HOST, services.MQTT_PORT


@pytest.fixture(scope="session")
def influx_server(pytestconfig: pytest.Config) -> Iterator[services.InfluxServer]:
    if shutil.which("influxd") is None:
        service_missing(pytestconfig, "InfluxDB (influxd, Debian package 'influxdb')")
    yield from services.running_influx()


@pytest.fixture
def influx(influx_server: services.InfluxServer) -> services.InfluxServer:
    """The session's InfluxDB, running and empty of the databases earlier tests made."""
    if influx_server.process is None:
        influx_server.start()
    for row in influx_server.query("SHOW DATABASES")["results"][0]["series"][0].get("values", []):
        if row[0] != "_internal":
            influx_server.query(f'DROP DATABASE "{row[0]}"')
    return influx_server


@pytest.fixture(scope="session")
def node_tools(pytestconfig: pytest.Config) -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        service_missing(pytestconfig, "Node.js and npm (reference later.js)")
    assert node is not None and npm is not None
    return node, npm


# --- the fault suite's table, and parallel runs -------------------------------------------

_fault_rows: list[dict[str, Any]] = []


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With pytest-xdist (`-n`): every test outside tests/faults runs in one worker, in
    order, as without xdist (they share the test Redis and Mosquitto, and flush them); each
    fault test has services of its own and runs in another worker beside them. (xdist's
    `--dist loadgroup` cannot be used: its group marks no longer reach the node ids under
    pytest 9.)

    Under --fast-guard no test reaches a shared service: None leaves xdist's default load
    scheduling, spreading the tests over every worker."""
    if guard_enabled(config):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedServicesInOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if nodeid.startswith("tests/faults/") else "shared-services"

    return SharedServicesInOneWorker(config, log)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _fault_rows.extend(value for name, value in report.user_properties if name == "fault")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _fault_rows:
        return
    columns = ["scenario", "expected", "delivered", "duplicated", "lost"]
    extra = sorted({key for row in _fault_rows for key in row} - set(columns))
    terminalreporter.section("fault suite (tests/faults)")
    for row in sorted(_fault_rows, key=lambda row: str(row["scenario"])):
        figures = " ".join(f"{key}={row[key]}" for key in [*columns[1:], *extra] if key in row)
        terminalreporter.write_line(f"{row['scenario']}: {figures}")
