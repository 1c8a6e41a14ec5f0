"""What a beat or worker process holds for its lifetime: the config and its Redis client.

Loaded lazily and once, so importing the app (for `celery inspect`, Flower) stays cheap, and
each forked worker child opens its own connections.
"""

from __future__ import annotations

import functools
import sys

import redis

from licmon.claims import Claims
from licmon.config import ConfigError, MonitorConfig, load_config
from licmon.deadletters import DeadLetters
from worker.settings import is_redis


@functools.cache
def config() -> MonitorConfig:
    try:
        return load_config()
    except ConfigError as exc:
        # A worker or beat with a broken config must stop with the reason, not a traceback.
        print(f"configuration error: {exc.report()}", file=sys.stderr)
        raise SystemExit(2) from None


def state_url() -> str:
    """Claims, rate limits and dead letters live beside the queues, in the broker's Redis."""
    return config().broker_url.get_secret_value()


@functools.cache
def redis_client() -> redis.Redis:
    url = state_url()
    if is_redis(url):
        return redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30)
    # An embedded broker (the demo without Redis): the state lives in this process, so the
    # worker must run a single process (--pool threads) for claims to hold.
    try:
        import fakeredis
    except ImportError:
        print(
            f"licmon needs Redis for its state; the broker {url.split(':')[0]}:// is not Redis "
            "(install the 'demo' extra for an in-process store)",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    return fakeredis.FakeRedis()


def claims() -> Claims:
    return Claims(redis_client(), prefix="licmon:claim")


def dead_letters() -> DeadLetters:
    return DeadLetters(redis_client())
