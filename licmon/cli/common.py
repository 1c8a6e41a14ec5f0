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
__all__ = ["add_config_option", "aligned", "is_redis", "load_or_report", "read_state"]


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
    url = config.broker.url.get_secret_value()
    return url.startswith(("redis://", "rediss://", "unix://"))


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
    url = config.broker.url.get_secret_value()
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout / 2)
    try:
        return read(client)
    except redis.RedisError as exc:
        # The message names host and port, never the URL's password.
        print(f"licmon {command}: cannot read Redis: {exc}", file=sys.stderr)
        return None
    finally:
        client.close()
