"""Counters the Prometheus exporter reads: deliveries by outcome, check failures by kind.

Prefork workers cannot serve metrics themselves (each child would hold its own counts), so
every process increments shared counters in Redis and `licmon exporter` reads them. Two
hashes, each field a counter that only grows (HINCRBY), never expiring:

- `licmon:metrics:deliveries`, field `<destination>|<outcome>`, outcome one of `OUTCOMES`;
- `licmon:metrics:check_failures`, field `<site>|<error kind>` (the QRS error's kind, as
  `licmon status` shows it: `timeout`, `auth_rejected`, ...).

Counting is a convenience beside the work: `count_*` never raise, a Redis error is logged
at debug level and the count is lost (a counter that misses one increment is still a
counter: Prometheus' `increase()` reads it the same).

The tasks count through `Batch`: each process adds up its increments and writes them
together at most `FLUSH_SECONDS` after the first, one HINCRBY per counter that moved, in one
round trip, instead of one command per delivery. What that costs, stated plainly: the
exporter sees a delivery up to `FLUSH_SECONDS` late (Prometheus scrapes every 15 s or
more), and a process killed with `kill -9` loses the increments of its last
`FLUSH_SECONDS`; a clean stop writes them (`Batch.close`). A write Redis refuses is kept
and tried again with the next one.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import redis

from licmon.config.errors import has_controls
from licmon.state.untrusted import malformed

DELIVERIES_KEY = "licmon:metrics:deliveries"
CHECK_FAILURES_KEY = "licmon:metrics:check_failures"
DELIVERED, SKIPPED, RETRIED, DEAD_LETTERED = "delivered", "skipped", "retried", "dead_lettered"
OUTCOMES = (DELIVERED, SKIPPED, RETRIED, DEAD_LETTERED)
# Site names, destinations and outcomes hold no `|` (config validation), error kinds may not.
_SEP = "|"

log = logging.getLogger("licmon.metrics")
# How long an increment may wait in its process before it is written.
FLUSH_SECONDS = 2.0


def count_delivery(client: redis.Redis, destination: str, outcome: str) -> None:
    _increment(client, DELIVERIES_KEY, f"{destination}{_SEP}{outcome}")


def count_check_failure(client: redis.Redis, site: str, kind: str) -> None:
    _increment(client, CHECK_FAILURES_KEY, f"{site}{_SEP}{kind}")


def _increment(client: redis.Redis, key: str, field: str) -> None:
    try:
        client.hincrby(key, field, 1)
    except redis.RedisError as exc:
        log.debug("counter %s %s not incremented: %s", key, field, exc)


class Batch:
    """This process's counter increments, written together by a thread of its own.

    The thread starts with the first increment and sleeps while nothing is counted."""

    def __init__(
        self, client: Callable[[], redis.Redis], flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        self._client = client
        self._flush_seconds = flush_seconds
        self._pending: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._counted = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def delivery(self, destination: str, outcome: str) -> None:
        self._add(DELIVERIES_KEY, f"{destination}{_SEP}{outcome}")

    def check_failure(self, site: str, kind: str) -> None:
        self._add(CHECK_FAILURES_KEY, f"{site}{_SEP}{kind}")

    def _add(self, key: str, field: str) -> None:
        with self._lock:
            self._pending[(key, field)] += 1
            if self._thread is None and not self._closing.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="licmon-counters", daemon=True
                )
                self._thread.start()
        self._counted.set()

    def _run(self) -> None:
        while not self._closing.is_set():
            self._counted.wait()
            # Gather what comes in meanwhile; a close cuts the wait short.
            self._closing.wait(self._flush_seconds)
            self._counted.clear()
            self.flush()

    def flush(self) -> None:
        """Write what was counted (kept for the next write if Redis refuses it)."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
        if not pending:
            return
        try:
            with self._client().pipeline(transaction=False) as pipe:
                for (key, field), count in pending.items():
                    pipe.hincrby(key, field, count)
                pipe.execute()
        except redis.RedisError as exc:
            log.debug("%d counters not written yet: %s", len(pending), exc)
            with self._lock:
                self._pending.update(pending)

    def close(self) -> None:
        """Write what is left; later increments are written by the caller's next flush."""
        self._closing.set()
        self._counted.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self.flush()


def _pairs(key: str, raw: dict[bytes, bytes]) -> Iterator[tuple[str, str, int]]:
    """The counters that read as counters: anyone with access to Redis may have written
    the hash, and one field that is not a count must not hide the others (it is left out,
    and named once in the log)."""
    for field, value in raw.items():
        name = field.decode("utf-8", "replace")
        first, sep, second = name.partition(_SEP)
        text = value.decode("ascii", "replace")
        # HINCRBY's own range: at most 19 digits, never negative for a counter.
        if not sep or not text.isdigit() or len(text) > 19 or has_controls(name):
            malformed(f"{key} field {name}", ["counter"])
            continue
        yield first, second, int(text)


def deliveries(client: redis.Redis) -> dict[tuple[str, str], int]:
    """{(destination, outcome): count}"""
    return {(a, b): n for a, b, n in _pairs(DELIVERIES_KEY, client.hgetall(DELIVERIES_KEY))}


def check_failures(client: redis.Redis) -> dict[tuple[str, str], int]:
    """{(site, error kind): count}"""
    return {(a, b): n for a, b, n in _pairs(CHECK_FAILURES_KEY, client.hgetall(CHECK_FAILURES_KEY))}
