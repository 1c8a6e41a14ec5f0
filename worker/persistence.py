"""Does the broker's Redis keep what it holds across a restart? Asked once when a worker or
beat starts.

Everything the service has in flight lives in that Redis: queued checks, retries waiting
for their countdown, claims, rate-limit windows and dead letters. A Redis that neither
appends to a file (AOF) nor snapshots (RDB) loses all of it when it restarts, silently. So
a worker or beat that finds such a Redis logs one warning saying so, or, with
`licmon.broker.requirePersistence: true`, refuses to start (exit status 3).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

import redis

from licmon.config.model import MonitorConfig
from licmon.redis_connect import is_redis, tls_problem
from licmon.redis_connect import where as redis_where
from licmon.resources import current

log = logging.getLogger("licmon.broker")
# A worker or beat that refuses to start because its broker would lose what it holds.
EXIT_NOT_PERSISTENT = 3
# A worker or beat whose broker's TLS handshake failed on a certificate: a configuration
# error, as a bad config file is (worker/runtime.py).
EXIT_BAD_CERTIFICATE = 2
# The oldest Redis the claims run on: a claim is one `SET key owner NX PX ms GET`, and NX
# with GET is Redis 7.0's (licmon/claims.py). An older one refuses it on every task.
OLDEST_REDIS = (7, 0)


@dataclass(frozen=True)
class Persistence:
    aof: bool
    # None: the server refused CONFIG GET (a managed Redis), so snapshots cannot be read.
    rdb: bool | None

    @property
    def persistent(self) -> bool:
        return self.aof or self.rdb is True


def read_persistence(client: redis.Redis) -> Persistence:
    info = client.info("persistence")
    aof = str(info.get("aof_enabled", 0)) == "1"
    try:
        save = client.config_get("save").get("save", "")
    except redis.ResponseError:
        return Persistence(aof=aof, rdb=None)
    return Persistence(aof=aof, rdb=bool(str(save).strip()))


def verdict(found: Persistence, place: str) -> str | None:
    """The warning for `found` (`place`: the broker as `redis_connect.where` names it), or
    None when the Redis is persistent."""
    if found.persistent:
        return None
    snapshots = (
        "whether it snapshots (RDB) cannot be read (CONFIG GET refused)"
        if found.rdb is None
        else "no RDB snapshots"
    )
    return (
        f"the broker's Redis ({place}) has no append-only file (AOF) and {snapshots}: "
        "queued checks, retries waiting for their countdown, claims, rate limits and dead "
        "letters will be lost when it restarts (start it with 'appendonly yes')"
    )


def check_broker_persistence(config: MonitorConfig, client: redis.Redis, role: str) -> None:
    """Warn once per process (a worker running beat as a thread is asked once), or refuse."""
    # Kept in the process's state (licmon.resources.Process), inherited by a forked child.
    process = current()
    if process.persistence_checked:
        return
    process.persistence_checked = True
    url = config.broker.url.get_secret_value()
    if not is_redis(url):
        return  # the demo's embedded broker: nothing survives it anyway, by design
    try:
        found = read_or_refuse(config, client, role)
    except redis.RedisError as exc:
        place = redis_where(config.broker)
        problem = f"cannot ask the broker's Redis ({place}) about its persistence: {exc}"
        if config.broker.require_persistence:
            refuse(role, problem)
        log.warning("%s; not checked", problem)
        return
    too_old = version_problem(_version(client), redis_where(config.broker))
    if too_old is not None:
        print(f"licmon {role}: cannot start: {too_old}", file=sys.stderr)
        raise SystemExit(EXIT_NOT_PERSISTENT)
    message = verdict(found, redis_where(config.broker))
    if message is None:
        log.info("broker persistence: %s", "AOF" if found.aof else "RDB snapshots")
    elif config.broker.require_persistence:
        refuse(role, message)
    else:
        log.warning("%s; licmon.broker.requirePersistence: true refuses to start instead", message)


def _version(client: redis.Redis) -> str:
    try:
        return str(client.info("server").get("redis_version", ""))
    except redis.RedisError:
        return ""  # not asked: the first claim says it, if it must


def version_problem(version: str, place: str) -> str | None:
    """Why a Redis of `version` cannot be the broker, or None (also when unknown)."""
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return None
    if len(found) < 2 or found >= OLDEST_REDIS:
        return None
    return (
        f"the broker's Redis ({place}) is version {version}; licmon needs Redis "
        f"{OLDEST_REDIS[0]}.{OLDEST_REDIS[1]} or later (a claim is one SET ... NX GET)"
    )


def read_or_refuse(config: MonitorConfig, client: redis.Redis, role: str) -> Persistence:
    """The broker's persistence; exit when the TLS handshake fails on a certificate. Such a
    failure is asked once more a second later: a Redis restarting in that instant (its
    connection closed mid-handshake) is not taken for one that refuses us."""
    try:
        return read_persistence(client)
    except redis.RedisError as exc:
        if tls_problem(exc, config.broker) is None:
            raise
    time.sleep(1)
    try:
        return read_persistence(client)
    except redis.RedisError as again:
        refuse_certificate(config, role, again)
        raise


def refuse_certificate(config: MonitorConfig, role: str, error: BaseException) -> None:
    """Exit (2, as a bad config does) when the broker's TLS handshake failed on a
    certificate: no retry can fix a wrong CA file or a refused client certificate, and a
    worker retrying forever looks alive while it checks nothing."""
    problem = tls_problem(error, config.broker)
    if problem is None:
        return
    print(f"licmon {role}: cannot start: {problem}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_CERTIFICATE)


def refuse(role: str, reason: str) -> None:
    print(
        f"licmon {role}: refusing to start (licmon.broker.requirePersistence is true): {reason}",
        file=sys.stderr,
    )
    raise SystemExit(EXIT_NOT_PERSISTENT)
