"""`licmon check`: every site a check kind checks, once, without Celery; usable from
Nagios or cron.

Exit codes follow the monitoring-plugin convention, each kind saying what its levels are:
0 ok, 1 warning, 2 expired (critical), 3 unknown (a check failed, or the configuration is
wrong). With several sites the most severe wins, in the order 2, 1, 3, 0: an expired
license matters more than a site we could not reach.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from licmon.cli.common import add_config_option, load_or_report, read_state
from licmon.cli.exit_codes import exit_help
from licmon.cli.kinds import add_kind_options, chosen_kind, sites_checked
from licmon.views import EXIT_CRITICAL, EXIT_OK, EXIT_UNKNOWN, EXIT_WARNING

if TYPE_CHECKING:
    from licmon.checks.base import CheckKind
    from licmon.config import MonitorConfig, Site

# Kept for callers of the first release's names.
EXIT_EXPIRED = EXIT_CRITICAL
__all__ = ["EXIT_EXPIRED", "EXIT_OK", "EXIT_UNKNOWN", "EXIT_WARNING", "register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check every enabled site once and print the result",
        description="Exit 0 ok, 1 warning, 2 expired, 3 check failed or bad config.",
        **exit_help("check"),
    )
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON array on stdout")
    add_kind_options(parser)
    parser.set_defaults(handler=run)


def check_all(kind: CheckKind, config: MonitorConfig, sites: list[Site]) -> list[Any]:
    """Every site in parallel, each through the kind's own data source."""
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import closing
    from datetime import UTC, datetime

    from licmon.checking import check_site
    from licmon.resources import Resources

    checked_at = datetime.now(UTC)
    # Connections live for this run only; Redis is not touched unless a kind asks.
    with (
        closing(Resources(config.broker.url.get_secret_value())) as connections,
        ThreadPoolExecutor(max_workers=min(16, len(sites))) as pool,
    ):
        return list(
            pool.map(lambda site: check_site(kind, site, connections, checked_at, config), sites)
        )


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args)
    if config is None:
        print("licmon check: no site was checked (exit 3: configuration error)", file=sys.stderr)
        return EXIT_UNKNOWN
    kind = chosen_kind(args, config, "check")
    if kind is None:
        return EXIT_UNKNOWN
    sites = sites_checked(kind, config, list(config.sites), None, "check")
    if not sites:
        return EXIT_UNKNOWN
    statuses = check_all(kind, config, sites)
    report = kind.check_report(
        config, statuses, lambda read: read_state(config, read, "check", timeout=5)
    )
    print(json.dumps(report.document, indent=2) if args.json else report.table)
    return report.exit_code
