"""The fast tier's guard: a test marked ``fast`` starts no process and opens no socket.

``make test-fast`` runs ``pytest -m fast --fast-guard``. With ``--fast-guard`` (or
``LICMON_FAST_GUARD=1``) every socket ``connect``/``connect_ex``/``bind``, every
``subprocess.Popen``, ``os.fork``/``forkpty``/``posix_spawn``/``system`` and every
``multiprocessing`` process start during a test's setup, call or teardown is refused and
fails that test, naming what it tried. The refusal is an ``OSError`` (so code under test
fails fast, as on a refused connection, instead of waiting out a timeout), and the test is
failed from its report even if the code swallowed the error (a Redis client turning it into
"service missing" and skipping would otherwise hide it).

``socket.socketpair()`` stays allowed: on Linux it is one system call that neither connects
nor binds (asyncio's self-pipe uses it), so it never reaches the patched methods.

Independently of the guard, a ``fast`` test that requests a fixture which starts or
reaches a service (``SERVICE_FIXTURES``, directly or through another fixture) is an error.
"""

from __future__ import annotations

import multiprocessing.process
import os
import socket
import subprocess
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

# Fixtures that start or reach Redis, Mosquitto, InfluxDB, Node.js or a redis-server of the
# test's own; anything built on them is caught too (item.fixturenames is the closure).
SERVICE_FIXTURES = frozenset(
    {
        "redis_url",
        "redis_client",
        "mqtt_broker",
        "influx_server",
        "influx",
        "node_tools",
        "own_redis",
        "fault_tools",
    }
)

_violations_key = pytest.StashKey[list[str]]()


class FastTierViolation(PermissionError):
    """Raised in place of a socket or process start the fast tier forbids."""


def guard_enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--fast-guard"))


class FastTierGuard:
    """A pytest plugin; registered by tests/conftest.py."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._item: pytest.Item | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, Any]:
        # Always on, guard or not: checked before any fixture is set up.
        if item.get_closest_marker("fast") is not None:
            used = sorted(SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())))
            if used:
                pytest.fail(
                    f"fast tier: {item.nodeid} is marked `fast` but uses service "
                    f"fixture(s) {', '.join(used)}; drop the module's `fast` mark",
                    pytrace=False,
                )
        with self._guarding(item):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        with self._guarding(item):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, Any, Any]:
        with self._guarding(item):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        violations = item.stash.get(_violations_key, [])
        if violations:
            # Whatever the test did with the refusal, the phase that tried it fails.
            report.outcome = "failed"
            report.longrepr = "fast tier: this test tried to\n  " + "\n  ".join(
                dict.fromkeys(violations)
            )
            item.stash[_violations_key] = []
        return report

    @contextmanager
    def _guarding(self, item: pytest.Item) -> Iterator[None]:
        if not guard_enabled(self.config):
            yield
            return
        self._item = item
        undo = _install(self._refuse)
        try:
            yield
        finally:
            undo()
            self._item = None

    def _refuse(self, what: str) -> FastTierViolation:
        item = self._item
        if item is not None:
            item.stash.setdefault(_violations_key, []).append(what)
        return FastTierViolation(f"fast tier forbids {what} (the test is not fast-tier)")


def _install(refuse: Callable[[str], FastTierViolation]) -> Callable[[], None]:
    """Patch the socket, subprocess and fork entry points; return the function undoing it."""
    saved: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, replacement: Any) -> None:
        if hasattr(owner, name):
            saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, replacement)

    def socket_method(name: str) -> Callable[..., Any]:
        def refused(sock: socket.socket, address: Any, *args: Any) -> Any:
            family = getattr(sock.family, "name", sock.family)
            raise refuse(f"socket.{name}({address!r}) on a {family} socket")

        return refused

    for name in ("connect", "connect_ex", "bind"):
        patch(socket.socket, name, socket_method(name))

    def popen(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
        raise refuse(f"start a process: subprocess.Popen({args!r})")

    patch(subprocess.Popen, "__init__", popen)

    def os_call(name: str) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            shown = ", ".join(repr(arg) for arg in args[:2])
            raise refuse(f"start a process: os.{name}({shown})")

        return refused

    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
        patch(os, name, os_call(name))

    def process_start(self: multiprocessing.process.BaseProcess) -> None:
        raise refuse(f"start a process: multiprocessing {self!r}.start()")

    patch(multiprocessing.process.BaseProcess, "start", process_start)

    def undo() -> None:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)

    return undo
