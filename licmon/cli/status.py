"""`licmon status`: every configured site as the workers last saw it, from Redis alone.

No QRS is touched: the fetch tasks keep each site's last check in Redis
(licmon/state/fleet.py), and this reads it with the beat lease and the fetch queues.

A site's status is its last check's (`ok`, `warning`, `expired`, `unknown` for a check that
failed), `never` before its first check, and `stale` once its last successful check is
older than two periods of its schedule: the schedule fired twice since, and the second
check had one more period (at most a minute) to finish. Exit codes follow `licmon check`:
0 ok, 1 warning, 2 expired, 3 unknown, stale or never, or the state cannot be read (a bad
config, an unknown --site, Redis unreachable); the most severe wins in the order 2, 1, 3, 0.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from licmon.cli.check import EXIT_UNKNOWN, exit_code_of
from licmon.cli.common import add_config_option, aligned, load_or_report

if TYPE_CHECKING:
    import redis

    from licmon.config import MonitorConfig, Site
    from licmon.laterjs import LaterSchedule
    from licmon.state.fleet import SiteState

T = TypeVar("T")
# The second check after the last success gets this long (or one period, if shorter) to
# finish before the site counts as stale: a QRS call and its quick retries fit in it.
STALE_GRACE = timedelta(minutes=1)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="every site's last check, the beat leader and the fetch queues, from Redis",
        description="Reads what the workers wrote; touches no QRS. Exit 0 ok, 1 warning, "
        "2 expired, 3 unknown, stale or never checked, or the state cannot be read.",
    )
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--site", metavar="S", help="this site only")
    parser.add_argument(
        "--access",
        action="store_true",
        help="the access licenses instead: exit 1 a type is low, 3 a site never read, "
        "stale or failing, 0 otherwise",
    )
    parser.set_defaults(handler=run)


@functools.cache
def _schedule(frequency: str) -> LaterSchedule:
    from licmon.laterjs import parse_text

    return parse_text(frequency)


def stale_at(frequency: str, last_success: datetime) -> datetime | None:
    """When a site last checked successfully at `last_success` becomes stale (None: its
    schedule does not fire twice more, so it never does)."""
    from licmon.laterjs import next_fire_time

    schedule = _schedule(frequency)
    first = next_fire_time(schedule, last_success)
    second = None if first is None else next_fire_time(schedule, first)
    if first is None or second is None:
        return None
    return second + min(second - first, STALE_GRACE)


def iso_text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def is_stale(site: Site, state: SiteState, now: datetime) -> bool:
    if state.last_success is None:
        return False  # never succeeded: its failures say `unknown`
    stale = stale_at(site.frequency, state.last_success)
    return stale is not None and now > stale


def site_view(site: Site, state: SiteState | None, waiting: bool, now: datetime) -> dict[str, Any]:
    status = (state.status or {}) if state else {}
    if state is None or state.last_checked is None:
        level = "never"
    elif is_stale(site, state, now):
        level = "stale"
    else:
        level = str(status.get("status") or "unknown")
    error = None
    if state is not None and state.error_kind is not None:
        error = {"kind": state.error_kind, "reason": state.error_reason}
    return {
        "site": site.name,
        "zone": site.zone,
        "status": level,
        "daysUntilExpiry": status.get("daysUntilExpiry"),
        "expiryDate": status.get("expiryDate"),
        "lastChecked": iso_text(state.last_checked if state else None),
        "lastSuccess": iso_text(state.last_success if state else None),
        "consecutiveFailures": state.consecutive_failures if state else 0,
        "lastError": error,
        "waiting": waiting,
    }


def fleet_view(
    client: redis.Redis, config: MonitorConfig, sites: list[Site], now: datetime
) -> dict[str, Any]:
    from licmon.checks import DEFAULT_KIND
    from licmon.state.fleet import FleetState
    from licmon.state.lease import Lease
    from licmon.state.queues import fetch_queue, lengths, queued_sites

    names = sorted({fetch_queue(None)} | {fetch_queue(site.zone) for site in config.sites})
    waiting = {name: queued_sites(client, name) for name in names}
    states = FleetState(client).read(DEFAULT_KIND, [site.name for site in sites])
    holder = Lease(client, config.beat.lease_seconds).holder()
    return {
        "sites": [
            site_view(site, states[site.name], site.name in waiting[fetch_queue(site.zone)], now)
            for site in sites
        ],
        "beat": {
            "leader": None if holder is None else {"host": holder.host, "pid": holder.pid},
            "leaseAgeSeconds": None if holder is None else holder.age_seconds,
        },
        "queues": lengths(client, names),
    }


def age_text(moment: str | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = max(
        0, int((now - datetime.fromisoformat(moment.replace("Z", "+00:00"))).total_seconds())
    )
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def render_table(view: dict[str, Any], now: datetime) -> str:
    header = (
        "SITE", "ZONE", "STATUS", "DAYS LEFT", "EXPIRES", "CHECKED", "FAILS", "WAITING", "ERROR",
    )  # fmt: skip
    rows = [
        (
            site["site"],
            site["zone"] or "-",
            site["status"].upper(),
            "-" if site["daysUntilExpiry"] is None else str(site["daysUntilExpiry"]),
            site["expiryDate"] or "-",
            age_text(site["lastChecked"], now),
            str(site["consecutiveFailures"]),
            "yes" if site["waiting"] else "no",
            "-"
            if site["lastError"] is None
            else f"{site['lastError']['kind']}: {site['lastError']['reason']}",
        )
        for site in view["sites"]
    ]
    lines = aligned([header, *rows])
    leader, age = view["beat"]["leader"], view["beat"]["leaseAgeSeconds"]
    if leader is None:
        lines.append("\nbeat: no leader (no beat holds the lease)")
    else:
        lines.append(
            f"\nbeat: leader {leader['host']} pid {leader['pid']}, lease renewed {age:.1f}s ago"
        )
    lines += [f"queue {name}: {length}" for name, length in view["queues"].items()]
    return "\n".join(lines)


def read_state(config: MonitorConfig, read: Callable[[redis.Redis], T]) -> T | None:
    """What `read` finds in the broker's Redis; None, said on stderr, when it cannot."""
    import redis

    url = config.broker.url.get_secret_value()
    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    try:
        return read(client)
    except redis.RedisError as exc:
        # The message names host and port, never the URL's password.
        print(f"licmon status: cannot read Redis: {exc}", file=sys.stderr)
        return None
    finally:
        client.close()


# What to say when a kind checks none of the sites asked about: the switches that decide it.
_NOT_CHECKED = {
    "server_license": "server license not checked (serverLicenseMonitor.enable, "
    "licmon.sites[].serverLicense.enable); --access shows the access licenses",
    "access_license": "access licenses not checked "
    "(Butler.qlikSenseLicense.licenseMonitor.enable, licmon.sites[].accessLicense.enable)",
}


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args)
    if config is None:
        print("licmon status: nothing read (exit 3: configuration error)", file=sys.stderr)
        return EXIT_UNKNOWN
    if not config.sites:
        print("licmon status: no site is enabled in the configuration", file=sys.stderr)
        return EXIT_UNKNOWN
    sites = list(config.sites)
    if args.site is not None:
        sites = [site for site in sites if site.name == args.site]
        if not sites:
            print(
                f"licmon status: no site named {args.site!r} in {config.source} "
                f"(sites: {', '.join(site.name for site in config.sites)})",
                file=sys.stderr,
            )
            return EXIT_UNKNOWN
    url = config.broker.url.get_secret_value()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        scheme = url.split(":", 1)[0]
        print(f"licmon status: the broker is {scheme}://, not Redis: no state", file=sys.stderr)
        return EXIT_UNKNOWN
    from licmon.checks import ACCESS_LICENSE, SERVER_LICENSE

    kind = ACCESS_LICENSE if args.access else SERVER_LICENSE
    # A site may be there for one kind's check alone.
    sites = [site for site in sites if kind.frequency(site) is not None]
    if not sites:
        where = "every site" if args.site is None else f"site {args.site!r}"
        print(f"licmon status: {where}: {_NOT_CHECKED[kind.name]}", file=sys.stderr)
        return EXIT_UNKNOWN
    if args.access:
        from licmon.cli.access_status import run_access_status

        return run_access_status(args, config, sites)
    now = datetime.now(UTC)
    view = read_state(config, lambda client: fleet_view(client, config, sites, now))
    if view is None:
        return EXIT_UNKNOWN
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        print(render_table(view, now))
    return exit_code_of(site["status"] for site in view["sites"])
