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
    return redis.Redis.from_url(state_url(), socket_timeout=10, health_check_interval=30)


def claims() -> Claims:
    return Claims(redis_client(), prefix="licmon:claim")


def dead_letters() -> DeadLetters:
    return DeadLetters(redis_client())
