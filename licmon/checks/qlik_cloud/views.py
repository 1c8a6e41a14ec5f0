"""A tenant's edges: `licmon check --kind qlik_cloud` and `licmon status --kind qlik_cloud`
(table, JSON, exit code), its exporter families and its digest lines.

Exit codes as the server license's: 0 ok, 1 at or below the highest level or an allotment
at its minimum, 2 past its end or not `Ok`, 3 the tenant could not be read (for status:
never read, or stale).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from licmon.checks.qlik_cloud.status import CloudStatus, days_until
from licmon.core.digest import DigestRow
from licmon.plugin_output import Finding, Perf, summary
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
    check_state,
    days_code,
    days_perf,
    error_text,
    fleet_overview,
    is_stale,
    overview_lines,
    worst,
)

if TYPE_CHECKING:
    import redis
    from prometheus_client.core import Metric

    from licmon.config.model import MonitorConfig, Site
    from licmon.state.fleet import SiteState


def _allotments_text(status: CloudStatus) -> str:
    return ", ".join(
        f"{a.name} {a.available:g}/{a.units:g}" + (" LOW" if a.name in status.low else "")
        for a in status.allotments
    )


def document(status: CloudStatus) -> dict[str, Any]:
    """The JSON `licmon check` prints for a tenant."""
    data = status.to_json()
    data["allotments"] = [
        {key: a[key] for key in ("name", "units", "unitsUsed", "available")}
        for a in data["allotments"]
    ]
    return data


def tenant_code(
    level: str,
    days: int | None,
    highest: int,
    license_ok: bool,
    low: bool,
    limits: Limits,
) -> int:
    """A tenant's exit code: 2 past its end, not `Ok` or at or below -c days; 1 at or below
    -w days (default: the highest level) or an allotment at its minimum; 3 not read."""
    if level not in ("ok", "warning", "expired"):
        return EXIT_UNKNOWN
    # `expired` with days left is a license that is not `Ok`: no -c makes it less.
    ended = level == "expired" and (days is None or days < 0 or not license_ok)
    code = days_code(days, highest, limits, expired=ended)
    return EXIT_WARNING if code == EXIT_OK and low else code


def finding(
    tenant: str, code: int, level: str, days: int | None, license: str | None, error: str | None
) -> Finding:
    if code == EXIT_UNKNOWN:
        text = f"{tenant} {level}" + (f": {error[:60]}" if error else "")
    elif license not in (None, "Ok"):
        text = f"{tenant} license {license}"
    elif days is None:
        text = f"{tenant} no end date"
    elif days < 0:
        text = f"{tenant} ended {-days} days ago"
    else:
        text = f"{tenant} {days} days left"
    return Finding(code, text, float("inf") if days is None else days)


def perf(tenant: str, code: int, days: int | None, highest: int, limits: Limits) -> list[Perf]:
    """Days left per tenant (`U` when it could not be read). Allotments have no perfdata:
    their minimums are per allotment, and a tenant's warning may come from them."""
    if days is None and code != EXIT_UNKNOWN:
        return []
    return [days_perf(tenant, days, highest, limits)]


_SHOWN = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


def shown_level(level: str, code: int) -> str:
    return "EXPIRED" if code == EXIT_CRITICAL and level == "expired" else _SHOWN[code]


def check_report(statuses: list[CloudStatus], limits: Limits = NO_LIMITS) -> Report:
    header = ("TENANT", "STATUS", "DAYS LEFT", "ENDS", "LICENSE", "PRODUCT", "DETAIL")
    codes = [
        tenant_code(
            s.status,
            s.daysUntilExpiry,
            s.highestLevel,
            s.licenseStatus == "Ok",
            bool(s.low),
            limits,
        )
        for s in statuses
    ]
    rows = [
        (
            s.tenant,
            shown_level(s.status, code) if s.status != "unknown" else s.status.upper(),
            "-" if s.daysUntilExpiry is None else str(s.daysUntilExpiry),
            s.expiryDate or ("never" if s.error is None else "-"),
            (s.licenseStatus or "-") + (" (trial)" if s.trial else ""),
            s.product or "-",
            s.error or _allotments_text(s) or "-",
        )
        for s, code in zip(statuses, codes, strict=True)
    ]
    return Report(
        document=[document(status) for status in statuses],
        table="\n".join(aligned([header, *rows])),
        exit_code=worst(codes),
        summary=summary(
            [
                finding(s.tenant, code, s.status, s.daysUntilExpiry, s.licenseStatus, s.error)
                for s, code in zip(statuses, codes, strict=True)
            ],
            noun="tenants",
        ),
        perfdata=tuple(
            entry
            for s, code in zip(statuses, codes, strict=True)
            for entry in perf(s.tenant, code, s.daysUntilExpiry, s.highestLevel, limits)
        ),
    )


def last_read(state: SiteState | None) -> CloudStatus | None:
    status = None if state is None else state.success_status
    if not status or status.get("error"):
        return None
    try:
        return CloudStatus.from_json(status)
    except (KeyError, TypeError, ValueError):
        return None


def status_report(
    client: redis.Redis,
    config: MonitorConfig,
    kind: str,
    sites: list[Site],
    now: datetime,
    highest: int = 0,
    limits: Limits = NO_LIMITS,
) -> Report:
    from licmon.state.fleet import FleetState

    overview = fleet_overview(client, config)
    states = FleetState(client).read(kind, [site.name for site in sites])
    views = []
    for site in sites:
        state = states[site.name]
        read = last_read(state)
        if state is None or state.last_checked is None:
            level = "never"
        elif is_stale(site.schedule(kind) or "", state, now):
            level = "stale"
        else:
            level = str((state.status or {}).get("status") or "unknown")
        days = None
        if read is not None and read.expiresAt is not None:
            days = days_until(datetime.fromisoformat(read.expiresAt.replace("Z", "+00:00")), now)
        views.append(
            {
                "tenant": site.name,
                "zone": site.zone,
                "status": level,
                "daysUntilExpiry": days,
                "expiryDate": None if read is None else read.expiryDate,
                "licenseStatus": None if read is None else read.licenseStatus,
                "allotments": [] if read is None else document(read)["allotments"],
                "low": [] if read is None else list(read.low),
                **check_state(state),
            }
        )
    header = ("TENANT", "ZONE", "STATUS", "DAYS LEFT", "ENDS", "CHECKED", "FAILS", "ERROR")
    rows = [
        (
            view["tenant"],
            view["zone"] or "-",
            view["status"].upper(),
            "-" if view["daysUntilExpiry"] is None else str(view["daysUntilExpiry"]),
            view["expiryDate"] or "-",
            age_text(view["lastChecked"], now),
            str(view["consecutiveFailures"]),
            error_text(view),
        )
        for view in views
    ]
    result = {"tenants": views, "beat": overview["beat"], "queues": overview["queues"]}
    codes = [
        tenant_code(
            view["status"],
            view["daysUntilExpiry"],
            highest,
            view["licenseStatus"] == "Ok",
            bool(view["low"]),
            limits,
        )
        for view in views
    ]
    return Report(
        document=result,
        table="\n".join(aligned([header, *rows]) + overview_lines(result)),
        exit_code=worst(codes),
        summary=summary(
            [
                finding(
                    view["tenant"],
                    code,
                    view["status"],
                    view["daysUntilExpiry"],
                    view["licenseStatus"],
                    (view["lastError"] or {}).get("reason"),
                )
                for view, code in zip(views, codes, strict=True)
            ],
            noun="tenants",
        ),
        perfdata=tuple(
            entry
            for view, code in zip(views, codes, strict=True)
            for entry in perf(view["tenant"], code, view["daysUntilExpiry"], highest, limits)
        ),
    )


def metrics(
    config: MonitorConfig, states: Mapping[str, SiteState | None], now: datetime
) -> Iterable[Metric]:
    from prometheus_client.core import GaugeMetricFamily

    labels = ["tenant", "zone"]
    ends = GaugeMetricFamily(
        "qlik_cloud_license_expiry_timestamp_seconds",
        "When the tenant's subscription ends (Unix time), as its last successful check read it",
        labels=labels,
    )
    days = GaugeMetricFamily(
        "qlik_cloud_license_days_until_expiry",
        "UTC calendar days from today to the subscription's end; negative after",
        labels=labels,
    )
    usable = GaugeMetricFamily(
        "qlik_cloud_license_ok", "1 while the license's status is Ok", labels=labels
    )
    available = GaugeMetricFamily(
        "qlik_cloud_allotment_available",
        "Units of the allotment not used (units - unitsUsed)",
        labels=[*labels, "allotment"],
    )
    units = GaugeMetricFamily(
        "qlik_cloud_allotment_units", "Units of the allotment", labels=[*labels, "allotment"]
    )
    for site in config.sites:
        read = last_read(states.get(site.name)) if site.name in states else None
        if read is None:
            continue
        values = [site.name, site.zone or ""]
        usable.add_metric(values, int(read.licenseStatus == "Ok"))
        if read.expiresAt is not None:
            end = datetime.fromisoformat(read.expiresAt.replace("Z", "+00:00"))
            ends.add_metric(values, end.timestamp())
            days.add_metric(values, days_until(end, now))
        for allotment in read.allotments:
            available.add_metric([*values, allotment.name], allotment.available)
            units.add_metric([*values, allotment.name], allotment.units)
    return (ends, days, usable, available, units)


def digest_rows(
    config: MonitorConfig, states: Mapping[str, SiteState | None], highest: int, today: date
) -> list[DigestRow]:
    """A tenant past its end or not Ok, at or below the highest level, or with an allotment
    low, as its last successful check read it."""
    moment = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    rows = []
    for site in config.sites:
        read = last_read(states.get(site.name)) if site.name in states else None
        if read is None:
            continue
        entry = {"tenant": site.name, "expiryDate": read.expiryDate, "low": list(read.low)}
        left = None
        if read.expiresAt is not None:
            left = days_until(datetime.fromisoformat(read.expiresAt.replace("Z", "+00:00")), moment)
        where = f"{site.name} (Qlik Cloud)"
        if read.licenseStatus != "Ok":
            rows.append(DigestRow(-1, site.name, f"{where}: license {read.licenseStatus}", entry))
        elif left is not None and left < 0:
            rows.append(DigestRow(left, site.name, f"{where}: ended on {read.expiryDate}", entry))
        elif left is not None and left <= highest:
            text = f"{where}: {left} days left, until {read.expiryDate}"
            rows.append(DigestRow(left, site.name, text, entry))
        for name in read.low:
            rows.append(DigestRow(highest, site.name, f"{where}: {name} allotment low", entry))
    return rows
