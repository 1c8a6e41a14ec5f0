"""`licmon status --access`: every site's access licenses as the workers last read them,
from Redis alone (no QRS call): the numbers of the last successful access check, what is
low, the forecast, and how the last checks went.

Exit codes follow `licmon check --access`: 1 a type is low (wins), 3 a site was never read,
is stale (no success for two periods of its access schedule), or its last check failed, or
the state cannot be read; 0 otherwise.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from licmon.cli.access_check import EXIT_LOW, EXIT_OK, EXIT_UNKNOWN, entry, render_table
from licmon.cli.common import aligned

if TYPE_CHECKING:
    import argparse

    import redis

    from licmon.config import MonitorConfig, Site
    from licmon.state.fleet import SiteState


def site_view(
    site: Site,
    state: SiteState | None,
    forecast: dict[str, Any],
    config: MonitorConfig,
    now: datetime,
) -> dict[str, Any]:
    from licmon.checks import ACCESS_LICENSE
    from licmon.cli.status import iso_text, stale_at
    from licmon.core.access_license import AccessStatus

    frequency = ACCESS_LICENSE.frequency(site) or ""
    view: dict[str, Any] = {"site": site.name, "zone": site.zone}
    if state is None or state.last_checked is None:
        return view | {"state": "never"}
    stale = state.last_success is not None and (
        (moment := stale_at(frequency, state.last_success)) is not None and now > moment
    )
    failing = state.consecutive_failures > 0 or state.last_success is None
    view |= {
        "state": "stale" if stale else "failing" if failing else "ok",
        "lastChecked": iso_text(state.last_checked),
        "lastSuccess": iso_text(state.last_success),
        "consecutiveFailures": state.consecutive_failures,
        "lastError": None
        if state.error_kind is None
        else {"kind": state.error_kind, "reason": state.error_reason},
    }
    read = state.success_status
    if read:
        numbers = entry(AccessStatus.from_json(read), config, forecast)
        view |= {name: value for name, value in numbers.items() if name != "site"}
    return view


def fleet_view(
    client: redis.Redis, config: MonitorConfig, sites: list[Site], now: datetime
) -> list[dict[str, Any]]:
    from licmon.checks import ACCESS_LICENSE
    from licmon.state.access_history import forecasts_of
    from licmon.state.fleet import FleetState

    names = [site.name for site in sites]
    states = FleetState(client).read(ACCESS_LICENSE.name, names)
    days = forecasts_of(client, names)
    return [site_view(site, states[site.name], days[site.name], config, now) for site in sites]


def render(views: list[dict[str, Any]], now: datetime) -> str:
    from licmon.cli.status import age_text

    numbers = [view for view in views if "low" in view]
    lines = [render_table(numbers)] if numbers else []
    header = ("SITE", "ZONE", "STATE", "CHECKED", "FAILS", "ERROR")
    rows = [
        (
            view["site"],
            view["zone"] or "-",
            view["state"].upper(),
            age_text(view.get("lastChecked"), now),
            str(view.get("consecutiveFailures", 0)),
            "-"
            if not view.get("lastError")
            else f"{view['lastError']['kind']}: {view['lastError']['reason']}",
        )
        for view in views
    ]
    lines.append("\n".join(aligned([header, *rows])))
    return "\n\n".join(lines)


def exit_code(views: list[dict[str, Any]]) -> int:
    if any(view.get("low") for view in views):
        return EXIT_LOW
    if any(view["state"] != "ok" for view in views):
        return EXIT_UNKNOWN
    return EXIT_OK


def run_access_status(args: argparse.Namespace, config: MonitorConfig, sites: list[Site]) -> int:
    """`sites`: those the access licenses' check reads (`licmon.cli.status.run` chose them)."""
    from licmon.cli.status import read_state

    now = datetime.now(UTC)
    views = read_state(config, lambda client: fleet_view(client, config, sites, now))
    if views is None:
        return EXIT_UNKNOWN
    print(json.dumps(views, indent=2) if args.json else render(views, now))
    return exit_code(views)
