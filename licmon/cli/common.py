"""Pieces the sub-commands share: the --config option, reporting a bad config, reading the
state the workers keep in Redis."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from licmon.views import aligned

if TYPE_CHECKING:
    import redis

    from licmon.config import MonitorConfig

T = TypeVar("T")
__all__ = [
    "add_config_option",
    "aligned",
    "is_redis",
    "load_or_report",
    "open_redis",
    "read_state",
    "redis_problem",
]


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="Butler or licmon YAML config (default: $LICMON_CONFIG)",
    )


def load_or_report(args: argparse.Namespace) -> MonitorConfig | None:
    """The config, read with the plug-ins `licmon.cli.main` was given (the registered ones
    unless a caller hands others in), or None after printing every problem to stderr."""
    from licmon.config import ConfigError
    from licmon.plugins import PLUGINS, load_config

    try:
        config = load_config(args.config, plugins=getattr(args, "plugins", None) or PLUGINS)
    except ConfigError as exc:
        print(f"configuration error: {exc.report()}", file=sys.stderr)
        return None
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config


def is_redis(config: MonitorConfig) -> bool:
    from licmon.redis_connect import is_redis as redis_url

    return redis_url(config.broker.url.get_secret_value())


def open_redis(config: MonitorConfig, timeout: float = 10) -> redis.Redis:
    """The broker's Redis as the CLI reads it (TLS, Sentinel: licmon.redis_connect)."""
    from licmon.redis_connect import client

    return client(config.broker, socket_timeout=timeout, socket_connect_timeout=timeout / 2)


def redis_problem(config: MonitorConfig, exc: BaseException) -> str:
    """A Redis error in words: the certificate file at fault when it is one, else
    redis-py's message (it names host and port, never the URL's password)."""
    from licmon.redis_connect import tls_problem

    return tls_problem(exc, config.broker) or str(exc)


def read_state(
    config: MonitorConfig,
    read: Callable[[redis.Redis], T],
    command: str,
    timeout: float = 10,
) -> T | None:
    """What `read` finds in the broker's Redis; None, said on stderr, when it cannot."""
    import redis

    if not is_redis(config):
        scheme = config.broker.url.get_secret_value().split(":", 1)[0]
        print(f"licmon {command}: the broker is {scheme}://, not Redis: no state", file=sys.stderr)
        return None
    client = open_redis(config, timeout)
    try:
        return read(client)
    except redis.RedisError as exc:
        print(f"licmon {command}: cannot read Redis: {redis_problem(config, exc)}",
              file=sys.stderr)  # fmt: skip
        return None
    finally:
        client.close()
