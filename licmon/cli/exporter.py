"""`licmon exporter`: Prometheus metrics of the fleet on `/metrics`, read from Redis.

Prefork workers cannot serve metrics (each child counts alone), so the workers and beat
write their state and counters to Redis and this one small process reads them at every
scrape (licmon/exporter/collector.py). It never calls a QRS.

Exit codes: 0 stopped by SIGTERM, 2 a configuration or usage error (a bad config, a broker
that is not Redis, an address that cannot be served), 3 Redis unreachable when it starts,
130 interrupted (Ctrl-C). Once serving, a Redis outage does not stop it: scrapes then say
`licmon_redis_up 0` and nothing else about the fleet.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from licmon.cli.common import add_config_option, is_redis, load_or_report, open_redis, redis_problem
from licmon.cli.exit_codes import exit_help

EXIT_STOPPED, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 2, 3
DEFAULT_PORT = 9847

log = logging.getLogger("licmon.exporter")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "exporter",
        help="serve Prometheus metrics of every site, read from Redis (no QRS call)",
        description="Serves /metrics from the state the workers keep in Redis. Exit 0 stopped "
        "by SIGTERM, 2 configuration or usage error, 3 Redis unreachable at start.",
        **exit_help("exporter"),
    )
    add_config_option(parser)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default %(default)s")
    parser.add_argument("--host", default="127.0.0.1", help="default %(default)s")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import redis
    from prometheus_client import CollectorRegistry

    from licmon.exporter.collector import FleetCollector
    from licmon.exporter.serve import serve

    config = load_or_report(args)
    if config is None:
        return EXIT_CONFIG
    if not is_redis(config):
        url = config.broker.url.get_secret_value()
        print(f"licmon exporter: the broker is {url.split(':', 1)[0]}://, not Redis: no state",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    client = open_redis(config, timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        problem = redis_problem(config, exc)
        print(f"licmon exporter: cannot reach Redis: {problem}", file=sys.stderr)
        return EXIT_UNREACHABLE
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(client, config))
    try:
        server = serve(registry, args.host, args.port)
    except OSError as exc:
        print(f"licmon exporter: cannot serve on {args.host}:{args.port}: {exc.strerror}",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return: not from this (the same) thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    log.info("serving /metrics on http://%s:%d for %d site(s)",
             args.host, server.server_port, len(config.sites))  # fmt: skip
    try:
        server.serve_forever()
    finally:
        server.server_close()
        client.close()
    log.info("stopped")
    return EXIT_STOPPED
