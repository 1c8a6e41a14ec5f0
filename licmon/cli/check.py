"""`licmon check`: every enabled site once, without Celery; usable from Nagios or cron.

Exit codes follow the monitoring-plugin convention: 0 ok, 1 warning, 2 expired (critical),
3 unknown (a check failed, or the configuration is wrong). With several sites the most
severe wins, in the order 2, 1, 3, 0: an expired license matters more than a site we could
not reach.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from licmon.cli.common import add_config_option, aligned, load_or_report

if TYPE_CHECKING:
    from licmon.config import MonitorConfig, Site
    from licmon.core.server_license import LicenseStatus

EXIT_OK, EXIT_WARNING, EXIT_EXPIRED, EXIT_UNKNOWN = 0, 1, 2, 3
_EXIT_BY_STATUS = {"ok": EXIT_OK, "warning": EXIT_WARNING, "expired": EXIT_EXPIRED}
_SEVERITY = (EXIT_EXPIRED, EXIT_WARNING, EXIT_UNKNOWN, EXIT_OK)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check every enabled site once and print the result",
        description="Exit 0 ok, 1 warning, 2 expired, 3 check failed or bad config.",
    )
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON array on stdout")
    parser.add_argument(
        "--access",
        action="store_true",
        help="the access licenses instead (exit 0 ok, 1 a type low, 3 a site unreadable)",
    )
    parser.set_defaults(handler=run)


def exit_code(statuses: list[LicenseStatus]) -> int:
    return exit_code_of(status.status.value for status in statuses)


def exit_code_of(levels: Iterable[str]) -> int:
    """The most severe of `levels` (`ok`, `warning`, `expired`; anything else is 3)."""
    codes = {_EXIT_BY_STATUS.get(level, EXIT_UNKNOWN) for level in levels}
    return next((code for code in _SEVERITY if code in codes), EXIT_OK)


def check_all(config: MonitorConfig) -> list[LicenseStatus]:
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from licmon.checking import check_site, endpoint_for
    from licmon.checks.server_license import SERVER_LICENSE
    from licmon.qrs.client import QrsClient

    checked_at = datetime.now(UTC)

    def one(site: Site) -> LicenseStatus:
        with QrsClient(endpoint_for(site)) as client:
            return check_site(SERVER_LICENSE, site, client, checked_at, config)

    # The sites the server license checks (a site may be there for the access licenses only).
    sites = [site for site in config.sites if SERVER_LICENSE.frequency(site) is not None]
    if not sites:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(sites))) as pool:
        return list(pool.map(one, sites))


def render_table(statuses: list[LicenseStatus]) -> str:
    header = ("SITE", "STATUS", "DAYS LEFT", "EXPIRES", "SOURCE", "DETAIL")
    rows = [
        (
            status.site,
            status.status.value.upper(),
            "-" if status.daysUntilExpiry is None else str(status.daysUntilExpiry),
            status.expiryDate or ("never" if status.error is None else "-"),
            status.expirySource or "-",
            status.error or f"threshold {status.thresholdDays} days",
        )
        for status in statuses
    ]
    return "\n".join(aligned([header, *rows]))


def run(args: argparse.Namespace) -> int:
    if args.access:
        from licmon.cli.access_check import run_access

        return run_access(args)
    config = load_or_report(args)
    if config is None:
        print("licmon check: no site was checked (exit 3: configuration error)", file=sys.stderr)
        return EXIT_UNKNOWN
    from licmon.checks import SERVER_LICENSE

    if not any(SERVER_LICENSE.frequency(site) is not None for site in config.sites):
        print(
            "licmon check: no site is enabled (set "
            "Butler.qlikSenseLicense.serverLicenseMonitor.enable: true, or list licmon.sites)",
            file=sys.stderr,
        )
        return EXIT_UNKNOWN
    statuses = check_all(config)
    if args.json:
        print(json.dumps([status.to_json() for status in statuses], indent=2))
    else:
        print(render_table(statuses))
    return exit_code(statuses)
