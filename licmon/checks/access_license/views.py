"""The access licenses' edges: `licmon check --kind access_license` and `licmon status
--kind access_license` (table, JSON, exit code), and its exporter metric families.

Exit codes, monitoring-plugin style: 0 ok, 1 a watched type is at or below its minimum
(`licmon.accessAlerts`), 3 a site could not be read (check), or was never read, is stale or
failing (status); the most severe wins in the order 1, 3, 0. Under -w/-c (available seats
or tokens, every counted type): 1 at or below -w (instead of the minimums), 2 at or below
-c (access licenses are never critical without it), in the order 2, 1, 3, 0. The forecast
(`exhaustsInDays`) comes from the history the workers keep in Redis (history.py beside
this); `licmon check` without Redis shows it null, with a note on stderr, and goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from licmon.checks.access_license.history import forecasts_of
from licmon.core.access_license import COUNTED_TYPES, AccessStatus, Minimum, low_types
from licmon.core.access_payloads import licenses_document
from licmon.plugin_output import Finding, Perf, at_or_below, summary
from licmon.views import (
    EXIT_CRITICAL,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_WARNING,
    NO_LIMITS,
    Limits,
    Report,
    age_text,
    aligned,
    error_text,
    iso_text,
    stale_at,
    worst,
)

if TYPE_CHECKING:
    import redis
    from prometheus_client.core import Metric

    from licmon.checks.base import StateReader
    from licmon.config.model import MonitorConfig, Site
    from licmon.state.fleet import SiteState

# What a type's "used" and "of" are in the table, for the types without seats.
_USED = {
    "analyzer_capacity": ("used_minutes", "allocated_minutes"),
    "token_login": ("used_tokens", "allocated_tokens"),
    "token_user": ("used_tokens", "allocated_tokens"),
}


def entry(
    status: AccessStatus, minimums: Mapping[str, Minimum], days: dict[str, Any]
) -> dict[str, Any]:
    """`site`, Butler's fields per enabled type, `low`, and the forecast of the counted ones."""
    document = licenses_document(status)
    document["low"] = low_types(status, minimums)
    document["exhaustsInDays"] = {
        name: days.get(name) for name in COUNTED_TYPES if name in status.licenses
    }
    return document


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


# --- the plugin line: per type codes, summary, perfdata ---------------------------------


def counts(each: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    """(type, available, total) of each counted type an entry (or status view) holds."""
    found = []
    for name in COUNTED_TYPES:
        values = each.get(name)
        if not isinstance(values, dict):
            continue
        available = values.get("available", values.get("available_tokens"))
        total = values.get("total", values.get("total_tokens"))
        if isinstance(available, int | float) and isinstance(total, int | float):
            found.append((name, available, total))
    return found


def warning_floor(
    name: str, total: float, minimums: Mapping[str, Minimum], limits: Limits
) -> float | None:
    """The most available that is a warning: -w, else the type's minimum (None: none)."""
    if limits.warning is not None:
        return limits.warning
    minimum = minimums.get(name)
    return None if minimum is None else minimum.floor(total)


def type_code(
    name: str, available: float, total: float, minimums: Mapping[str, Minimum], limits: Limits
) -> int:
    if limits.critical is not None and available <= limits.critical:
        return EXIT_CRITICAL
    floor = warning_floor(name, total, minimums, limits)
    return EXIT_WARNING if floor is not None and available <= floor else EXIT_OK


def site_plugin(
    each: Mapping[str, Any],
    unread: str | None,
    minimums: Mapping[str, Minimum],
    limits: Limits,
) -> tuple[int, Finding, list[Perf]]:
    """A site's exit code, summary part and perfdata (available per counted type, 0 to
    total); `unread`: why its numbers are missing or not current (3 unless a type is low)."""
    site = each["site"]
    found = [
        (name, available, total, type_code(name, available, total, minimums, limits))
        for name, available, total in counts(each)
    ]
    code = worst([code for *_, code in found] + ([EXIT_UNKNOWN] if unread else []))
    perfdata = []
    for name, available, total, _ in found:
        whole = float(available).is_integer()
        floor = warning_floor(name, total, minimums, limits)
        perfdata.append(
            Perf(
                f"{site} {name}",
                available,
                warn=None if floor is None else at_or_below(floor, whole),
                crit=None if limits.critical is None else at_or_below(limits.critical, whole),
                minimum=0,
                maximum=total,
            )
        )
    # Named: the types at the site's level, else the one with the smallest share left.
    shown = [entry for entry in found if entry[3] == code and code != EXIT_OK]
    if not shown and found and not (unread and code == EXIT_UNKNOWN):
        shown = [min(found, key=lambda entry: entry[1] / entry[2] if entry[2] else 0)]
    share = min((available / total for _, available, total, _ in found if total), default=1)
    if shown:
        text = f"{site} " + ", ".join(
            f"{name} {available:g} of {total:g} available" for name, available, total, _ in shown
        )
    else:
        text = f"{site} {unread}" if unread else f"{site} no counted type"
    return code, Finding(code, text[:120], share), perfdata


def plugin_parts(
    rows: list[tuple[Mapping[str, Any], str | None]],
    minimums: Mapping[str, Minimum],
    limits: Limits,
) -> tuple[int, str, tuple[Perf, ...]]:
    """The exit code, summary and perfdata of sites given as (numbers, why unread)."""
    parts = [site_plugin(each, unread, minimums, limits) for each, unread in rows]
    return (
        worst(code for code, _, _ in parts),
        summary([finding for _, finding, _ in parts]),
        tuple(entry for _, _, perfdata in parts for entry in perfdata),
    )


# --- licmon check ------------------------------------------------------------------------


def check_report(
    statuses: list[AccessStatus],
    minimums: Mapping[str, Minimum],
    state: StateReader,
    limits: Limits = NO_LIMITS,
) -> Report:
    names = [status.site for status in statuses]
    days = state(lambda client: forecasts_of(client, names))
    if days is None:
        print("licmon check: no forecast, Redis cannot be read", file=sys.stderr)
        days = {name: dict.fromkeys(COUNTED_TYPES) for name in names}
    entries = [entry(status, minimums, days[status.site]) for status in statuses]
    # Without -w/-c: 1 when a type is low, else 3 when a site is unreadable (as always).
    code, text, perfdata = plugin_parts(
        [(each, f"unreadable: {each['error']}" if "error" in each else None) for each in entries],
        minimums,
        limits,
    )
    return Report(
        document=entries,
        table=render_table(entries),
        exit_code=code,
        summary=text,
        perfdata=perfdata,
    )


# --- licmon status -----------------------------------------------------------------------


def site_view(
    site: Site,
    frequency: str,
    state: SiteState | None,
    forecast: dict[str, Any],
    minimums: Mapping[str, Minimum],
    now: datetime,
) -> dict[str, Any]:
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
        numbers = entry(AccessStatus.from_json(read), minimums, forecast)
        view |= {name: value for name, value in numbers.items() if name != "site"}
    return view


def status_report(
    client: redis.Redis,
    kind: str,
    sites: list[Site],
    minimums: Mapping[str, Minimum],
    now: datetime,
    limits: Limits = NO_LIMITS,
) -> Report:
    from licmon.state.fleet import FleetState

    names = [site.name for site in sites]
    states = FleetState(client).read(kind, names)
    days = forecasts_of(client, names)
    views = [
        site_view(
            site, site.schedule(kind) or "", states[site.name], days[site.name], minimums, now
        )
        for site in sites
    ]
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
            error_text(view),
        )
        for view in views
    ]
    lines.append("\n".join(aligned([header, *rows])))
    # 1 when a type is low (its last numbers), else 3 when a site is not `ok`, as always.
    code, text, perfdata = plugin_parts(
        [(view, None if view["state"] == "ok" else view["state"]) for view in views],
        minimums,
        limits,
    )
    return Report(
        document=views,
        table="\n\n".join(lines),
        exit_code=code,
        summary=text,
        perfdata=perfdata,
    )


# --- the exporter ------------------------------------------------------------------------


def metrics(
    client: redis.Redis, config: MonitorConfig, states: Mapping[str, SiteState | None]
) -> Iterable[Metric]:
    """Each access type's numbers of the last successful access check, Butler's field names
    (`qlik_sense_access_license_available{license_type="professional"}`), and the forecast
    of when `available` reaches zero."""
    from prometheus_client.core import GaugeMetricFamily

    checked = [site for site in config.sites if site.name in states]
    if not checked:
        return []
    forecasts = forecasts_of(client, [site.name for site in checked])
    labels = ["site", "zone", "license_type"]
    families: dict[str, Any] = {}
    exhausts = GaugeMetricFamily(
        "qlik_sense_access_license_exhausts_in_days",
        "Days until `available` reaches zero at the trend of the daily readings",
        labels=labels,
    )
    for site in checked:
        state = states[site.name]
        status = None if state is None else state.success_status
        zone = site.zone or ""
        if not status or status.get("error"):
            continue
        for license_type, values in sorted((status.get("licenses") or {}).items()):
            for name, value in sorted(values.items()):
                if name not in families:
                    families[name] = GaugeMetricFamily(
                        f"qlik_sense_access_license_{name}",
                        f"Butler's {name} of the access type, as last read",
                        labels=labels,
                    )
                families[name].add_metric([site.name, zone, license_type], float(value))
        for license_type, days in forecasts[site.name].items():
            if days is not None:
                exhausts.add_metric([site.name, zone, license_type], days)
    return [*families.values(), exhausts]
