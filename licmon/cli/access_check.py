"""`licmon check --access`: every site's access licenses once, without Celery.

Exit codes, monitoring-plugin style: 0 ok, 1 a watched type is at or below its minimum
(`licmon.accessAlerts`), 3 a site could not be read or the configuration is wrong; the
most severe wins in the order 1, 3, 0. The forecast (`exhaustsInDays`) comes from the
history the workers keep in Redis (licmon/state/access_history.py); without Redis it is
null, with a note on stderr, and the check goes on.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from licmon.cli.common import aligned, load_or_report
from licmon.core.access_license import COUNTED_TYPES, AccessStatus, low_types
from licmon.core.access_payloads import licenses_document

if TYPE_CHECKING:
    from licmon.config import MonitorConfig, Site

EXIT_OK, EXIT_LOW, EXIT_UNKNOWN = 0, 1, 3
# What a type's "used" and "of" are in the table, for the types without seats.
_USED = {
    "analyzer_capacity": ("used_minutes", "allocated_minutes"),
    "token_login": ("used_tokens", "allocated_tokens"),
    "token_user": ("used_tokens", "allocated_tokens"),
}


def check_access(config: MonitorConfig, sites: list[Site]) -> list[AccessStatus]:
    from licmon.checking import check_site, endpoint_for
    from licmon.checks import ACCESS_LICENSE
    from licmon.qrs.client import QrsClient

    checked_at = datetime.now(UTC)

    def one(site: Site) -> AccessStatus:
        with QrsClient(endpoint_for(site)) as client:
            status: AccessStatus = check_site(ACCESS_LICENSE, site, client, checked_at, config)
            return status

    with ThreadPoolExecutor(max_workers=min(16, len(sites))) as pool:
        return list(pool.map(one, sites))


def read_forecasts(config: MonitorConfig, sites: list[Site]) -> dict[str, dict[str, Any]]:
    """Per site, `exhaustsInDays` per counted type; nulls when Redis cannot be read."""
    import redis

    from licmon.state.access_history import forecasts_of

    nothing = {site.name: dict.fromkeys(COUNTED_TYPES) for site in sites}
    url = config.broker.url.get_secret_value()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return nothing
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
    try:
        return forecasts_of(client, [site.name for site in sites])
    except redis.RedisError as exc:
        # The message names host and port, never the URL's password.
        print(f"licmon check: no forecast, Redis cannot be read: {exc}", file=sys.stderr)
        return nothing
    finally:
        client.close()


def entry(status: AccessStatus, config: MonitorConfig, days: dict[str, Any]) -> dict[str, Any]:
    """`site`, Butler's fields per enabled type, `low`, and the forecast of the counted ones."""
    from licmon.checks.access_license import minimums_of

    document = licenses_document(status)
    document["low"] = low_types(status, minimums_of(config))
    document["exhaustsInDays"] = {
        name: days.get(name) for name in COUNTED_TYPES if name in status.licenses
    }
    return document


def exit_code(entries: list[dict[str, Any]]) -> int:
    if any(each["low"] for each in entries):
        return EXIT_LOW
    if any("error" in each for each in entries):
        return EXIT_UNKNOWN
    return EXIT_OK


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def render_table(entries: list[dict[str, Any]]) -> str:
    header = ("SITE", "TYPE", "AVAILABLE", "TOTAL", "USED", "LOW", "EXHAUSTS IN DAYS")
    rows: list[tuple[str, ...]] = []
    for each in entries:
        site = each["site"]
        if "error" in each:
            rows.append((site, "-", "-", "-", "-", "-", f"unreadable: {each['error']}"))
            continue
        for name, values in each.items():
            if not isinstance(values, dict) or name == "exhaustsInDays":
                continue
            if name in _USED:
                used, of = _USED[name]
                rows.append((site, name, "-", _number(values[of]), _number(values[used]), "", ""))
                continue
            available = values.get("available", values.get("available_tokens"))
            total = values.get("total", values.get("total_tokens"))
            used = values.get("used")
            rows.append(
                (
                    site,
                    name,
                    _number(available),
                    _number(total),
                    _number(used),
                    "LOW" if name in each["low"] else "",
                    _number(each["exhaustsInDays"].get(name)),
                )
            )
    return "\n".join(aligned([header, *rows]))


def run_access(args: argparse.Namespace) -> int:
    from licmon.checks import ACCESS_LICENSE

    config = load_or_report(args)
    if config is None:
        print("licmon check: no site was checked (exit 3: configuration error)", file=sys.stderr)
        return EXIT_UNKNOWN
    sites = [site for site in config.sites if ACCESS_LICENSE.frequency(site) is not None]
    if not sites:
        print(
            "licmon check: no site's access licenses are checked (set "
            "Butler.qlikSenseLicense.licenseMonitor.enable: true)",
            file=sys.stderr,
        )
        return EXIT_UNKNOWN
    statuses = check_access(config, sites)
    days = read_forecasts(config, sites)
    entries = [entry(status, config, days[status.site]) for status in statuses]
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        print(render_table(entries))
    return exit_code(entries)
