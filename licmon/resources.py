"""What one process keeps for its lifetime, in one object (`Process`, `current()`): its
config, its Redis client, HTTP sessions and the connections of destinations (MQTT,
InfluxDB), the HTTP deadline watchdog's thread, and the lock Apprise's log guard is set up
under.

This is the one place that knows about processes. One fork hook (`os.register_at_fork`)
gives a forked child a fresh `Process`: a Celery prefork parent never delivers, so it never
fills these, but a child forked from a process that did (a test, a script) must not share
its parent's sockets, must not wait on a watchdog thread that does not exist in it, nor on
a lock another thread of the parent held at the fork. What the child keeps is what holds no
connection, thread or lock: the config and whether the broker's persistence was checked.
`close()` (Celery's worker_process_shutdown) closes every connection together.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

if TYPE_CHECKING:
    # Imported when first used (`_state_store`): bounded HTTP calls (the CLI's QRS checks)
    # need a watchdog from here, not the Redis client.
    import redis

    from licmon.bounded_http import Watchdog
    from licmon.config.model import BrokerSettings
    from licmon.state.metrics import Batch

log = logging.getLogger(__name__)
T = TypeVar("T")


class Resources:
    """The connections one process keeps: kept while in use, closed together."""

    def __init__(self, broker: BrokerSettings | str) -> None:
        # The config's broker settings (URL, TLS, Sentinel); a bare URL in tests and bench.
        self._broker = broker
        self._redis: redis.Redis | None = None
        self._items: dict[Hashable, Any] = {}
        self._recent: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._counters: Batch | None = None
        self._views: dict[Hashable, Any] = {}

    @property
    def counters(self) -> Batch:
        """The exporter's counters, added up here and written every few seconds."""
        with self._lock:
            if self._counters is None:
                from licmon.state.metrics import Batch

                self._counters = Batch(lambda: self.redis)
            return self._counters

    @property
    def redis(self) -> redis.Redis:
        """The state store (claims, rate limits, dead letters): the broker's Redis."""
        if self._redis is None:
            with self._lock:
                if self._redis is None:
                    self._redis = _state_store(self._broker)
        return self._redis

    def get(self, key: Hashable, factory: Callable[[], T]) -> T:
        """The resource under `key`, made by `factory` the first time it is asked for."""
        with self._lock:
            if key not in self._items:
                self._items[key] = factory()
            return self._items[key]

    def view(self, key: Hashable, factory: Callable[[], T]) -> T:
        """A view over the Redis client (claims, fleet state, ...), made once: one with
        scripts registers them once, not on every task. Holds no connection of its own."""
        found = self._views.get(key)
        if found is None:
            made = factory()  # outside the lock: a factory asks for `redis`, which takes it
            with self._lock:
                found = self._views.setdefault(key, made)
        return found  # type: ignore[no-any-return]

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
            counters, self._counters = self._counters, None
        if counters is not None:
            counters.close()  # before the Redis client it writes with is closed
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


def _state_store(broker: BrokerSettings | str) -> redis.Redis:
    from licmon import redis_connect

    if isinstance(broker, str):
        from licmon.config.model import BrokerSettings, TimeLimits

        broker = BrokerSettings(
            url=SecretStr(broker),
            result_backend=SecretStr(broker),
            task_events=False,
            visibility_timeout=0,
            require_persistence=False,
            time_limits=TimeLimits(0, 0),
        )
    url = broker.url.get_secret_value()
    if redis_connect.is_redis(url):
        return redis_connect.client(broker, socket_timeout=10, health_check_interval=30)
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


class Process:
    """This process's lifetime state; `current()` is the one of the running process."""

    def __init__(self, *, config: Any | None = None, persistence_checked: bool = False) -> None:
        # Inherited by a forked child: loaded once by the parent (a prefork worker's children
        # run on the config it read), and asked of the broker once per deployment start.
        self.config = config  # worker.runtime's MonitorConfig
        self.persistence_checked = persistence_checked
        # New in every process: connections, a thread, locks.
        self._lock = threading.Lock()
        self._resources: Resources | None = None
        self._watchdog: Watchdog | None = None
        # Apprise's log guard adds its filter under this (licmon.senders.apprise._guard).
        self.apprise_setup = threading.Lock()

    def resources(self, broker: BrokerSettings | str) -> Resources:
        """The connections, made on first use (on the first `broker` asked for)."""
        with self._lock:
            if self._resources is None:
                self._resources = Resources(broker)
            return self._resources

    @property
    def watchdog(self) -> Watchdog:
        """The thread that expires bounded HTTP calls' deadlines (started on first call)."""
        with self._lock:
            if self._watchdog is None:
                from licmon.bounded_http import Watchdog

                self._watchdog = Watchdog()
            return self._watchdog

    def forked(self) -> Process:
        """What a forked child starts with: this one's config, nothing of its connections."""
        return Process(config=self.config, persistence_checked=self.persistence_checked)

    def close(self) -> None:
        """Close every connection; the next use opens new ones. The watchdog thread (a
        daemon, idle without calls) stays for calls still to come."""
        with self._lock:
            resources, self._resources = self._resources, None
        if resources is not None:
            resources.close()


_process = Process()


def current() -> Process:
    return _process


def _fresh_in_child() -> None:
    # The one fork hook: runs in the child, while it has a single thread.
    global _process
    _process = _process.forked()


os.register_at_fork(after_in_child=_fresh_in_child)


def process_resources(broker: BrokerSettings | str) -> Resources:
    """This process's resources (new in a process forked from one that had some)."""
    return current().resources(broker)


def close_process_resources() -> None:
    current().close()
