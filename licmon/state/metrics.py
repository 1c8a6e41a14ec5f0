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
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

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


def count_delivery(client: redis.Redis, destination: str, outcome: str) -> None:
    _increment(client, DELIVERIES_KEY, f"{destination}{_SEP}{outcome}")


def count_check_failure(client: redis.Redis, site: str, kind: str) -> None:
    _increment(client, CHECK_FAILURES_KEY, f"{site}{_SEP}{kind}")


def _increment(client: redis.Redis, key: str, field: str) -> None:
    try:
        client.hincrby(key, field, 1)
    except redis.RedisError as exc:
        log.debug("counter %s %s not incremented: %s", key, field, exc)


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
