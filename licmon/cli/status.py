"""`licmon status`: every configured site as the workers last saw it, from Redis alone.

No QRS is touched: the fetch tasks keep each site's last check of each kind in Redis
(licmon/state/fleet.py); the kind (`--kind`, the server license by default) shows it with
the beat lease and the fetch queues.

A site's status is its last check's (`ok`, `warning`, `expired`, `unknown` for a check that
failed), `never` before its first check, and `stale` once its last successful check is
older than two periods of its schedule: the schedule fired twice since, and the second
check had one more period (at most a minute) to finish. Exit codes follow `licmon check`:
0 ok, 1 warning, 2 expired, 3 unknown, stale or never, or the state cannot be read (a bad
config, an unknown --site or --kind, Redis unreachable, the deadline -t passed); the most
severe wins in the order 2, 1, 3, 0. Its output is a monitoring plugin's, as `licmon
check`'s: the plugin line, then the table.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from licmon.cli.common import is_redis, load_or_report, read_state
from licmon.cli.deadline import Deadline, bounded_call
from licmon.cli.exit_codes import exit_help
from licmon.cli.kinds import (
    add_kind_options,
    add_plugin_options,
    chosen_kind,
    chosen_sites,
    limits_of,
    print_report,
    sites_checked,
)
from licmon.views import EXIT_UNKNOWN, Report, stale_at

if TYPE_CHECKING:
    from licmon.config import MonitorConfig

__all__ = ["register", "run", "stale_at"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="every site's last check, the beat leader and the fetch queues, from Redis",
        description="Reads what the workers wrote; touches no QRS. Exit 0 ok, 1 warning, "
        "2 expired, 3 unknown, stale or never checked, or the state cannot be read.",
        **exit_help("status"),
    )
    add_plugin_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_kind_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    deadline = Deadline(args.timeout)
    config = load_or_report(args)
    if config is None:
        print("licmon status: nothing read (exit 3: configuration error)", file=sys.stderr)
        return EXIT_UNKNOWN
    if not config.sites:
        print("licmon status: no site is enabled in the configuration", file=sys.stderr)
        return EXIT_UNKNOWN
    sites = chosen_sites(config, list(config.sites), args.site, "status")
    if not sites:
        return EXIT_UNKNOWN
    if not is_redis(config):
        scheme = config.broker.url.get_secret_value().split(":", 1)[0]
        print(f"licmon status: the broker is {scheme}://, not Redis: no state", file=sys.stderr)
        return EXIT_UNKNOWN
    kind = chosen_kind(args, config, "status")
    if kind is None:
        return EXIT_UNKNOWN
    # A site may be there for one kind's check alone.
    sites = sites_checked(kind, config, sites, args.site, "status")
    if not sites:
        return EXIT_UNKNOWN
    now = datetime.now(UTC)
    limits = limits_of(args)
    future = bounded_call(
        lambda: read_state(
            config,
            lambda client: with_master(
                kind.status_report(client, config, sites, now, limits), client, config
            ),
            "status",
            timeout=min(10, args.timeout),
        ),
        deadline,
    )
    if not future.done() or future.cancelled():
        from licmon.plugin_output import output

        shown = output(
            kind.plugin_word,
            EXIT_UNKNOWN,
            f"the state in Redis did not answer within {args.timeout:g} s",
        )
        print(shown, file=sys.stderr if args.json else sys.stdout)
        return EXIT_UNKNOWN
    report = future.result()
    if report is None:
        return EXIT_UNKNOWN
    return print_report(kind, report, args.json, f"{len(sites)} sites read")


def with_master(report: Report, client: Any, config: MonitorConfig) -> Report:
    """With Sentinel, the report names the master the sentinels name now (an operator
    checking a failover asks `licmon status` first): a `broker` entry in the JSON, a line
    after the table. Unchanged for a plain Redis."""
    from dataclasses import replace

    from licmon.redis_connect import master_address, where

    address = master_address(client)
    if address is None:
        return report
    host, port = address
    line = f"broker: {where(config.broker)} is {host}:{port}"
    document = report.document
    if isinstance(document, dict):
        document = document | {"broker": {"master": f"{host}:{port}", "via": where(config.broker)}}
    return replace(report, document=document, table=f"{report.table}\n{line}".lstrip("\n"))
