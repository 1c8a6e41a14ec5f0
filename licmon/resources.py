"""What one process keeps between checks: its Redis client, HTTP sessions and the
connections of destinations (MQTT, InfluxDB), created on first use and closed together.

This is the one place that knows about processes. A Celery prefork parent never delivers,
so it never fills these; a child that was forked from a process that did (a test, a
script) starts with an empty set instead of sharing its parent's sockets.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import redis

log = logging.getLogger(__name__)
T = TypeVar("T")


class Resources:
    def __init__(self, redis_url: str) -> None:
        self._redis_url = redis_url
        self._redis: redis.Redis | None = None
        self._items: dict[Hashable, Any] = {}
        self._recent: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[Any] = []

    @property
    def redis(self) -> redis.Redis:
        """The state store (claims, rate limits, dead letters): the broker's Redis."""
        if self._redis is None:
            with self._lock:
                if self._redis is None:
                    self._redis = _state_store(self._redis_url)
        return self._redis

    def get(self, key: Hashable, factory: Callable[[], T]) -> T:
        """The resource under `key`, made by `factory` the first time it is asked for."""
        with self._lock:
            if key not in self._items:
                self._items[key] = factory()
            return self._items[key]

    def recent(self, key: Hashable, factory: Callable[[], T], keep: int) -> T:
        """Like `get`, but only the `keep` most recently used are kept; the others are
        closed. For connections worth reusing when used often (a site checked every few
        minutes keeps its TLS connection) that must not pile up (500 sites checked daily
        would hold 500 idle sockets, and paho's select() fails past descriptor 1024)."""
        with self._lock:
            if key in self._recent:
                self._recent.move_to_end(key)
                return self._recent[key]
            made = self._recent[key] = factory()
            evicted = []
            while len(self._recent) > keep:
                evicted.append(self._recent.popitem(last=False)[1])
        for item in evicted:
            _close(item)
        return made

    def http_session(self) -> Any:
        """A requests session for this thread (a session is not thread-safe), kept alive."""
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
            # No proxy lookup in the environment on every call: the service talks to its
            # own network's receivers, and `trust_env` costs a scan of os.environ each time.
            session.trust_env = False
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            items, self._items = list(self._items.values()), {}
            recent, self._recent = list(self._recent.values()), OrderedDict()
            sessions, self._sessions = self._sessions, []
        for item in [*items, *recent, *sessions]:
            _close(item)
        if self._redis is not None:
            self._redis.close()


def _close(item: Any) -> None:
    try:
        item.close()
    except Exception:  # one broken connection must not keep the others open
        log.exception("error while closing %r", item)


def _state_store(url: str) -> redis.Redis:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30)
    # An embedded broker (the demo without Redis): the state lives in this process, so the
    # worker must run a single process (--pool threads) for claims to hold.
    try:
        import fakeredis
    except ImportError:
        raise RuntimeError(
            f"licmon needs Redis for its state; the broker {url.split(':')[0]}:// is not Redis "
            "(install the 'demo' extra for an in-process store)"
        ) from None
    return fakeredis.FakeRedis()


_current: tuple[int, Resources] | None = None
_current_lock = threading.Lock()


def process_resources(redis_url: str) -> Resources:
    """This process's resources (new in a process forked from one that had some)."""
    global _current
    with _current_lock:
        if _current is None or _current[0] != os.getpid():
            _current = (os.getpid(), Resources(redis_url))
        return _current[1]


def close_process_resources() -> None:
    global _current
    with _current_lock:
        current, _current = _current, None
    if current is not None and current[0] == os.getpid():
        current[1].close()
